"""Contamination of a training set by evaluation prompts: exact matches of normalised prompts, and 13-gram overlap
(GPT-3's decontamination unit) between a row's whole text and an evaluation prompt. Normalising (Unicode NFKC,
lower case, punctuation to spaces, whitespace collapsed) makes trivial edits (case, punctuation, spacing) still
match; a reworded word breaks only the 13-grams that contain it.

Two refinements keep templated evaluation sets (the world's, GSM8K-like tasks) from flagging every row written from
the same templates: a 13-gram found in more than one evaluation prompt is the set's boilerplate, not any prompt's
content, and is not counted; and a row overlaps a prompt when it contains at least MIN_COVERAGE of that prompt's own
13-grams (a copy with a word changed in the middle keeps well over half of them)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

N = 13
MIN_COVERAGE = 0.2
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalize(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", unicodedata.normalize("NFKC", str(text)).lower()).replace("_", " ").split())


def ngrams(text: str, n: int = N) -> set[str]:
    """The word n-grams of a normalised text (none when it has fewer than n words)."""
    words = text.split()
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


@dataclass
class EvalIndex:
    """One evaluation set's normalised prompts, and each prompt's own n-grams (those no other prompt has)."""
    name: str
    prompts: set[str] = field(default_factory=set)
    owner: dict[str, int] = field(default_factory=dict)   # n-gram -> the one prompt that has it
    sizes: list[int] = field(default_factory=list)        # per prompt: how many own n-grams it has
    n: int = N

    @classmethod
    def of(cls, name: str, prompts: Iterable[str], n: int = N) -> "EvalIndex":
        index = cls(name, n=n)
        texts = sorted({t for t in (normalize(p) for p in prompts) if t})
        index.prompts = set(texts)
        seen: dict[str, int] = {}
        for i, text in enumerate(texts):
            for gram in ngrams(text, n):
                seen[gram] = -1 if gram in seen and seen[gram] != i else i
        index.owner = {g: i for g, i in seen.items() if i >= 0}
        index.sizes = [0] * len(texts)
        for i in index.owner.values():
            index.sizes[i] += 1
        return index

    def overlaps(self, text: str, min_coverage: float = MIN_COVERAGE) -> bool:
        """Whether `text` (normalised) holds at least `min_coverage` of some prompt's own n-grams."""
        hits: dict[int, int] = {}
        for gram in ngrams(text, self.n):
            i = self.owner.get(gram)
            if i is not None:
                hits[i] = hits.get(i, 0) + 1
        return any(count >= min_coverage * self.sizes[i] for i, count in hits.items())


def row_prompt(row: Mapping[str, Any]) -> str:
    """What a row asks: its instruction and input (Alpaca format), or its first user turn (conversations)."""
    if "instruction" in row:
        return f"{row.get('instruction') or ''}\n{row.get('input') or ''}"
    for turn in row.get("conversations") or row.get("messages") or []:
        if turn.get("role") in ("user", "human"):
            return str(turn.get("content") or "")
    return ""


def row_text(row: Mapping[str, Any]) -> str:
    """Everything a row trains on: instruction, input and output, or every turn."""
    if "instruction" in row:
        return "\n".join(str(row.get(k) or "") for k in ("instruction", "input", "output"))
    return "\n".join(str(t.get("content") or "") for t in row.get("conversations") or row.get("messages") or [])


def row_id(row: Mapping[str, Any], position: int) -> str | int:
    return row.get("id", position) if isinstance(row.get("id", position), (str, int)) else position


def check(rows: Sequence[Mapping[str, Any]], indexes: Sequence[EvalIndex]) -> dict[str, Any]:
    """Per evaluation set: rows whose normalised prompt equals an evaluation prompt (`exact`), rows holding at least
    MIN_COVERAGE of one prompt's own 13-grams (`ngram13`), with their ids; `contaminated_ids` the union over sets
    (what `decontaminate` drops)."""
    prompts = [normalize(row_prompt(r)) for r in rows]
    texts = [normalize(row_text(r)) for r in rows]
    by_eval: dict[str, Any] = {}
    flagged: set[int] = set()
    for index in indexes:
        exact = [i for i, p in enumerate(prompts) if p and p in index.prompts]
        overlap = [i for i, t in enumerate(texts) if index.overlaps(t)]
        by_eval[index.name] = {"eval_prompts": len(index.prompts), "exact": len(exact),
                               "exact_rows": [row_id(rows[i], i) for i in exact], f"ngram{index.n}": len(overlap),
                               f"ngram{index.n}_rows": [row_id(rows[i], i) for i in overlap]}
        flagged |= set(exact) | set(overlap)
    return {"n": indexes[0].n if indexes else N, "rows": len(rows), "contaminated_rows": len(flagged),
            "contaminated_ids": [row_id(rows[i], i) for i in sorted(flagged)], "by_eval": by_eval,
            "_positions": sorted(flagged)}


def decontaminate(rows: Sequence[Mapping[str, Any]], report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The rows `check` did not flag, in order."""
    drop = set(report["_positions"])
    return [r for i, r in enumerate(rows) if i not in drop]


__all__ = ["N", "MIN_COVERAGE", "normalize", "ngrams", "EvalIndex", "check", "decontaminate", "row_prompt", "row_text"]
