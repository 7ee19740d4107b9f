"""MT-Bench as an evaluation plugin: 80 two-turn questions, each turn graded 1-10 by the suite's LLM judge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sftbench.common.rows import read_jsonl
from sftbench.suites.engine.step import Step
from sftbench.suites.engine.store import StepKey, Store
from sftbench.suites.evaluations.mt_bench.spec import MTBenchSpec
from sftbench.suites.evaluations.protocol import Checkpoint, Column, Evaluated, Evaluation, Problem, PromptSource

MT_BENCH_QUESTIONS = 80
COLUMNS = [Column("score", "MT-Bench (1-10)", "mean", score="score", lower=1.0, upper=10.0, decimals=2,
                  primary=True, flag="n_unparsed", noise_floor=True)]


class MTBench(Evaluation):
    name = "mt_bench"
    spec = MTBenchSpec
    order = 20
    unit = "question_turn"
    kinds = ("mtanswers", "mtjudge", "mtnoisefloor")

    def check(self, suite: Any, spec: MTBenchSpec) -> list[Problem]:
        if spec.enabled and suite.roles.judge.provider == "world":
            return [(("evaluation", "mt_bench", "enabled"),
                     "evaluation.mt_bench needs an LLM judge: set roles.judge to an LLM provider")]
        return []

    def prompt_source(self, b: Any, spec: MTBenchSpec, shared: Any) -> PromptSource:
        from sftbench.judges.mt_bench.data import FASTCHAT_COMMIT
        data_dir = str(spec.data_dir or "")
        return PromptSource({}, {"data_dir": data_dir, "pinned": FASTCHAT_COMMIT}, {"data_dir": data_dir})

    def eval_prompts(self, spec: MTBenchSpec, inputs: dict[str, Path], args: dict[str, Any]) -> list[str]:
        from sftbench.judges.mt_bench import load_mt_bench
        data = load_mt_bench(Path(args["data_dir"]) if args["data_dir"] else None)
        return [str(turn) for q in data.questions for turn in q["turns"]]

    def add_checkpoint(self, b: Any, spec: MTBenchSpec, shared: Any, ckpt: Checkpoint) -> StepKey:
        """The checkpoint's MT-Bench answers, then the judge's grades (the key returned)."""
        gen, run, data_dir = b.suite.generation, ckpt.run_name, str(spec.data_dir or "")
        answers = b.add("mtanswers", run, {**spec.model_dump(mode="json"), **gen.backend_param()},
                        {"model": ckpt.train.hash}, f"MT-Bench answers ({run})", ckpt.seed,
                        deps={"model": ckpt.train}, args={"data_dir": data_dir, "backend": gen.backend})
        return b.add("mtjudge", run, {"judge": b.role_ids["judge"], "data_dir": data_dir}, {"answers": answers.hash},
                     f"MT-Bench judging ({run})", ckpt.seed, deps={"answers": answers},
                     args={"data_dir": data_dir, "roles": b.roles_args})

    def finish(self, b: Any, spec: MTBenchSpec, shared: Any, results: dict[tuple[str, int], StepKey]) \
            -> StepKey | None:
        """Grade a fixed sample of the stored grades again: how far the judge disagrees with itself."""
        from sftbench.suites.evaluations.noise_floor import add_noise_floor
        data_dir = str(spec.data_dir or "")
        return add_noise_floor(b, "mtnoisefloor", results, "MT-Bench: grade a fixed sample again (judge-noise floor)",
                               {"data_dir": data_dir}, args={"data_dir": data_dir})

    def suite_result(self, store: Store, step: Step) -> tuple[str, dict[str, Any]]:
        from sftbench.suites.evaluations.noise_floor import stored_summary
        return self.name, stored_summary(store.path(step.key))

    def result(self, store: Store, step: Step, spec: MTBenchSpec) -> Evaluated:
        """Per (question, turn): the judge's 1-10 rating, None where it never parsed."""
        from sftbench.judges.mt_bench import mt_bench_scores
        judgments = sorted(read_jsonl(store.path(step.key) / "judgments.jsonl", validate=False),
                           key=lambda j: (str(j["question_id"]), int(j["turn"])))
        scores = mt_bench_scores(judgments)
        manifest = store.manifest(step.key)
        return Evaluated(
            benchmark=self.name, title="MT-Bench", fingerprint=manifest.get("judge_fingerprint") or {},
            unit=self.unit, units=[f"{j['question_id']}:{j['turn']}" for j in judgments],
            scores={"score": [None if j["score"] == -1 or j.get("failed") else float(j["score"]) for j in judgments]},
            headline={k: scores.get(k) for k in ("score", "turn_1", "turn_2", "n_unparsed", "n_judgments")},
            columns=COLUMNS, steps={"judge": step.key.dirname, "answers": step.deps.get("answers")})

    def export(self, store: Store, step: Step, spec: MTBenchSpec, dest: Path) -> list[Path]:
        """FastChat's layout: `model_answer/<model>.jsonl` (its model-answer format) and the judge's grades."""
        import shutil
        answers = store.root / step.deps["answers"] / "answers.jsonl"
        paths = [dest / "model_answer" / f"{step.key.name}.jsonl", dest / "sftbench_judgment" / f"{step.key.name}.jsonl"]
        for src, dst in zip((answers, store.path(step.key) / "judgments.jsonl"), paths):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        return paths

    def expected_calls(self, suite: Any, spec: MTBenchSpec, step: Step) -> dict[str, int]:
        if step.key.kind == "mtnoisefloor":  # a sample of the stored grades, at most all of them
            runs = len(suite.datasets) * len(suite.seeds)
            return {"judge": min(suite.leaderboard.noise_floor_sample, 2 * MT_BENCH_QUESTIONS * runs)}
        return {"judge": 2 * MT_BENCH_QUESTIONS} if step.key.kind == "mtjudge" else {}

    def preflight(self, suite: Any, spec: MTBenchSpec, pending: set[str]) -> None:
        if "mtanswers" in pending:
            from sftbench.suites.models.generate import resolve_backend
            resolve_backend(suite.generation.backend)
