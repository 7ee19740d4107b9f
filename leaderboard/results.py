"""The results table of a suite: dataset x base model x seed x benchmark x metric, per-example scores kept,
with the provenance of every number. Loaded from a run directory or a self-contained `leaderboard.json`.

Inputs accepted by `load_results`:
  * a suite run directory `runs/<suite>/` (with the runner's `results.json`; each record's `judge_step` leads to
    the step directories: annotations, manifests, the length-control table, training recipe, base model),
  * `runs/` holding exactly one suite, or the runner's `results.json` file itself (read beside its steps),
  * a `leaderboard.json` written by sftbench (schema `sftbench.leaderboard`): it embeds this table.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

SCHEMA = "sftbench.leaderboard"
BENCHMARK = "alpaca_eval"
METRICS = ("win_rate", "lc_win_rate")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint_sha(obj: Any) -> str:
    return sha256_text(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str))[:12]


@dataclass
class Run:
    """One (dataset, base model, seed) judged on one benchmark, with its per-example scores."""
    dataset: str
    seed: int
    base_model: str
    benchmark: str
    metrics: dict[str, float]     # win_rate, lc_win_rate (percent), avg_output_chars, n_prompts, n_failed
    preference: np.ndarray        # per prompt, eval order: P(model beats baseline) in [0, 1], ties 0.5
    delta_len: np.ndarray         # len(baseline output) - len(model output), characters
    eval_sha256: str              # hash of the eval instructions, in order: runs pair only on the same set
    anchor: str | None            # key of the length-control table (df_gamed) in ResultsTable.anchors
    glm: str = "length_controlled_v1"
    info: dict[str, Any] = field(default_factory=dict)        # builder, size, train_resp_words
    provenance: dict[str, Any] = field(default_factory=dict)  # card, recipe, base model, judge, baseline, steps

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "seed": self.seed, "base_model": self.base_model,
                "benchmark": self.benchmark, "metrics": self.metrics, "info": self.info,
                "provenance": self.provenance, "eval_sha256": self.eval_sha256, "anchor": self.anchor,
                "glm": self.glm, "examples": {"preference": [round(float(x), 10) for x in self.preference],
                                              "delta_len": [float(x) for x in self.delta_len]}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Run":
        ex = d["examples"]
        return cls(d["dataset"], int(d["seed"]), d["base_model"], d["benchmark"], d["metrics"],
                   np.asarray(ex["preference"], float), np.asarray(ex["delta_len"], float), d["eval_sha256"],
                   d.get("anchor"), d.get("glm", "length_controlled_v1"), d.get("info", {}), d.get("provenance", {}))


@dataclass
class ResultsTable:
    suite: str
    runs: list[Run]
    anchors: dict[str, pd.DataFrame] = field(default_factory=dict)  # sha -> df_gamed
    noise_floor: dict[str, Any] | None = None                        # summary of the judge re-judging step
    source: str = ""

    def datasets(self) -> list[str]:
        return list(dict.fromkeys(r.dataset for r in self.runs))

    def groups(self) -> Iterator[tuple[tuple[str, str], list[Run]]]:
        """Runs per (base model, benchmark): one leaderboard table each."""
        keys = list(dict.fromkeys((r.base_model, r.benchmark) for r in self.runs))
        for key in keys:
            yield key, [r for r in self.runs if (r.base_model, r.benchmark) == key]

    def to_frame(self) -> pd.DataFrame:
        """The long results table: one row per dataset x base model x seed x benchmark x metric."""
        rows = [{"dataset": r.dataset, "base_model": r.base_model, "seed": r.seed, "benchmark": r.benchmark,
                 "metric": m, "value": v, "card_sha256": r.provenance.get("card_sha256"),
                 "judge": r.provenance.get("judge_sha"), "baseline": r.provenance.get("baseline")}
                for r in self.runs for m, v in r.metrics.items()]
        return pd.DataFrame(rows)

    def to_json(self) -> dict[str, Any]:
        return {"suite": self.suite, "runs": [r.to_json() for r in self.runs], "noise_floor": self.noise_floor,
                "anchors": {k: v.to_dict(orient="list") for k, v in self.anchors.items()}}

    @classmethod
    def from_json(cls, d: dict[str, Any], source: str = "") -> "ResultsTable":
        return cls(d["suite"], [Run.from_json(r) for r in d["runs"]],
                   {k: pd.DataFrame(v) for k, v in d.get("anchors", {}).items()}, d.get("noise_floor"), source)


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def _step_by_hash(root: Path, digest: str | None) -> Path | None:
    if not digest:
        return None
    hits = [p for p in root.glob(f"*-{digest}") if (p / "manifest.json").is_file()]
    return hits[0] if hits else None


def _manifest(step: Path | None) -> dict[str, Any]:
    return _read(step / "manifest.json") if step is not None and (step / "manifest.json").is_file() else {}


def _load_run(root: Path, rec: dict[str, Any], anchors: dict[str, pd.DataFrame]) -> Run:
    judge_dir = root / rec["judge_step"]
    ann_path = judge_dir / "annotations.json"
    if not ann_path.is_file():
        raise FileNotFoundError(f"{ann_path}: missing; results.json names judge step {rec['judge_step']!r} but it "
                                "is not in the run directory (re-run `sftbench run` to restore it)")
    ann = pd.read_json(ann_path, orient="records")
    man = _manifest(judge_dir)
    pref = ann["preference"].astype(float).replace({0.0: 1.5}).fillna(1.5).to_numpy() - 1.0
    delta = (ann["output_1"].fillna("").str.len() - ann["output_2"].fillna("").str.len()).to_numpy(float)
    judge_fp = man.get("judge_fingerprint") or man.get("config", {}).get("judge", {})
    inputs = man.get("inputs", {})  # the length-control anchor: the world's lctable step or the eval data step
    lc_dir = _step_by_hash(root, inputs.get("lctable") or inputs.get("eval_data"))
    anchor = None
    if lc_dir is not None and (lc_dir / "df_gamed.csv").is_file():
        text = (lc_dir / "df_gamed.csv").read_text()
        anchor = sha256_text(text)[:12]
        anchors.setdefault(anchor, pd.read_csv(lc_dir / "df_gamed.csv"))
    gen_dir = _step_by_hash(root, man.get("inputs", {}).get("outputs"))
    train_dir = _step_by_hash(root, _manifest(gen_dir).get("inputs", {}).get("model"))
    train = _manifest(train_dir)
    base_dir = _step_by_hash(root, train.get("inputs", {}).get("base"))
    base = _manifest(base_dir)
    base_model = f"{base['name']}@{base['hash']}" if base else "unknown"
    recipe = train.get("config", {}).get("recipe")
    failed = ann["failed"].astype(bool) if "failed" in ann else pd.Series(False, index=ann.index)
    metrics = {"win_rate": float(pref.mean() * 100), "lc_win_rate": float(rec["length_controlled_winrate"]),
               "avg_output_chars": float(ann["output_2"].fillna("").str.len().mean()),
               "n_prompts": float(len(ann)), "n_failed": float(failed.sum())}
    provenance = {"card_sha256": rec.get("card_sha256"), "builder": rec.get("builder"),
                  "recipe": recipe,  # recipe_sha leaves the seed out: the same recipe for every seed
                  "recipe_sha": fingerprint_sha({k: v for k, v in recipe.items() if k != "seed"}) if recipe else None,
                  "template": train.get("config", {}).get("template"),
                  "base_model": {"name": base.get("name"), "step": base_dir.name if base_dir else None,
                                 "revision": base.get("config", {}).get("revision", base.get("hash"))},
                  "judge": judge_fp, "judge_sha": fingerprint_sha(judge_fp),
                  "baseline": rec.get("baseline") or ann["generator_1"].iloc[0],
                  "steps": {"judge": judge_dir.name, "generate": gen_dir.name if gen_dir else None,
                            "train": train_dir.name if train_dir else None,
                            "lctable": lc_dir.name if lc_dir else None},
                  "git_revision": man.get("git_revision")}
    info = {"builder": rec.get("builder"), "size": rec.get("size"), "train_resp_words": rec.get("train_mean_words")}
    for extra in ("openllm", "mt_bench", "wildbench"):  # other benchmarks' headline numbers, per seed
        if rec.get(extra):
            info[extra] = rec[extra]
    return Run(rec["dataset"], int(rec["seed"]), base_model, rec.get("benchmark", BENCHMARK), metrics, pref, delta,
               sha256_text("\n".join(ann["instruction"].astype(str))), anchor,
               man.get("config", {}).get("glm", "length_controlled_v1"), info, provenance)


def _noise_floor(root: Path, judge_steps: set[str]) -> dict[str, Any] | None:
    """The newest noise-floor step whose re-judged annotations all come from this table's judge steps."""
    found = []
    for path in root.glob("noisefloor-*/noise_floor.json"):
        doc = _read(path)
        if doc.get("judge_steps") and set(doc["judge_steps"]) <= judge_steps:
            found.append((_manifest(path.parent).get("finished_at", ""), path.parent.name, doc))
    if not found:
        return None
    _, step, doc = max(found, key=lambda t: t[:2])
    return {**{k: v for k, v in doc.items() if k != "examples"}, "step": step}


