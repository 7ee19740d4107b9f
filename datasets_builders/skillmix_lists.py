"""Instruct-SkillMix stage A: the skill list and the query-type list.

Either the released lists (`datasets/<generator>/skills.txt`, `queries.txt` of princeton-pli/Instruct-SkillMix at a
pinned commit, sha256-verified, cached; a local copy may stand in), or lists the teacher writes: SDA (asked
directly) or SDD (the skills each seed example needs, from a seed dataset). Lists are parsed as upstream: skills
one per line; query types split on '###', each '**Name**' followed by its definition. A native teacher (the
world's, datasets_builders/native.py) extracts SDA and SDD lists itself, from its own skills, with no prompt.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from sftbench.datasets_builders.llm_calls import LLMCalls
from sftbench.datasets_builders.native import NativeTeacher
from sftbench.common.rows import Row
from sftbench.judges.prompt_registry import fetch_pinned, fill, load_prompt, raw_url

ISM_REPO, ISM_COMMIT = "princeton-pli/Instruct-SkillMix", "04e130ea37a3b365d531a1076a1afe1cb91b68df"
RELEASED_SHA256 = {  # sha256 of the released files (as ../shared/data/instruct_skillmix/SOURCES.md records them)
    ("gpt-4-turbo-2024-04-09", "skills"): "913e34d77d8d18742a5665af4e9b0c31e9c2feb0e23c966b4ab72c6fe0942467",
    ("gpt-4-turbo-2024-04-09", "queries"): "0dd1243655bfe5619d99160c9f83debef6b117aa026d6b7796258b2b0fc64a43",
    ("claude-3-5-sonnet-20240620", "skills"): "406d5724736ae75674fa681a262bae9bb035d1e28bf1b807a121a01a9b37380f",
    ("claude-3-5-sonnet-20240620", "queries"): "c440cb353f4209e071ef3c97430e8ef6ac85590ab1b2862b2d272b024f2a6bee",
}
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")


@dataclass(frozen=True)
class QueryType:
    query_str: str      # the name, e.g. 'Information-Seeking' (the `### Task Type:` line)
    query_type: str     # 'Name: definition' (what the generation prompt shows)


def parse_skills(text: str) -> list[str]:
    """One skill per line (upstream splits on newlines; blank lines are left out here)."""
    return [line.strip() for line in text.split("\n") if line.strip()]


def parse_query_types(text: str) -> list[QueryType]:
    """Upstream's get_query_and_def over the '###' blocks; a leading 'Definition:' label (Claude's list) is skipped."""
    out = []
    for block in text.split("###"):
        if not block.strip():
            continue
        parts = [p.strip() for p in block.split("*") if p.strip()]
        if len(parts) < 3:
            raise ValueError(f"query-type block {block.strip()[:60]!r} lacks '**Name**' and a definition")
        name, definition = parts[1], parts[2]
        if definition.endswith(":") and len(parts) > 3:
            definition = parts[3]
        out.append(QueryType(name, f"{name}: {definition}"))
    return out


def load_released(generator: str, skills_path: Path | None = None, queries_path: Path | None = None,
                  cache_dir: Path | None = None) -> tuple[list[str], list[QueryType], dict[str, Any]]:
    """The released lists of one generator (downloaded and cached, or local copies; both sha256-verified)."""
    if (generator, "skills") not in RELEASED_SHA256:
        known = sorted({g for g, _ in RELEASED_SHA256})
        raise ValueError(f"no released Instruct-SkillMix lists for generator {generator!r}; known: {known}")
    texts, info = {}, {}
    for kind, local in (("skills", skills_path), ("queries", queries_path)):
        url = raw_url(ISM_REPO, ISM_COMMIT, f"datasets/{generator}/{kind}.txt")
        data, where = fetch_pinned(url, RELEASED_SHA256[(generator, kind)], cache_dir, local)
        texts[kind] = data.decode("utf-8")
        info[kind] = {"source": where, "sha256": RELEASED_SHA256[(generator, kind)]}
    return parse_skills(texts["skills"]), parse_query_types(texts["queries"]), {"released": generator, **info}


