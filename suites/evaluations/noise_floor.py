"""The judge-noise floor, shared by every LLM-judged evaluation: re-judge a fixed, seeded sample of stored
judgments with the judge as configured (never from the response cache) and measure how far the judge disagrees
with itself. `noise_floor.json` keeps every re-judged example and a summary; the leaderboard turns `sd_delta` (in
the column's own per-unit scale) into a 95% band for each difference it reports (leaderboard/stats.py).

A deterministic judge (the world's verifier, or an LLM at temperature 0 on a deterministic server) measures a
floor of exactly 0, and the summary says so (`deterministic: true`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

Rejudge = Callable[[list[dict[str, Any]]], list[Optional[float]]]


def sample(judgment_sets: Mapping[str, Sequence[dict[str, Any]]], sample_size: int,
           seed: int) -> list[tuple[str, int]]:
    """A fixed, seeded sample of (judge step, position) among judgments that did not fail."""
    pool = [(step, i) for step in sorted(judgment_sets) for i, a in enumerate(judgment_sets[step])
            if not a.get("failed", False)]
    if not pool:
        return []
    picks = np.random.default_rng(seed).choice(len(pool), size=min(sample_size, len(pool)), replace=False)
    return [pool[i] for i in sorted(picks)]


def summarize(original: Sequence[float], rejudged: Sequence[float], middle: float | None = 1.5) -> dict[str, Any]:
    """Spread of (re-judged - original) values; with `middle` (AlpacaEval's 1.5 on its [1, 2] scale) also how
    often the judgment changed sides."""
    o, r = np.asarray(original, float), np.asarray(rejudged, float)
    delta = r - o
    n = len(delta)
    out = {"n": n, "sd_delta": float(delta.std(ddof=1)) if n > 1 else 0.0,
           "mean_abs_delta": float(np.abs(delta).mean()) if n else 0.0}
    if middle is not None:
        out["flip_rate"] = float((np.sign(o - middle) != np.sign(r - middle)).mean()) if n else 0.0
    out["deterministic"] = bool(n and np.all(np.abs(delta) < 1e-8))  # stored values carry 10 digits
    return out


def noise_floor_step(judgment_sets: Mapping[str, Sequence[dict[str, Any]]], rejudge: Rejudge,
                     judge_fingerprint: dict[str, Any], sample_size: int, seed: int, out: Path,
                     value: str = "preference", middle: float | None = 1.5, unit: str | None = None) -> dict[str, Any]:
    """Re-judge `sample_size` stored judgments; write `out/noise_floor.json`; return its summary.

    judgment_sets: judge step directory name -> its judgments (each with the stored `value`); rejudge: judgments
    (each with its position under `index`) -> new values in the stored scale, None where the judge failed; `unit`:
    what the values are, for the leaderboard's note (AlpacaEval's preferences when None).
    """
    sizes = {len(anns) for anns in judgment_sets.values()}
    if len(sizes) > 1:
        raise ValueError(f"noise floor: judge steps have different numbers of judgments {sorted(sizes)}")
    picks = sample(judgment_sets, sample_size, seed)
    anns = [{**judgment_sets[step][i], "index": i} for step, i in picks]
    raw = rejudge(anns) if anns else []
    examples, ok_o, ok_r = [], [], []
    for (step, i), a, again in zip(picks, anns, raw):
        failed = again is None or math.isnan(again)
        examples.append({"judge_step": step, "index": i, "swapped": bool(a.get("swapped")),
                         "original": float(a[value]), "rejudged": None if failed else float(again)})
        if not failed:
            ok_o.append(float(a[value]))
            ok_r.append(float(again))
    summary = {"judge": judge_fingerprint, "judge_steps": sorted(judgment_sets), "sample_size": sample_size,
               "seed": seed, "n_failed": len(picks) - len(ok_o), **summarize(ok_o, ok_r, middle),
               **({"unit": unit} if unit else {})}
    out.mkdir(parents=True, exist_ok=True)
    (out / "noise_floor.json").write_text(json.dumps({**summary, "examples": examples}, indent=1,
                                                     default=str) + "\n")
    return summary


def add_noise_floor(b: Any, kind: str, results: Mapping[Any, Any], label: str, config: dict[str, Any] | None = None,
                    inputs: dict[str, Any] | None = None, deps: dict[str, Any] | None = None,
                    args: dict[str, Any] | None = None) -> Any:
    """Plan an evaluation's noise-floor step over its judge steps (`results`: checkpoint -> judge step key), with
    the evaluation's own extra config, inputs, deps and args; None when `leaderboard.noise_floor_sample` is 0 or
    nothing was judged. The key holds the judge, the sample and its seed, and every judge step's hash."""
    lb = b.suite.leaderboard
    if not lb.noise_floor_sample or not results:
        return None
    judged = list(results.values())
    return b.add(kind, "judge", {"judge": b.role_ids["judge"], "sample_size": lb.noise_floor_sample, "seed": lb.seed,
                                 **(config or {})},
                 {"judges": {k.dirname: k.hash for k in judged}, **(inputs or {})}, label,
                 deps={**{k.dirname: k for k in judged}, **(deps or {})},
                 args={"roles": b.roles_args, "judged": [k.dirname for k in judged], **(args or {})})


def stored_summary(step_dir: Path) -> dict[str, Any]:
    """A finished noise-floor step's summary (its examples left out) and the step it came from: what the
    leaderboard reads (`Evaluation.suite_result`)."""
    doc = json.loads((step_dir / "noise_floor.json").read_text())
    return {**{k: v for k, v in doc.items() if k != "examples"}, "step": step_dir.name}


__all__ = ["Rejudge", "add_noise_floor", "noise_floor_step", "sample", "stored_summary", "summarize"]
