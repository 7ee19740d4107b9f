"""`skillmix` (Instruct-SkillMix): per example, k random skills and one query type; the teacher writes the pair.

Stage A (`skills_from`): the pool source's lists (the built-in world's), the released lists (`released`), or lists
the teacher extracts: `sda` (asked directly) or `sdd` (from the pool as seed data). Stage B: examples planned as
upstream (`balance: upstream`) or by cycling a seeded shuffle of the query types (`cycle`); each is written by the
multi-turn conversation of `conversation` (the paper's `skillmix_gpt4` / `skillmix_claude`, our
`ours_skillmix_conversation`, or a file) parsed by upstream's rules, with regeneration of failures; without
`conversation` the teacher role's own single-request protocol writes each example (the world teacher's only mode).
`heldout` extra examples (skill sets disjoint from the training ones) form the validation set (sidecar
`heldout`). Variants: `shirker` (the first `shirker_fraction` of rows, 20% by default, get deliberately unhelpful
answers, as upstream) and `brevity` (every answer rewritten as one paragraph). An LLM teacher rewrites through the
variant's prompt (the paper's by default); a native teacher (the world's, datasets_builders/native.py) rewrites in
its own shirker or concise style and extracts SDA/SDD lists from its own skills, with no prompt. The card names
the rewritten rows (`rewritten_rows`, [start, stop) ranges) and how (`rewritten_by`: a style or a prompt).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal, Sequence

from pydantic import Field

from sftbench.datasets_builders.builders.base import BuildContext, BuilderParams, BuildResult, need
from sftbench.datasets_builders.native import LLMOnly, NativeTeacher, as_native, index_ranges, refuse, restyle_rows
from sftbench.common.rows import Row
from sftbench.judges.protocols import write_all
from sftbench.datasets_builders.skillmix_lists import QueryType
from sftbench.judges.prompt_registry import LoadedPrompt, load_prompt

ROLES = ("teacher",)  # LLM roles this builder calls
SIZE_FIELD = "n"  # what `sftbench build --k` sets (k is the number of skills per example, as in the paper)
RELEASED = Literal["gpt-4-turbo-2024-04-09", "claude-3-5-sonnet-20240620"]
NATIVE_STYLE = {"shirker": "shirker", "brevity": "concise"}  # variant -> the native teacher's response style


class Params(BuilderParams):
    n: int = Field(1000, gt=0, description="examples to generate")
    k: int = Field(2, ge=1, le=5, description="skills per example")
    skills_from: Literal["pool", "released", "sda", "sdd"] = "pool"
    released: RELEASED = "gpt-4-turbo-2024-04-09"
    skills_path: Path | None = Field(None, description="local copy of the released skills.txt (verified)")
    queries_path: Path | None = Field(None, description="local copy of the released queries.txt (verified)")
    sda_skills: int = Field(100, gt=0, description="SDA: skills to extract")
    query_types: int = Field(16, gt=0, description="SDA/SDD: query types to extract")
    sdd_rows: int = Field(100, gt=0, description="SDD: seed examples to read")
    conversation: str | None = Field(None, description="registry name or file of the generation conversation")
    parse_rule: Literal["auto", "gpt", "claude"] = "auto"
    system_prompt: str | None = Field(None, description="system message of the conversation (upstream: FastChat's)")
    max_tokens: int | None = Field(None, gt=0, description="per teacher turn (None: the teacher's max_tokens)")
    regenerate: int = Field(3, ge=0, description="re-asks of the last turn for examples that do not parse")
    balance: Literal["upstream", "cycle"] = "upstream"
    heldout: int = Field(0, ge=0, description="extra examples for the held-out validation set")
    variant: Literal["standard", "shirker", "brevity"] = "standard"
    shirker_fraction: float = Field(0.2, ge=0, le=1)
    shirker_prompt: str = Field("skillmix_junk", description="an LLM teacher's shirker prompt (default: the paper's); "
                                "the world teacher writes its own shirker style")
    brevity_prompt: str = Field("skillmix_brevity", description="an LLM teacher's brevity prompt (default: the "
                                "paper's); the world teacher writes its own concise style")
    prompt_copies: dict[str, Path] = Field(default_factory=dict, description="prompt name -> local copy")


def prompts(params: Params) -> list[str]:
    used = [params.conversation] if params.conversation else []
    used += {"shirker": [params.shirker_prompt], "brevity": [params.brevity_prompt]}.get(params.variant, [])
    if params.skills_from in ("sda", "sdd"):
        used += [f"ours_skillmix_{params.skills_from}_skills", "ours_skillmix_sda_queries"]
    return used


def llm_only(params: Params, world_pool: bool = True) -> list[LLMOnly]:
    """What these params ask of the teacher that only an LLM teacher serves; the world teacher serves the rest
    natively, including both variants with their default (the paper's) prompts."""
    out = []
    if params.conversation:
        out.append(LLMOnly("teacher", "params.conversation", f"the generation conversation {params.conversation!r}",
                           "writes each example itself and follows no prompt", "remove params.conversation"))
    if params.skills_from == "released":
        out.append(LLMOnly("teacher", "params.skills_from", "the released skill lists (skills_from: released)",
                           "writes tasks of the world's own skills only", "set params.skills_from to pool, sda or sdd"))
    if params.skills_from == "sdd" and not world_pool:
        out.append(LLMOnly("teacher", "params.skills_from", "SDD from a pool that is not the built-in world",
                           "reads skills off world rows only", "set params.skills_from to sda, or use the world pool"))
    for variant, field in (("shirker", "shirker_prompt"), ("brevity", "brevity_prompt")):
        prompt = getattr(params, field)
        if params.variant == variant and prompt != Params.model_fields[field].default:
            out.append(LLMOnly("teacher", f"params.{field}", f"the {variant} prompt {prompt!r}",
                               f"writes {variant} answers in its own {NATIVE_STYLE[variant]} style and follows no "
                               "prompt", f"remove params.{field}"))
    return out


def sidecars(params: Params) -> list[str]:
    return ["heldout"] if params.heldout else []


def expected_calls(params: Params, pool_rows: int) -> dict[str, int]:
    """Teacher calls a build makes at most (regeneration excluded), for cost estimates."""
    turns = {"skillmix_claude": 3}.get(params.conversation or "", 5) if params.conversation else 1
    examples = params.n + params.heldout
    extra = {"shirker": round(params.shirker_fraction * params.n), "brevity": params.n}.get(params.variant, 0)
    stage_a = {"sda": 2, "sdd": params.sdd_rows + 1}.get(params.skills_from, 0)
    return {"teacher": examples * turns + extra + stage_a}


def plan_examples(skills: Sequence[str], query_types: Sequence[str], n: int, k: int,
                  seed: int) -> list[tuple[list[str], str]]:
    """`balance: cycle`: query types cycle through a seeded shuffle, so each appears n/len(types) times."""
    if len(skills) < k:
        raise ValueError(f"skillmix needs at least k={k} skills, got {len(skills)}; lower params.k or offer more "
                         "skills")
    if not query_types:
        raise ValueError("skillmix needs at least one query type")
    rng = random.Random(seed)
    order = list(query_types)
    plan = []
    for i in range(n):
        if i % len(order) == 0:
            rng.shuffle(order)
        plan.append((rng.sample(list(skills), k), order[i % len(order)]))
    return plan


def _check_pool(params: Params, ctx: BuildContext) -> None:
    if params.skills_from == "pool" and not ctx.skills:
        raise ValueError("skillmix: this pool source offers no skill list; set params.skills_from to released, sda "
                         "or sdd")


def _stage_a(pool: Sequence[Row], params: Params, ctx: BuildContext,
             native: NativeTeacher | None) -> tuple[list[str], list[QueryType], dict]:
    from sftbench.datasets_builders import skillmix_lists as lists
    if params.skills_from == "pool":
        return list(ctx.skills), [QueryType(q, q) for q in ctx.query_types], {"source": "pool"}
    if params.skills_from == "released":
        return lists.load_released(params.released, params.skills_path, params.queries_path, ctx.cache_dir)
    if native is not None:
        return lists.extract_native(native, params.skills_from, pool, params.sda_skills, params.sdd_rows,
                                    params.query_types, ctx.seed)
    from sftbench.datasets_builders.llm_calls import LLMCalls
    calls = LLMCalls(ctx.teacher, "teacher", "skillmix", f"skills_from: {params.skills_from}")
    if params.skills_from == "sda":
        skills, queries, info = lists.extract_sda(calls, params.sda_skills, params.query_types, ctx.seed, ctx.progress)
    else:
        skills, queries, info = lists.extract_sdd(calls, pool, params.sdd_rows, params.query_types, ctx.seed,
                                                  progress=ctx.progress)
    return skills, queries, {**info, "llm": calls.stats()}


def _plan(skills: list[str], queries: list[QueryType], n: int, params: Params,
          seed: int) -> list[tuple[list[str], QueryType]]:
    if params.balance == "cycle":
        by_name = {q.query_type: q for q in queries}
        return [(s, by_name[q]) for s, q in plan_examples(skills, list(by_name), n, params.k, seed)]
    from sftbench.datasets_builders.skillmix_gen import plan_upstream
    return plan_upstream(skills, queries, n, params.k, seed)


def _heldout_plan(train: list, skills: list[str], queries: list[QueryType], params: Params, seed: int) -> list:
    """Held-out items: planned with another seed, keeping only skill sets no training item uses."""
    if not params.heldout:
        return []
    used = {frozenset(s) for s, _ in train}
    candidates = _plan(skills, queries, 3 * params.heldout, params, seed + 10_007)
    return [item for item in candidates if frozenset(item[0]) not in used][: params.heldout]


def _write(items: list, params: Params, ctx: BuildContext, calls: Any, loaded: dict[str, LoadedPrompt],
           first: int = 0) -> tuple[list[Row], dict]:
    """Rows for planned items; item i's requests carry the seed `seed * 1_000_003 + first + i`."""
    seeds = [ctx.seed * 1_000_003 + first + i for i in range(len(items))]
    if "conversation" in loaded:
        return _with_conversation(items, seeds, params, ctx, calls, loaded["conversation"])
    return _with_role(items, seeds, ctx)


def _load_prompts(params: Params, ctx: BuildContext, native: NativeTeacher | None) -> dict[str, LoadedPrompt]:
    """Every prompt the build needs, read before the first call (a missing download fails fast); a native teacher
    rewrites variants in its own styles, with no prompt."""
    variant_prompt = {"shirker": params.shirker_prompt, "brevity": params.brevity_prompt}.get(params.variant)
    wanted = {"conversation": params.conversation, "variant": None if native else variant_prompt}
    return {role: load_prompt(name, params.prompt_copies.get(name), ctx.cache_dir)
            for role, name in wanted.items() if name}


def _with_role(items: list[tuple[list[str], QueryType]], seeds: list[int],
               ctx: BuildContext) -> tuple[list[Row], dict]:
    teacher = need(ctx.teacher, "teacher", "skillmix")
    jobs = [(skills, q.query_type, seed) for (skills, q), seed in zip(items, seeds)]
    written = write_all(teacher, jobs, progress=ctx.progress)
    rows = [r for r in written if not r.get("meta", {}).get("failed")]
    failed = len(written) - len(rows)
    return rows, {"teacher": teacher.fingerprint, "protocol": "role",
                  "rows_dropped": {"teacher_output_unparseable": failed} if failed else {}}


def _with_conversation(items: list[tuple[list[str], QueryType]], seeds: list[int], params: Params,
                       ctx: BuildContext, calls: Any, prompt: LoadedPrompt) -> tuple[list[Row], dict]:
    from sftbench.datasets_builders.skillmix_gen import PARSER_VERSIONS, converse
    rule = params.parse_rule if params.parse_rule != "auto" else ("claude" if "claude" in prompt.name else "gpt")
    results = calls.run([converse(calls, prompt, skills, q, seed, rule, params.regenerate, params.system_prompt,
                                  max_tokens=params.max_tokens)
                         for (skills, q), seed in zip(items, seeds)], "skillmix", ctx.progress)
    rows = [row for row, _ in results if row is not None]
    failures = [{"meta": rec["meta"], "reason": rec["failed"], "last_turn": rec["outputs"][-1][:500]}
                for row, rec in results if row is None]
    regenerated = sum(bool(r["meta"]["regenerated"]) for r in rows)
    return rows, {"protocol": "conversation", "prompts": {"conversation": prompt.card()}, "parse_rule": rule,
                  "parser": PARSER_VERSIONS[rule], "turns": len(prompt.turns), "regenerated": regenerated,
                  "failures": failures[:20],
                  "rows_dropped": {"unparseable_after_regeneration": len(failures)} if failures else {}}


def _variant(rows: list[Row], params: Params, ctx: BuildContext, calls: Any, prompt: LoadedPrompt | None,
             native: NativeTeacher | None) -> tuple[list[Row], dict]:
    """The first `shirker_fraction` of rows (shirker, as upstream) or every row (brevity) rewritten."""
    count = round(params.shirker_fraction * len(rows)) if params.variant == "shirker" else len(rows)
    indices = range(count)
    info: dict[str, Any] = {"variant": params.variant, "rows_rewritten": count, "rewritten_rows": index_ranges(indices)}
    if native is not None:
        style = NATIVE_STYLE[params.variant]
        info["rewritten_by"] = {"style": style, "teacher": native.fingerprint}
        return restyle_rows(native, rows, indices, style, ctx.seed), info
    from sftbench.datasets_builders.skillmix_gen import rewrite_outputs
    assert prompt is not None  # loaded for every LLM variant
    rows = rewrite_outputs(rows, indices, calls, prompt, ctx.seed, ctx.progress, max_tokens=params.max_tokens)
    info["rewritten_by"] = {"prompt": prompt.name, "sha256": prompt.sha256}
    return rows, {**info, "prompts": {params.variant: prompt.card()}}


def build(pool: Sequence[Row], params: Params, ctx: BuildContext) -> BuildResult:
    native = as_native(ctx.teacher)
    if native is not None:  # what it cannot serve is refused before any download or call
        refuse(llm_only(params), "teacher")
    _check_pool(params, ctx)
    loaded = _load_prompts(params, ctx, native)
    skills, queries, lists_info = _stage_a(pool, params, ctx, native)
    train = _plan(skills, queries, params.n, params, ctx.seed)
    heldout = _heldout_plan(train, skills, queries, params, ctx.seed)
    calls = None
    if params.conversation or (params.variant != "standard" and native is None):
        from sftbench.datasets_builders.llm_calls import LLMCalls
        calls = LLMCalls(ctx.teacher, "teacher", "skillmix", "conversation/variants")
    rows, info = _write(train, params, ctx, calls, loaded)
    sidecars: dict[str, list[dict]] = {}
    if heldout:
        sidecars["heldout"], held_info = _write(heldout, params, ctx, calls, loaded, first=params.n)
        info["heldout"] = {"rows": len(sidecars["heldout"]), "rows_dropped": held_info.get("rows_dropped", {})}
    if params.variant != "standard":
        rows, variant_info = _variant(rows, params, ctx, calls, loaded.get("variant"), native)
        if used := {**info.get("prompts", {}), **variant_info.pop("prompts", {})}:
            info["prompts"] = used
        info.update(variant_info)
    if calls is not None:
        info.update(teacher=calls.fingerprint(), llm=calls.stats())
    info.update(skills_offered=len(skills), query_types=[q.query_str for q in queries], k=params.k, lists=lists_info)
    return BuildResult(rows, info, sidecars=sidecars)
