"""lm-eval's results -> sftbench's: metrics with standard errors per suite column, MMLU's equal-weight subject
average, the average over columns, a flat leaderboard table, and per-sample logs for the statistics.

Values are fractions in [0, 1], as lm-eval reports them. A metric is named as lm-eval names it, without the
`none` filter: `acc`, `acc_norm`, `exact_match,strict-match`, `exact_match,flexible-extract`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

from sftbench.suites.evaluations.openllm.data import PreparedTask

Metric = dict[str, float | int | None]   # {"value", "stderr", "n"}


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def entry_metrics(entry: Mapping[str, Any], n: int | None) -> dict[str, Metric]:
    """{"acc": {"value", "stderr", "n"}, ...} from one lm-eval results entry ("acc,none", "acc_stderr,none")."""
    metrics: dict[str, Metric] = {}
    for key, value in entry.items():
        if "," not in key or "_stderr," in key:
            continue
        name, filt = key.split(",", 1)
        label = name if filt == "none" else f"{name},{filt}"
        metrics[label] = {"value": _number(value), "stderr": _number(entry.get(f"{name}_stderr,{filt}")), "n": n}
    return metrics


def mean_metric(parts: Iterable[Metric]) -> Metric:
    """The equal-weight mean of independent estimates; stderr = sqrt(sum se^2) / k; n = total samples."""
    parts = list(parts)
    values = [p["value"] for p in parts]
    if not parts or any(v is None for v in values):
        return {"value": None, "stderr": None, "n": None}
    errors = [p["stderr"] for p in parts]
    stderr = math.sqrt(sum(e * e for e in errors)) / len(parts) if all(e is not None for e in errors) else None
    counts = [p["n"] for p in parts]
    return {"value": sum(values) / len(parts), "stderr": stderr,
            "n": sum(counts) if all(c is not None for c in counts) else None}


def _n_samples(raw: Mapping[str, Any], task: str) -> int | None:
    info = raw.get("n-samples", {}).get(task)
    if info:
        return int(info.get("effective", info.get("original")))
    subtasks = raw.get("group_subtasks", {}).get(task)
    if subtasks:
        counts = [_n_samples(raw, t) for t in subtasks]
        return sum(counts) if all(c is not None for c in counts) else None
    return None


def _entry(raw: Mapping[str, Any], task: str) -> Mapping[str, Any]:
    entry = raw.get("results", {}).get(task) or raw.get("groups", {}).get(task)
    if entry is None:
        raise KeyError(f"lm-eval returned no results for task '{task}'")
    return entry


def column_result(item: PreparedTask, raw: Mapping[str, Any]) -> dict[str, Any]:
    """One suite column: its metrics (MMLU: the subject mean, with the subjects kept), shots and data."""
    out: dict[str, Any] = {"lm_eval_tasks": item.lm_tasks, "num_fewshot": _shots(item, raw), "data": item.data}
    if item.subjects:
        subjects = {subject: entry_metrics(_entry(raw, t), _n_samples(raw, t)) for t, subject in item.subjects.items()}
        names = sorted(set.intersection(*(set(m) for m in subjects.values())))
        out["metrics"] = {name: mean_metric(m[name] for m in subjects.values()) for name in names}
        out["subjects"] = subjects
        out["averaging"] = "equal-weight mean over subjects (Open LLM Leaderboard v1)"
    else:
        task = item.lm_tasks[0]
        out["metrics"] = entry_metrics(_entry(raw, task), _n_samples(raw, task))
    if not out["metrics"]:
        raise KeyError(f"lm-eval reported no metrics for openllm task '{item.spec.name}'")
    primary = item.primary or next(iter(out["metrics"]))
    if primary not in out["metrics"]:
        raise KeyError(f"openllm task '{item.spec.name}': primary metric '{primary}' not among the reported "
                       f"{sorted(out['metrics'])}")
    out["primary"] = primary
    return out


def _shots(item: PreparedTask, raw: Mapping[str, Any]) -> int | None:
    shots = {raw.get("n-shot", {}).get(t) for t in item.lm_tasks} - {None}
    return shots.pop() if len(shots) == 1 else item.num_fewshot


def average(columns: Mapping[str, Mapping[str, Any]]) -> Metric | None:
    """The Open LLM Leaderboard average: equal-weight mean of each column's primary metric."""
    if not columns:
        return None
    return mean_metric(c["metrics"][c["primary"]] for c in columns.values())


def flat_table(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Leaderboard-ready rows: task, metric, value, stderr, n, primary; plus the `average` row."""
    rows = []
    for task, column in result["tasks"].items():
        for metric, m in column["metrics"].items():
            rows.append({"task": task, "metric": metric, "value": m["value"], "stderr": m["stderr"], "n": m["n"],
                         "primary": metric == column["primary"]})
    if result.get("average") and len(result["tasks"]) > 1:
        m = result["average"]
        rows.append({"task": "average", "metric": "mean_primary", "value": m["value"], "stderr": m["stderr"],
                     "n": m["n"], "primary": True})
    return rows


def write_samples(samples: Mapping[str, list[dict]], columns: Mapping[str, str], out_dir: Path) -> dict[str, str]:
    """Per-sample logs, one JSONL per lm-eval task (prompts dropped: the task YAMLs rebuild them)."""
    from lm_eval.utils import handle_non_serializable

    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for task, rows in samples.items():
        path = out_dir / f"{task}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                record = {"column": columns.get(task, task), "task": task,
                          **{k: v for k, v in row.items() if k != "arguments"}}
                fh.write(json.dumps(record, default=handle_non_serializable, ensure_ascii=False) + "\n")
        written[task] = str(path.relative_to(out_dir.parent))
    return written


def sample_scores(out_dir: Path, column: Mapping[str, Any], metric: str | None = None) -> dict[str, list]:
    """Per-example scores of one column's metric (default: its primary) from the per-sample logs in `out_dir`,
    for paired statistics: `keys` ("<lm-eval task>/<doc_id>", stable across checkpoints), `scores`, and
    `weights` (summing to 1; MMLU's subjects weigh equally) such that sum(weights * scores) = the column value."""
    metric = metric or column["primary"]
    name, _, filt = metric.partition(",")
    filt = filt or "none"
    keys: list[str] = []
    scores: list[float] = []
    weights: list[float] = []
    tasks = column["lm_eval_tasks"]
    for task in tasks:
        path = Path(out_dir) / "samples" / f"{task}.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows = sorted((r for r in rows if r.get("filter", "none") == filt), key=lambda r: r["doc_id"])
        if not rows:
            raise KeyError(f"{path}: no samples for metric '{metric}'")
        keys += [f"{task}/{r['doc_id']}" for r in rows]
        scores += [float(r[name]) for r in rows]
        weights += [1.0 / (len(tasks) * len(rows))] * len(rows)
    return {"keys": keys, "scores": scores, "weights": weights}