def _skill_lines(text: str) -> list[str]:
    names = []
    for line in text.splitlines():
        name = re.sub(r"^[\s\-*\d.)]+", "", line).strip().strip("`*").lower().replace(" ", "_").replace("-", "_")
        if _SNAKE.match(name):
            names.append(name)
    return names


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _queries(calls: LLMCalls, n_queries: int, seed: int, progress: bool) -> tuple[list[QueryType], dict]:
    prompt = load_prompt("ours_skillmix_sda_queries")

    async def ask() -> str:
        text = fill(prompt.parts["text"], n=n_queries)
        return (await calls.ask(calls.request([{"role": "user", "content": text}], seed=seed))).text
    [answer] = calls.run([ask()], "query types", progress)
    try:
        queries = parse_query_types(answer)
    except ValueError as exc:
        raise ValueError(f"skillmix SDA: the teacher's query-type list could not be parsed ({exc}); "
                         f"answer began {answer[:200]!r}") from None
    return queries[:n_queries], prompt.card()


def extract_sda(calls: LLMCalls, n_skills: int, n_queries: int, seed: int, progress: bool = False,
                max_rounds: int = 8) -> tuple[list[str], list[QueryType], dict[str, Any]]:
    """SDA: the teacher names skills (asked again with new seeds until n_skills distinct) and query types."""
    prompt = load_prompt("ours_skillmix_sda_skills")
    skills: list[str] = []
    for round_ in range(max_rounds):
        async def ask(r: int = round_) -> str:
            text = fill(prompt.parts["text"], n=n_skills)
            return (await calls.ask(calls.request([{"role": "user", "content": text}], seed=seed + r))).text
        [answer] = calls.run([ask()], "skills", progress)
        skills = _unique(skills + _skill_lines(answer))
        if len(skills) >= n_skills:
            break
    queries, query_card = _queries(calls, n_queries, seed, progress)
    return skills[:n_skills], queries, {"extracted": "sda", "prompts": {"skills": prompt.card(), "queries": query_card}}


def extract_sdd(calls: LLMCalls, seed_rows: Sequence[Row], n_rows: int, n_queries: int, seed: int,
                per_row: int = 3, progress: bool = False) -> tuple[list[str], list[QueryType], dict[str, Any]]:
    """SDD: the skills each of `n_rows` seeded-random seed examples needs, merged in order; query types as SDA."""
    prompt = load_prompt("ours_skillmix_sdd_skills")
    sample = random.Random(seed).sample(list(seed_rows), min(n_rows, len(seed_rows)))

    async def ask(row: Row) -> list[str]:
        text = fill(prompt.parts["text"], instruction=row["instruction"], output=row["output"], k=per_row)
        return _skill_lines((await calls.ask(calls.request([{"role": "user", "content": text}], seed=seed))).text)
    found = calls.run([ask(r) for r in sample], "skills (SDD)", progress)
    queries, query_card = _queries(calls, n_queries, seed, progress)
    skills = _unique([s for names in found for s in names[:per_row]])
    return skills, queries, {"extracted": "sdd", "seed_rows": len(sample),
                             "prompts": {"skills": prompt.card(), "queries": query_card}}


def extract_native(teacher: NativeTeacher, how: str, seed_rows: Sequence[Row], n_skills: int, n_rows: int,
                   n_queries: int, seed: int, per_row: int = 3) -> tuple[list[str], list[QueryType], dict[str, Any]]:
    """SDA (`how='sda'`: up to n_skills named by the teacher) or SDD (the skills of `n_rows` seeded-random seed
    examples, up to `per_row` each, merged in order, as `extract_sdd`) by a native teacher; its query types."""
    if how == "sda":
        skills, extra = teacher.name_skills(n_skills, seed), {}
    else:
        sample = random.Random(seed).sample(list(seed_rows), min(n_rows, len(seed_rows)))
        skills = _unique([s for row in sample for s in teacher.skills_needed(row)[:per_row]])
        extra = {"seed_rows": len(sample)}
    queries = [QueryType(q, q) for q in teacher.name_query_types(n_queries)]
    return skills, queries, {"extracted": how, "by": "native teacher (no prompt)", **extra}


__all__ = ["QueryType", "parse_skills", "parse_query_types", "load_released", "extract_sda", "extract_sdd",
           "extract_native", "RELEASED_SHA256"]
