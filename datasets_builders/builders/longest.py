"""`longest` (Long-Is-More): the k rows with the longest responses in NLTK word tokens.

Ties are broken by pool position (earlier first), and the selection is returned in pool order. With `refine`, the
teacher then rewrites each selected response: an LLM teacher with the paper's introspective refinement prompt
(datasets_builders/refine.py; decoding as upstream: temperature 0, top_p 1, up to 2,048 new tokens), a native
teacher (the world's, datasets_builders/native.py) in its own explained style, keeping the response's answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from pydantic import Field

from sftbench.datasets_builders.builders.base import BuildContext, BuilderParams, BuildResult
from sftbench.datasets_builders.lengths import nltk_word_count
from sftbench.datasets_builders.native import LLMOnly, NativeTeacher, as_native, refuse, restyle_rows
from sftbench.common.rows import Row

SIZE_FIELD = "k"  # what `sftbench build --k` sets
NATIVE_STYLE = "explained"  # what a native teacher refines into


class Params(BuilderParams):
    k: int = Field(1000, gt=0)
    refine: bool = Field(False, description="rewrite the selected responses with the refinement prompt")
    refine_prompt: str = Field("long_is_more_refine", description="an LLM teacher's registry name or file (ours: "
                               "ours_refine); the world teacher refines into its own explained style")
    prompt_copy: Path | None = Field(None, description="local copy of the upstream prompt file (offline)")
    refine_max_tokens: int = Field(2048, gt=0)


def roles(params: Params) -> tuple[str, ...]:
    """The LLM roles this build calls (the teacher only to refine)."""
    return ("teacher",) if params.refine else ()


def prompts(params: Params) -> list[str]:
    return [params.refine_prompt] if params.refine else []


def expected_calls(params: Params, pool_rows: int) -> dict[str, int]:
    return {"teacher": min(params.k, pool_rows)} if params.refine else {}


def llm_only(params: Params, world_pool: bool = True) -> list[LLMOnly]:
    """What these params ask of the teacher that only an LLM teacher serves (the world teacher refines natively)."""
    if not params.refine:
        return []
    out = []
    if params.refine_prompt != Params.model_fields["refine_prompt"].default:
        out.append(LLMOnly("teacher", "params.refine_prompt", f"the refinement prompt {params.refine_prompt!r}",
                           f"refines into its own {NATIVE_STYLE} style and follows no prompt",
                           "remove params.refine_prompt"))
    if not world_pool:
        out.append(LLMOnly("teacher", "params.refine", "refining rows of a pool that is not the built-in world",
                           "only rewrites world rows", "use the world pool, or remove params.refine"))
    return out


def _refine_natively(rows: list[Row], teacher: NativeTeacher, seed: int) -> tuple[list[Row], dict]:
    refined = restyle_rows(teacher, rows, range(len(rows)), NATIVE_STYLE, seed)
    return refined, {"refinement": {"refined": len(rows), "kept_original_unparseable": 0, "style": NATIVE_STYLE},
                     "teacher": teacher.fingerprint}


def _refine_with_llm(rows: list[Row], params: Params, ctx: BuildContext) -> tuple[list[Row], dict]:
    from sftbench.datasets_builders.llm_calls import LLMCalls
    from sftbench.datasets_builders.refine import refine_rows
    from sftbench.judges.prompt_registry import load_prompt
    calls = LLMCalls(ctx.teacher, "teacher", "longest", "refine")
    prompt = load_prompt(params.refine_prompt, params.prompt_copy, ctx.cache_dir)
    rows, counts = refine_rows(rows, calls, prompt, ctx.progress, temperature=0.0, top_p=1.0,
                               max_tokens=params.refine_max_tokens)
    return rows, {"refinement": counts, "teacher": calls.fingerprint(), "prompts": {"refine": prompt.card()},
                  "llm": calls.stats()}


def select_longest(lengths: Sequence[int], k: int) -> list[int]:
    ranked = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return sorted(ranked[:k])


def build(pool: Sequence[Row], params: Params, ctx: BuildContext) -> BuildResult:
    native = as_native(ctx.teacher) if params.refine else None
    if native is not None:  # what it cannot serve is refused before any work
        refuse(llm_only(params), "teacher")
    lengths = [nltk_word_count(row["output"]) for row in pool]
    chosen = select_longest(lengths, params.k)
    cutoff = min((lengths[i] for i in chosen), default=0)
    rows = [pool[i] for i in chosen]
    info = {"length_unit": "nltk_word_tokens", "min_selected_length": cutoff,
            "rows_dropped": {"shorter_than_cutoff": len(pool) - len(rows)} if len(pool) > len(rows) else {}}
    if params.refine:
        rows, refined = _refine_natively(rows, native, ctx.seed) if native else _refine_with_llm(rows, params, ctx)
        info.update(refined)
    return BuildResult(rows, info)
