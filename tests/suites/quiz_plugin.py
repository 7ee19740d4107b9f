"""A new evaluation in one module, as a user would add one: a quiz of fresh world prompts that each checkpoint
answers and the suite's judge compares with the world's reference answers. Nothing else in sftbench is edited: a
suite names this module under `plugins:` and turns it on under `evaluation.quiz`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from sftbench.common.config import Strict
from sftbench.common.rows import read_jsonl, write_jsonl
from sftbench.suites.engine.step import Step, StepContext, step_kind
from sftbench.suites.engine.store import StepKey, Store
from sftbench.suites.evaluations import register
from sftbench.suites.evaluations.protocol import Checkpoint, Column, Evaluated, Evaluation

QUIZ_SEED = 4242


class QuizSpec(Strict):
    enabled: bool = False
    n: int = Field(12, ge=2, description="quiz questions")


@step_kind("quiz")
def quiz_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict[str, Any]:
    from sftbench.datasets_builders import world
    from sftbench.judges.pairwise import annotate_pairs
    from sftbench.suites.models.generate import generate
    prompts = world.make_eval_prompts(step.config["n"], seed=QUIZ_SEED)
    references = [r["output"] for r in world.reference_outputs(prompts)]
    answers = generate(inputs["model"], [p["instruction"] for p in prompts], max_new_tokens=16, batch_size=16,
                       threads=ctx.threads, progress=False)
    judge = ctx.roles(step.args["roles"]).get("judge")
    records = annotate_pairs(prompts, references, answers, judge, generator=step.key.name, baseline_name="reference",
                             annotator="judge", randomize_order=False)
    write_jsonl(out / "scores.jsonl", [{"id": f"q{i}", "score": r["preference"] - 1.0} for i, r in enumerate(records)])
    return {"n": len(records), "judge_fingerprint": judge.fingerprint}


class Quiz(Evaluation):
    name = "quiz"
    spec = QuizSpec
    order = 50
    unit = "question"
    kinds = ("quiz",)

    def add_checkpoint(self, b: Any, spec: QuizSpec, shared: Any, ckpt: Checkpoint) -> StepKey:
        return b.add("quiz", ckpt.run_name, {"n": spec.n, "judge": b.role_ids["judge"]}, {"model": ckpt.train.hash},
                     f"quiz ({ckpt.run_name})", ckpt.seed, deps={"model": ckpt.train}, args={"roles": b.roles_args},
                     module=__name__)

    def result(self, store: Store, step: Step, spec: QuizSpec) -> Evaluated:
        rows = read_jsonl(store.path(step.key) / "scores.jsonl", validate=False)
        scores = [float(r["score"]) for r in rows]
        return Evaluated("quiz", "World quiz", store.manifest(step.key)["judge_fingerprint"], self.unit,
                         [r["id"] for r in rows], {"score": scores}, {"score": 100 * sum(scores) / len(scores)},
                         [Column("score", "quiz score %", "mean", score="score", scale=100.0, lower=0, upper=100,
                                 primary=True)])

    def expected_calls(self, suite: Any, spec: QuizSpec, step: Step) -> dict[str, int]:
        return {"judge": spec.n} if step.key.kind == "quiz" else {}


register(Quiz())
