"""OpenLLM (lm-evaluation-harness) as an evaluation plugin: the Open LLM Leaderboard v1 preset, the world's
multiple-choice task, or any lm-eval task, on every checkpoint."""

from __future__ import annotations

from typing import Any

from sftbench.common.hashing import hash_obj
from sftbench.common.jsonio import read_json
from sftbench.suites.engine.step import Step
from sftbench.suites.engine.store import StepKey, Store
from sftbench.suites.evaluations.openllm.catalog import OpenLLMConfig
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
        """Each task's primary metric in percent (lm-eval's stderr as its SE), the average last."""
        doc = read_json(store.path(step.key) / "openllm_results.json")
        rows = [r for r in doc["table"] if r.get("primary") or r["task"] == "average"]
        rows = [r for r in rows if r["task"] != "average"] + [r for r in rows if r["task"] == "average"]
        headline: dict[str, float | None] = {}
        columns = []
        for r in rows:
            value, se = r.get("value"), r.get("stderr")
            headline[r["task"]] = None if value is None else float(value) * 100
            headline[f"{r['task']}_se"] = None if se is None else float(se) * 100
            columns.append(Column(r["task"], f"OpenLLM {r['task']} %", "summary", primary=r["task"] == "average"))
        settings = doc.get("settings", {})
        fingerprint = {"harness": "lm-eval", "version": settings.get("lm_eval_version"),
                       "tasks": hash_obj({k: v for k, v in step.config.items() if k not in ("batch_size", "device")}),
                       "chat_template": settings.get("chat_template")}
        return Evaluated(benchmark=self.name, title="OpenLLM (lm-eval)", fingerprint=fingerprint, unit=self.unit,
                         units=[], scores={}, headline=headline, columns=columns,
                         info={"metrics": {r["task"]: r.get("metric") for r in rows}},
                         steps={"openllm": step.key.dirname})

    def preflight(self, suite: Any, spec: OpenLLMConfig, pending: set[str]) -> None:
        if "openllm" in pending:
            from sftbench.suites.evaluations.openllm.run import check_backend
            check_backend(spec.backend)
