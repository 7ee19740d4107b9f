"""Pairwise annotation of model outputs against baseline outputs, in AlpacaEval's annotation format."""

from __future__ import annotations

import hashlib
import math
from typing import Any, Sequence

from sftbench.judges.protocols import PairwiseJudge, prefer_all


FAILED_PREFERENCE = 1.5  # an annotation the judge could not give counts as a tie: kept in the denominator, reported


def _swap(seed: int, instruction: str) -> bool:
    """AlpacaEval shows the two outputs in random order; ours is a pure function of seed and instruction."""
    return hashlib.sha256(f"{seed}:{instruction}".encode()).digest()[0] % 2 == 1


def annotate_pairs(prompts: Sequence[dict[str, Any]], baseline: Sequence[str], outputs: Sequence[str],
                   judge: PairwiseJudge, generator: str, baseline_name: str, annotator: str,
                   seed: int = 0, randomize_order: bool = True, progress: bool = False) -> list[dict[str, Any]]:
    """One annotation per prompt: output_1 = baseline, output_2 = model, preference in [1, 2] (2 = model wins).

    When `randomize_order` is set the judge sees the pair swapped for about half the prompts and its preference
    is mapped back, so position bias averages out as in AlpacaEval. A failed annotation (NaN from an LLM judge
    that never gave a parseable answer) is marked `failed` and counted as a tie, never dropped.
    """
    if not (len(prompts) == len(baseline) == len(outputs)):
        raise ValueError(f"annotate_pairs: {len(prompts)} prompts, {len(baseline)} baseline outputs and "
                         f"{len(outputs)} model outputs; they must be aligned one to one")
    swaps = [randomize_order and _swap(seed, p["instruction"]) for p in prompts]
    firsts = [o2 if sw else o1 for sw, o1, o2 in zip(swaps, baseline, outputs)]
    seconds = [o1 if sw else o2 for sw, o1, o2 in zip(swaps, baseline, outputs)]
    raw = prefer_all(judge, prompts, firsts, seconds, progress=progress)
    records = []
    for prompt, out_1, out_2, swapped, value in zip(prompts, baseline, outputs, swaps, raw):
        failed = value is None or math.isnan(value)
        if not failed and not 1.0 <= value <= 2.0:
            raise ValueError(f"judge {annotator} returned preference {value!r} outside [1, 2]")
        preference = FAILED_PREFERENCE if failed else (3.0 - value if swapped else value)
        records.append({
            "instruction": prompt["instruction"], "output_1": out_1, "generator_1": baseline_name,
            "output_2": out_2, "generator_2": generator, "dataset": prompt.get("dataset", ""),
            "annotator": annotator, "preference": preference, "swapped": swapped, "failed": failed,
        })
    return records
