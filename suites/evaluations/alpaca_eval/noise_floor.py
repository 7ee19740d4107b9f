"""AlpacaEval's judge-noise floor step (the shared machinery: suites/evaluations/noise_floor.py): re-judge a fixed
sample of existing annotations with the judge as configured.

The floor is how far a win rate moves when nothing changes but the judge's own sampling. Each sampled pair is
shown to the judge exactly as it was first (same order, `swapped` honoured) and the new preference is compared
with the stored one. `noise_floor.json` keeps every re-judged example and a summary; the leaderboard turns
`sd_delta` into a 95% band for each difference it reports (leaderboard/stats.py).

A deterministic judge (the built-in world's verifier, or an LLM at temperature 0 with a fixed seed on a
deterministic server) measures a floor of exactly 0, and the summary says so (`deterministic: true`). The judge
must not answer from the LLM response cache, or every re-judging would be the stored answer and the floor 0 by
construction: `pairwise_rejudge` refuses a judge whose client has a cache; AlpacaEval 2.0 re-judges through an
uncached client (ae2.py `rejudge`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from sftbench.judges.protocols import PairwiseJudge, prefer_all
from sftbench.suites.engine.step import Step, StepContext, step_kind
from sftbench.suites.evaluations.noise_floor import Rejudge, noise_floor_step, summarize


def pairwise_rejudge(judge: PairwiseJudge, prompts: Sequence[dict[str, Any]]) -> tuple[Rejudge, dict[str, Any]]:
    """Re-judging through a PairwiseJudge: each pair shown exactly as first (`swapped` honoured)."""
    if getattr(getattr(judge, "client", None), "cache", None) is not None:
        raise ValueError("noise floor: the judge answers from the LLM response cache, so re-judging would repeat "
                         "the stored answers; build the judge without a cache for this step")

    def again(anns: list[dict[str, Any]]) -> list[float | None]:
        if any(a["index"] >= len(prompts) for a in anns):
            raise ValueError(f"noise floor: annotations beyond the {len(prompts)} eval prompts")
        firsts = [a["output_2"] if a.get("swapped") else a["output_1"] for a in anns]
        seconds = [a["output_1"] if a.get("swapped") else a["output_2"] for a in anns]
        raw = prefer_all(judge, [prompts[a["index"]] for a in anns], firsts, seconds)
        return [None if v is None or math.isnan(v) else (3.0 - v if a.get("swapped") else v)
                for a, v in zip(anns, raw)]

    return again, judge.fingerprint


def pairwise_noise_floor(prompts: Sequence[dict[str, Any]], annotation_sets: Mapping[str, Sequence[dict[str, Any]]],
                         judge: PairwiseJudge, sample_size: int, seed: int, out: Path) -> dict[str, Any]:
    """The noise floor of a PairwiseJudge over `prompts` (the eval prompt rows, in eval order, with `meta`)."""
    for step, anns in annotation_sets.items():
        if len(anns) != len(prompts):
            raise ValueError(f"noise floor: {step} has {len(anns)} annotations for {len(prompts)} eval prompts")
    rejudge, fingerprint = pairwise_rejudge(judge, prompts)
    return noise_floor_step(annotation_sets, rejudge, fingerprint, sample_size, seed, out)


@step_kind("noisefloor")
def noise_floor_body(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict[str, Any]:
    """Re-judge a fixed sample of the stored annotations of the judge steps in `args.judged` (input names)."""
    from sftbench.common.jsonio import read_json
    a, cfg = step.args, step.config
    session = ctx.roles(a["roles"])
    stored = {name: read_json(inputs[name] / "annotations.json") for name in a["judged"]}
    if a["eval_set"] == "alpaca_eval_2":
        from sftbench.suites.evaluations.alpaca_eval.ae2 import rejudge
        from sftbench.suites.evaluations.alpaca_eval.spec import AlpacaEvalSpec
        again, fingerprint = rejudge(AlpacaEvalSpec.model_validate(a["spec"]), session)
        return noise_floor_step(stored, again, fingerprint, cfg["sample_size"], cfg["seed"], out)
    from sftbench.suites.evaluations.alpaca_eval.world import eval_prompts
    return pairwise_noise_floor(eval_prompts(inputs["world"]), stored, session.get_uncached("judge"),
                                cfg["sample_size"], cfg["seed"], out)
