"""WildBench v2 as an evaluation plugin: real-user tasks graded with their checklists by the suite's LLM judge
(WB-Score) and, per reference model given, compared pairwise (WB-Reward)."""

from __future__ import annotations

import json
from typing import Any

from sftbench.suites.engine.step import Step
from sftbench.suites.engine.store import StepKey, Store
from sftbench.suites.evaluations.protocol import Checkpoint, Column, Evaluated, Evaluation, Problem
from sftbench.suites.evaluations.wildbench.spec import WildBenchSpec
from sftbench.suites.evaluations.wildbench.steps import headline, input_identity

WILDBENCH_TASKS = 1024
SCORE = Column("WB_score", "WB-Score", "summary", primary=True, flag="n_unparsed")
REWARD = Column("WB_reward", "WB-Reward (mix)", "summary", flag="reward_n_unparsed")


class WildBench(Evaluation):
    name = "wildbench"
    spec = WildBenchSpec
    order = 30
    unit = "task"
    kinds = ("wbanswers", "wbjudge")

    def check(self, suite: Any, spec: WildBenchSpec) -> list[Problem]:
        if spec.enabled and suite.roles.judge.provider == "world":
            return [(("evaluation", "wildbench", "enabled"),
                     "evaluation.wildbench needs an LLM judge: set roles.judge to an LLM provider")]
        return []

    def prepare(self, b: Any, spec: WildBenchSpec) -> dict[str, Any]:
        """What WildBench's local files (or pinned hub revisions) contribute to step hashes; computed once."""
        return {"tasks": input_identity(spec.tasks_path, "tasks_path"),
                "templates": "pinned" if spec.templates_dir is None else
                input_identity(spec.templates_dir, "templates_dir"),
                "references": {n: input_identity(p, f"references.{n}") for n, p in spec.references.items()}}

    def add_checkpoint(self, b: Any, spec: WildBenchSpec, ids: dict[str, Any], ckpt: Checkpoint) -> StepKey:
        """The checkpoint's WildBench answers, then the judge's scores and rewards (the key returned)."""
        gen, run = b.suite.generation, ckpt.run_name
        answers_cfg = spec.model_dump(mode="json", include={"tasks_path", "max_tasks", "max_new_tokens", "batch_size"})
        answers = b.add("wbanswers", run, {**answers_cfg, "version": 1, **gen.backend_param()},
                        {"model": ckpt.train.hash, "tasks": ids["tasks"]}, f"WildBench answers ({run})", ckpt.seed,
                        deps={"model": ckpt.train}, args={"backend": gen.backend})
        return b.add("wbjudge", run, {"judge": b.role_ids["judge"], "K": spec.K, "version": 1,
                                      **spec.model_dump(mode="json", include={"templates_dir", "references"})},
                     {"answers": answers.hash, "templates": ids["templates"], "references": ids["references"]},
                     f"WildBench judging ({run})", ckpt.seed, deps={"answers": answers}, args={"roles": b.roles_args})

    def result(self, store: Store, step: Step, spec: WildBenchSpec) -> Evaluated:
        """WB-Score (the published leaderboard's task-macro scale) and the WB-Reward mixture, per run."""
        from sftbench.common.rows import read_jsonl
        scores = json.loads((store.path(step.key) / "scores.json").read_text())
        head = headline(scores)
        records = read_jsonl(store.path(step.key) / "score_records.jsonl", validate=False)
        numbers = {k: v for k, v in head.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        return Evaluated(
            benchmark=self.name, title="WildBench v2", fingerprint=store.manifest(step.key).get("judge_fingerprint") or {},
            unit=self.unit, units=[str(r.get("session_id")) for r in records],
            scores={"score": [_score(r) for r in records]}, headline=numbers,
            columns=[SCORE, REWARD] if "WB_reward" in head else [SCORE],
            info={"task_groups": head.get("task_groups"), "references": head.get("references")},
            steps={"judge": step.key.dirname, "answers": step.deps.get("answers")})

    def expected_calls(self, suite: Any, spec: WildBenchSpec, step: Step) -> dict[str, int]:
        if step.key.kind != "wbjudge":
            return {}
        return {"judge": (spec.max_tasks or WILDBENCH_TASKS) * (1 + len(spec.references))}

    def preflight(self, suite: Any, spec: WildBenchSpec, pending: set[str]) -> None:
        if "wbanswers" in pending:
            from sftbench.suites.models.generate import resolve_backend
            resolve_backend(suite.generation.backend)


def _score(record: dict[str, Any]) -> float | None:
    if record.get("failed"):
        return None
    try:
        return float(record["score"])
    except (KeyError, TypeError, ValueError):
        return None
