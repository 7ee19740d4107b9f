"""OpenLLM (lm-evaluation-harness) as an evaluation plugin: the Open LLM Leaderboard v1 preset, the world's
multiple-choice task, or any lm-eval task, on every checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sftbench.common.hashing import hash_obj
from sftbench.common.jsonio import read_json
from sftbench.suites.engine.step import Step
from sftbench.suites.engine.store import StepKey, Store
from sftbench.suites.evaluations.openllm.catalog import OpenLLMConfig
from sftbench.suites.evaluations.openllm.results import sample_scores
from sftbench.suites.evaluations.openllm.run import RESULTS_FILE
from sftbench.suites.evaluations.protocol import Checkpoint, Column, Evaluated, Evaluation


class OpenLLM(Evaluation):
    name = "openllm"
    spec = OpenLLMConfig
    order = 10
    unit = "item"
    kinds = ("openllm",)

    def default(self) -> None:
        return None  # off unless the suite names a preset or tasks

    def add_checkpoint(self, b: Any, spec: OpenLLMConfig, shared: Any, ckpt: Checkpoint) -> StepKey:
        return b.add("openllm", ckpt.run_name, {**spec.model_dump(mode="json"), "version": 1},
                     {"model": ckpt.train.hash}, f"OpenLLM tasks ({ckpt.run_name})", ckpt.seed,
                     deps={"model": ckpt.train})

    def result(self, store: Store, step: Step, spec: OpenLLMConfig) -> Evaluated:
        """Each task's primary metric in percent, the average last. Per item from lm-eval's sample logs, so that
        comparisons pair on items (the sign-flip test over binary items is McNemar's exact test); a task whose
        items weigh unequally (MMLU's subjects weigh equally) gets its scores times weight x items, so the plain
        mean over its items is lm-eval's number. Without sample logs: the run's numbers, with lm-eval's stderr."""
        out = store.path(step.key)
        doc = read_json(out / RESULTS_FILE)
        rows = [r for r in doc["table"] if r.get("primary") or r["task"] == "average"]
        rows = [r for r in rows if r["task"] != "average"] + [r for r in rows if r["task"] == "average"]
        headline: dict[str, float | None] = {}
        for r in rows:
            value, se = r.get("value"), r.get("stderr")
            headline[r["task"]] = None if value is None else float(value) * 100
            headline[f"{r['task']}_se"] = None if se is None else float(se) * 100
        units, scores = _item_scores(out, doc["tasks"])
        columns = [Column(r["task"], f"OpenLLM {r['task']} %", "mean" if units else "summary", score=r["task"],
                          scale=100.0 if units else 1.0, lower=0.0 if units else None,
                          upper=100.0 if units else None, primary=r["task"] == "average") for r in rows]
        settings = doc.get("settings", {})
        fingerprint = {"harness": "lm-eval", "version": settings.get("lm_eval_version"),
                       "tasks": hash_obj({k: v for k, v in step.config.items() if k not in ("batch_size", "device")}),
                       "chat_template": settings.get("chat_template")}
        return Evaluated(benchmark=self.name, title="OpenLLM (lm-eval)", fingerprint=fingerprint, unit=self.unit,
                         units=units, scores=scores, headline=headline, columns=columns,
                         info={"metrics": {r["task"]: r.get("metric") for r in rows}},
                         steps={"openllm": step.key.dirname})

    def preflight(self, suite: Any, spec: OpenLLMConfig, pending: set[str]) -> None:
        if "openllm" in pending:
            from sftbench.suites.evaluations.openllm.run import check_backend
            check_backend(spec.backend)


def _item_scores(out: Path, tasks: dict[str, Any]) -> tuple[list[str], dict[str, list[float | None]]]:
    """(units, scores per column): every column's items, each scaled by weight x items so that the plain mean over
    a column's items (None elsewhere) is its value; `average` over all items, each column weighing equally."""
    per = {}
    for name, column in tasks.items():
        try:
            per[name] = sample_scores(out, column)
        except (OSError, KeyError, ValueError, TypeError):
            return [], {}  # no per-sample logs (an older step), or no per-item number (bleu): summary columns
        value = (column.get("metrics") or {}).get(column.get("primary"), {}).get("value")
        mean = sum(s * w for s, w in zip(per[name]["scores"], per[name]["weights"]))
        if value is not None and abs(mean - float(value)) > 1e-6 + 1e-4 * abs(float(value)):
            return [], {}  # a corpus-level metric (f1, mcc, perplexity): its items do not average to it
    units = [key for p in per.values() for key in p["keys"]]
    if len(set(units)) != len(units):
        return [], {}
    scores: dict[str, list[float | None]] = {}
    offset = 0
    for name, p in per.items():
        n = len(p["keys"])
        column: list[float | None] = [None] * len(units)
        column[offset:offset + n] = [s * w * n for s, w in zip(p["scores"], p["weights"])]
        scores[name] = column
        offset += n
    if len(per) > 1:
        scores["average"] = [s * w * len(units) / len(per) for p in per.values()
                             for s, w in zip(p["scores"], p["weights"])]
    return units, scores
