"""WildBench v2 as an evaluation plugin: real-user tasks graded with their checklists by the suite's LLM judge
(WB-Score) and, per reference model given, compared pairwise (WB-Reward)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sftbench.suites.engine.step import Step
from sftbench.suites.engine.store import StepKey, Store
from sftbench.suites.evaluations.protocol import Checkpoint, Column, Evaluated, Evaluation, Problem, PromptSource
from sftbench.suites.evaluations.wildbench.spec import WildBenchSpec
from sftbench.suites.evaluations.wildbench.steps import headline, input_identity

WILDBENCH_TASKS = 1024
SCORE = Column("WB_score", "WB-Score", "mean", score="WB_score", lower=-100.0, upper=100.0, primary=True,
               flag="n_unparsed", noise_floor=True)
REWARD = Column("WB_reward", "WB-Reward (mix)", "mean", score="WB_reward", lower=-100.0, upper=100.0,
                flag="reward_n_unparsed")


class WildBench(Evaluation):
    name = "wildbench"
    spec = WildBenchSpec
    order = 30
    unit = "task"
    kinds = ("wbanswers", "wbjudge", "wbnoisefloor")

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

    def prompt_source(self, b: Any, spec: WildBenchSpec, ids: dict[str, Any]) -> PromptSource:
        return PromptSource({}, {"tasks": ids["tasks"], "max_tasks": spec.max_tasks},
                            spec.model_dump(mode="json", include={"tasks_path", "max_tasks"}))

    def eval_prompts(self, spec: WildBenchSpec, inputs: dict[str, Any], args: dict[str, Any]) -> list[str]:
        from sftbench.suites.evaluations.wildbench.steps import select_tasks
        path = args.get("tasks_path")
        tasks = select_tasks(Path(path) if path else None, args.get("max_tasks"))
        return [str(m["content"]) for t in tasks for m in t["conversation_input"] if m.get("role") == "user"]

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

    def finish(self, b: Any, spec: WildBenchSpec, ids: dict[str, Any], results: dict[tuple[str, int], StepKey]) \
            -> StepKey | None:
        """Grade a fixed sample of the stored WB-Score grades again: how far the judge disagrees with itself."""
        from sftbench.suites.evaluations.noise_floor import add_noise_floor
        steps = {s.key.dirname: s for s in b.steps}
        answers = {f"{k.dirname}.answers": steps[steps[k.dirname].deps["answers"]].key for k in results.values()}
        return add_noise_floor(b, "wbnoisefloor", results, "WildBench: grade a fixed sample again (judge-noise floor)",
                               {"templates_dir": spec.model_dump(mode="json")["templates_dir"]},
                               {"templates": ids["templates"]}, deps=answers)

    def suite_result(self, store: Store, step: Step) -> tuple[str, dict[str, Any]]:
        from sftbench.suites.evaluations.noise_floor import stored_summary
        return self.name, stored_summary(store.path(step.key))

    def result(self, store: Store, step: Step, spec: WildBenchSpec) -> Evaluated:
        """WB-Score (the published leaderboard's task-macro scale) and the WB-Reward mixture, per task: each task's
        share of the run's number (judges/wildbench: `wb_score_items`, `wb_reward_items`), paired by task."""
        from sftbench.common.rows import read_jsonl
        from sftbench.judges.wildbench import task_categories, wb_reward_items, wb_score_items
        out = store.path(step.key)
        scores = json.loads((out / "scores.json").read_text())
        head = headline(scores)
        records = read_jsonl(out / "score_records.jsonl", validate=False)
        answers = store.root / step.deps["answers"] / "tasks.jsonl" if step.deps.get("answers") else None
        categories = ({t["session_id"]: task_categories(t) for t in read_jsonl(answers, validate=False)}
                      if answers is not None and answers.is_file() else None)
        if categories is not None and not all(r["session_id"] in categories for r in records):
            categories = None
        units = [str(r.get("session_id")) for r in records]
        per_task = wb_score_items(records, categories)
        per_item: dict[str, list[float | None]] = {"WB_score": [per_task[r["session_id"]] for r in records]}
        if categories is None:  # the plain mean is what these shares add up to
            head["WB_score"] = head.get("WB_score_mean")
        if "WB_reward" in head:
            refs = [wb_reward_items(read_jsonl(out / f"reward_records.{name}.jsonl", validate=False), scores["K"])
                    for name in head.get("references") or []]
            per_item["WB_reward"] = [sum(r[sid] for r in refs) / len(refs) if all(sid in r for r in refs) else None
                                     for sid in (rec["session_id"] for rec in records)]
        numbers = {k: v for k, v in head.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        return Evaluated(
            benchmark=self.name, title="WildBench v2", fingerprint=store.manifest(step.key).get("judge_fingerprint") or {},
            unit=self.unit, units=units, scores=per_item, headline=numbers,
            columns=[SCORE, REWARD] if "WB_reward" in head else [SCORE],
            info={"task_groups": head.get("task_groups"), "references": head.get("references")},
            steps={"judge": step.key.dirname, "answers": step.deps.get("answers")})

    def expected_calls(self, suite: Any, spec: WildBenchSpec, step: Step) -> dict[str, int]:
        if step.key.kind == "wbnoisefloor":  # a sample of the stored grades, at most all of them
            runs = len(suite.datasets) * len(suite.seeds)
            return {"judge": min(suite.leaderboard.noise_floor_sample, (spec.max_tasks or WILDBENCH_TASKS) * runs)}
        if step.key.kind != "wbjudge":
            return {}
        return {"judge": (spec.max_tasks or WILDBENCH_TASKS) * (1 + len(spec.references))}

    def preflight(self, suite: Any, spec: WildBenchSpec, pending: set[str]) -> None:
        if "wbanswers" in pending:
            from sftbench.suites.models.generate import resolve_backend
            resolve_backend(suite.generation.backend)