def load_suite_dir(root: Path) -> ResultsTable:
    root = Path(root)
    records = _read(root / "results.json")
    anchors: dict[str, pd.DataFrame] = {}
    runs = [_load_run(root, rec, anchors) for rec in records]
    resolved = root / "suite.resolved.yaml"
    suite = root.name
    if resolved.is_file():
        import yaml
        suite = (yaml.safe_load(resolved.read_text()) or {}).get("name", suite)
    return ResultsTable(suite, runs, anchors, _noise_floor(root, {r["judge_step"] for r in records}), str(root))


def load_results(path: str | Path) -> ResultsTable:
    """A results table from a suite run directory, `runs/` with one suite, results.json, or leaderboard.json."""
    path = Path(path)
    if path.is_dir():
        if (path / "results.json").is_file():
            return load_suite_dir(path)
        suites = sorted(p.parent for p in path.glob("*/results.json"))
        if len(suites) == 1:
            return load_suite_dir(suites[0])
        if (path / "sftbench.leaderboard.json").is_file():
            return load_results(path / "sftbench.leaderboard.json")
        hint = f"it holds several suites: {[p.name for p in suites]}; name one" if suites else \
            "no results.json found (finish `sftbench run` first)"
        raise FileNotFoundError(f"{path}: not a suite run directory; {hint}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such results directory or file")
    doc = _read(path)
    if isinstance(doc, list):
        return load_suite_dir(path.parent)
    if isinstance(doc, dict) and doc.get("schema") == SCHEMA and "results" in doc:
        return ResultsTable.from_json(doc["results"], source=str(path))
    raise ValueError(f"{path}: neither the runner's results.json (a list of records) nor an sftbench "
                     f"leaderboard.json (schema {SCHEMA!r} with embedded results)")


