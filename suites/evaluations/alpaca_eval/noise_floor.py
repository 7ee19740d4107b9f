"""The judge-noise floor step: re-judge a fixed sample of existing annotations with the judge as configured.

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

import json
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from sftbench.judges.protocols import PairwiseJudge, prefer_all
from sftbench.suites.engine.step import Step, StepContext, step_kind


def _sample(annotation_sets: Mapping[str, Sequence[dict[str, Any]]], sample_size: int,
            seed: int) -> list[tuple[str, int]]:
    """A fixed, seeded sample of (judge step, eval position) among annotations that did not fail."""
    pool = [(step, i) for step in sorted(annotation_sets) for i, a in enumerate(annotation_sets[step])
            if not a.get("failed", False)]
    if not pool:
        return []
    picks = np.random.default_rng(seed).choice(len(pool), size=min(sample_size, len(pool)), replace=False)
    return [pool[i] for i in sorted(picks)]


Rejudge = Callable[[list[dict[str, Any]]], list[Optional[float]]]


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


def summarize(original: Sequence[float], rejudged: Sequence[float]) -> dict[str, Any]:
    """Spread of (re-judged - original) preferences; both in AlpacaEval's [1, 2] scale."""
    o, r = np.asarray(original, float), np.asarray(rejudged, float)
    delta = r - o
    n = len(delta)
    flips = (np.sign(o - 1.5) != np.sign(r - 1.5)).mean() if n else 0.0
    return {"n": n, "sd_delta": float(delta.std(ddof=1)) if n > 1 else 0.0,
            "mean_abs_delta": float(np.abs(delta).mean()) if n else 0.0, "flip_rate": float(flips),
            "deterministic": bool(n and np.all(np.abs(delta) < 1e-8))}  # stored preferences carry 10 digits


def noise_floor_step(annotation_sets: Mapping[str, Sequence[dict[str, Any]]], rejudge: Rejudge,
                     judge_fingerprint: dict[str, Any], sample_size: int, seed: int, out: Path) -> dict[str, Any]:
    """Re-judge `sample_size` stored annotations; write `out/noise_floor.json`; return its summary.

    annotation_sets: judge step directory name -> its annotations (`annotations.json`, eval order); rejudge:
    annotations (each with its eval position under `index`) -> new preferences in the stored orientation
    ([1, 2], 2 = the model's answer preferred), None where the judge failed.
    """
    sizes = {len(anns) for anns in annotation_sets.values()}
    if len(sizes) > 1:
        raise ValueError(f"noise floor: judge steps have different numbers of annotations {sorted(sizes)}")
    picks = _sample(annotation_sets, sample_size, seed)
    anns = [{**annotation_sets[step][i], "index": i} for step, i in picks]
    raw = rejudge(anns) if anns else []
    examples, ok_o, ok_r = [], [], []
    for (step, i), a, again in zip(picks, anns, raw):
        failed = again is None or math.isnan(again)
        examples.append({"judge_step": step, "index": i, "swapped": bool(a.get("swapped")),
                         "original": float(a["preference"]), "rejudged": None if failed else float(again)})
        if not failed:
            ok_o.append(float(a["preference"]))
            ok_r.append(float(again))
    summary = {"judge": judge_fingerprint, "judge_steps": sorted(annotation_sets), "sample_size": sample_size,
               "seed": seed, "n_failed": len(picks) - len(ok_o), **summarize(ok_o, ok_r)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "noise_floor.json").write_text(json.dumps({**summary, "examples": examples}, indent=1,
                                                     default=str) + "\n")
    return summary


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
