"""`alpagasus`: a rater scores every row 0-5; keep rows scoring >= threshold (4.5), optionally capped at k.

Variants: `threshold` (AlpaGasus; with a cap, the highest scores are kept first, ties at the cut broken by a seeded
shuffle; returned in pool order) and `1k` (Long-Is-More's AlpaGasus-1k: every row with the top score, in pool
order, then a seeded uniform sample of the rows scoring from the threshold up to the top score, in sample order,
up to k). Prompt: the rater role's own (default), or a registry prompt such as `alpagasus_rating` (the paper's exact
prompt, parsed as upstream: the first line as a number). Every score is saved (`scores` sidecar, with each row's
content sha256); `scores_from` reuses such a file, so a new threshold or variant rates nothing again.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any, Literal, Sequence

from pydantic import Field, model_validator

from sftbench.datasets_builders.builders.base import BuildContext, BuilderParams, BuildResult, need
from sftbench.datasets_builders.card import row_sha
from sftbench.datasets_builders.llm_calls import LLMCalls
from sftbench.datasets_builders.native import LLMOnly
from sftbench.common.rows import Row
from sftbench.judges.prompt_registry import LoadedPrompt, fill, load_prompt
from sftbench.judges.protocols import rate_all

ROLES = ("rater",)  # LLM roles this builder calls
SIZE_FIELD = "k"  # what `sftbench build --k` sets
PARSER_VERSION = "alpagasus-first-line-v1"


class Params(BuilderParams):
    threshold: float = Field(4.5, ge=0, le=5)
    k: int | None = Field(None, gt=0, description="keep at most k rows (the 1k variant: exactly k when possible)")
    variant: Literal["threshold", "1k"] = "threshold"
    top_score: float = Field(5.0, ge=0, le=5, description="1k variant: rows at or above it are all kept")
    prompt: str | None = Field(None, description="None: the rater role's prompt; else a registry name or a file")
    prompt_copy: Path | None = Field(None, description="local copy of an upstream prompt file (offline)")
    scores_from: Path | None = Field(None, description="scores.jsonl of an earlier build to reuse")

    @model_validator(mode="after")
    def _k_for_1k(self) -> "Params":
        if self.variant == "1k" and self.k is None:
            self.k = 1000
        return self


def prompts(params: Params) -> list[str]:
    return [params.prompt] if params.prompt else []


def llm_only(params: Params, world_pool: bool = True) -> list[LLMOnly]:
    """What these params ask of the rater that only an LLM rater serves (the world rater scores world rows)."""
    out = []
    if params.prompt:
        out.append(LLMOnly("rater", "params.prompt", f"the rating prompt {params.prompt!r}",
                           "scores with the world's checkers and follows no prompt", "remove params.prompt"))
    if not world_pool and params.scores_from is None:
        out.append(LLMOnly("rater", "pool", "rating a pool that is not the built-in world",
                           "only rates world rows", "use the world pool"))
    return out


def expected_calls(params: Params, pool_rows: int) -> dict[str, int]:
    """Rater calls at most (rows with saved scores are not rated again)."""
    return {"rater": pool_rows}


def select_by_score(scores: Sequence[float], threshold: float, k: int | None, seed: int) -> list[int]:
    kept = [i for i, s in enumerate(scores) if s >= threshold]
    if k is not None and len(kept) > k:
        tiebreak = {i: r for r, i in enumerate(random.Random(seed).sample(kept, len(kept)))}
        kept = sorted(kept, key=lambda i: (-scores[i], tiebreak[i]))[:k]
    return sorted(kept)


def select_1k(scores: Sequence[float], threshold: float, top_score: float, k: int, seed: int) -> list[int]:
    """Long-Is-More's rule: all top-score rows (pool order), then a seeded sample of [threshold, top) rows."""
    rng = random.Random(seed)
    top = [i for i, s in enumerate(scores) if s >= top_score]
    if len(top) >= k:
        return sorted(rng.sample(top, k))
    rest = [i for i, s in enumerate(scores) if threshold <= s < top_score]
    return top + rng.sample(rest, min(k - len(top), len(rest)))