def mean_openllm(per_seed: list[dict[str, Any] | None]) -> dict[str, dict[str, float | None]]:
    """lm-eval headline scores averaged over seeds, in percent: {task: {value, se}}. With one seed the SE is
    lm-eval's; with several it is the spread of the seeds' values (their SE)."""
    tasks = sorted({t for d in per_seed if d for t in d})
    out: dict[str, dict[str, float | None]] = {}
    for task in tasks:
        vals = [d[task] for d in per_seed if d and task in d and d[task].get("value") is not None]
        if not vals:
            continue
        values = np.array([v["value"] for v in vals], float) * 100
        if len(values) > 1:
            se = float(values.std(ddof=1) / np.sqrt(len(values)))
        else:
            se = None if vals[0].get("stderr") is None else float(vals[0]["stderr"]) * 100
        out[task] = {"value": float(values.mean()), "se": se, "metric": vals[0].get("metric")}
    return out


def mean_mt_bench(per_seed: list[dict[str, Any] | None]) -> dict[str, float | None] | None:
    """MT-Bench overall score (1-10) averaged over seeds; SE over seeds when there are several."""
    values = np.array([d["score"] for d in per_seed if d and d.get("score") is not None], float)
    if not len(values):
        return None
    se = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None
    return {"value": float(values.mean()), "se": se,
            "n_unparsed": int(sum(d.get("n_unparsed") or 0 for d in per_seed if d))}


def mean_wildbench(per_seed: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """WildBench WB-Score (the published task-macro scale) and, when references were judged, the WB-Reward
    mixture, each averaged over seeds with the SE over seeds when there are several. A seed whose every item went
    unparsed has no score; its unparsed count still shows."""
    seeds = [d for d in per_seed if d]
    if not seeds:
        return None

    def mean_se(key: str) -> tuple[float | None, float | None]:
        values = np.array([d[key] for d in seeds if d.get(key) is not None], float)
        if not len(values):
            return None, None
        return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None

    value, se = mean_se("WB_score")
    out: dict[str, Any] = {"value": value, "se": se, "n_unparsed": int(sum(d.get("n_unparsed") or 0 for d in seeds)),
                           "n": int(sum(d.get("n") or 0 for d in seeds))}
    if any("WB_reward" in d for d in seeds):
        reward, reward_se = mean_se("WB_reward")
        out.update({"reward": reward, "reward_se": reward_se,
                    "reward_n_unparsed": int(sum(d.get("reward_n_unparsed") or 0 for d in seeds))})
    return out
