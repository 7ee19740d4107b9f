"""`longest` (Long-Is-More): the k rows with the longest responses in NLTK word tokens.

Ties are broken by pool position (earlier first), and the selection is returned in pool order. With `refine`, the
teacher then rewrites each selected response with the paper's introspective refinement prompt (datasets_builders/
refine.py); decoding as upstream: temperature 0, top_p 1, up to 2,048 new tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from pydantic import Field

from sftbench.datasets_builders.builders.base import BuildContext, BuilderParams, BuildResult
from sftbench.datasets_builders.lengths import nltk_word_count
from sftbench.common.rows import Row

SIZE_FIELD = "k"  # what `sftbench build --k` sets


class Params(BuilderParams):
    k: int = Field(1000, gt=0)
    refine: bool = Field(False, description="rewrite the selected responses with the refinement prompt")
    refine_prompt: str = Field("long_is_more_refine", description="registry name or file (ours: ours_refine)")
    prompt_copy: Path | None = Field(None, description="local copy of the upstream prompt file (offline)")
    refine_max_tokens: int = Field(2048, gt=0)


def roles(params: Params) -> tuple[str, ...]:
    """The LLM roles this build calls (the teacher only to refine)."""
    return ("teacher",) if params.refine else ()


def prompts(params: Params) -> list[str]:
    return [params.refine_prompt] if params.refine else []


def expected_calls(params: Params, pool_rows: int) -> dict[str, int]:
    return {"teacher": min(params.k, pool_rows)} if params.refine else {}


def select_longest(lengths: Sequence[int], k: int) -> list[int]:
    ranked = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return sorted(ranked[:k])


def build(pool: Sequence[Row], params: Params, ctx: BuildContext) -> BuildResult:
    lengths = [nltk_word_count(row["output"]) for row in pool]
    chosen = select_longest(lengths, params.k)
    cutoff = min((lengths[i] for i in chosen), default=0)
    rows = [pool[i] for i in chosen]
    info = {"length_unit": "nltk_word_tokens", "min_selected_length": cutoff,
            "rows_dropped": {"shorter_than_cutoff": len(pool) - len(rows)} if len(pool) > len(rows) else {}}
    if params.refine:
        from sftbench.datasets_builders.llm_calls import LLMCalls
        from sftbench.datasets_builders.refine import refine_rows
        from sftbench.judges.prompt_registry import load_prompt
        calls = LLMCalls(ctx.teacher, "teacher", "longest", "refine")
        prompt = load_prompt(params.refine_prompt, params.prompt_copy, ctx.cache_dir)
        rows, counts = refine_rows(rows, calls, prompt, ctx.progress, temperature=0.0, top_p=1.0,
                                   max_tokens=params.refine_max_tokens)
        info.update(refinement=counts, teacher=calls.fingerprint(), prompts={"refine": prompt.card()},
                    llm=calls.stats())
    return BuildResult(rows, info)