def parse_alpagasus_score(review: str) -> float:
    """Upstream (rating/get_scores.py): the first line as a float; anything else is unparseable (NaN)."""
    try:
        score = float(review.split("\n")[0])
    except ValueError:
        return math.nan
    return score if 0.0 <= score <= 5.0 else math.nan


def rating_messages(prompt: LoadedPrompt, row: Row) -> list[dict[str, str]]:
    fields = {"instruction": row["instruction"], "input": row.get("input", ""), "output": row["output"]}
    if {"system", "user", "triplet"} <= prompt.parts.keys():  # the paper's: triplet + user prompt after a system one
        return [{"role": "system", "content": prompt.parts["system"]},
                {"role": "user", "content": fill(prompt.parts["triplet"], **fields) + prompt.parts["user"]}]
    from sftbench.judges.llm.prompts import PromptTemplate
    return [dict(m) for m in PromptTemplate(prompt.parts["text"], prompt.source).render(**fields)]


def _rate_with_prompt(rows: Sequence[Row], params: Params, ctx: BuildContext, info: dict[str, Any]) -> list[float]:
    calls = LLMCalls(ctx.rater, "rater", "alpagasus", f"prompt {params.prompt!r}")
    prompt = load_prompt(params.prompt, params.prompt_copy, ctx.cache_dir)  # type: ignore[arg-type]

    async def one(row: Row) -> float:
        response = await calls.ask(calls.request(rating_messages(prompt, row)))
        return parse_alpagasus_score(response.text)
    scores = calls.run([one(r) for r in rows], "rate", ctx.progress)
    info.update(rater=calls.fingerprint(), prompts={"rating": prompt.card()}, parser=PARSER_VERSION,
                llm=calls.stats())
    return scores


def _rate(rows: Sequence[Row], params: Params, ctx: BuildContext, info: dict[str, Any]) -> list[float]:
    if params.prompt:
        return _rate_with_prompt(rows, params, ctx, info)
    rater = need(ctx.rater, "rater", "alpagasus")
    info["rater"] = rater.fingerprint
    return rate_all(rater, rows, progress=ctx.progress)


def _saved_scores(path: Path | None) -> dict[str, float]:
    if path is None:
        return {}
    out = {}
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            record = json.loads(line)
            if "sha256" not in record or "score" not in record:
                raise ValueError(f"{path}:{lineno}: a scores file needs 'sha256' and 'score' on every line")
            out[record["sha256"]] = float(record["score"])
    return out


def build(pool: Sequence[Row], params: Params, ctx: BuildContext) -> BuildResult:
    shas = [row_sha(row) for row in pool]
    saved = _saved_scores(params.scores_from)
    todo = [i for i, sha in enumerate(shas) if sha not in saved]
    info: dict[str, Any] = {"rater": None}
    fresh = _rate([pool[i] for i in todo], params, ctx, info) if todo else []
    scores = [saved.get(sha, math.nan) for sha in shas]
    for i, score in zip(todo, fresh):
        scores[i] = score
    if params.variant == "1k":
        chosen = select_1k(scores, params.threshold, params.top_score, params.k or 1000, ctx.seed)
    else:
        chosen = select_by_score(scores, params.threshold, params.k, ctx.seed)
    unrated = sum(math.isnan(s) for s in scores)  # NaN (unparseable) never passes the threshold
    above = sum(s >= params.threshold for s in scores)
    histogram: dict[str, int] = {}
    for s in scores:
        histogram[f"{s:g}"] = histogram.get(f"{s:g}", 0) + 1
    dropped = {"unparseable_rating": unrated, "below_threshold": len(scores) - above - unrated,
               "above_threshold_not_sampled": above - len(chosen)}
    info.update(score_histogram=dict(sorted(histogram.items())), rows_above_threshold=above,
                scores_reused=len(pool) - len(todo), rows_dropped={k: v for k, v in dropped.items() if v})
    sidecar = [{"row": i, "sha256": sha, "score": s} for i, (sha, s) in enumerate(zip(shas, scores))]
    return BuildResult([pool[i] for i in chosen], info, sidecars={"scores": sidecar})
