"""Dataset cards: what was built, from what, how, and what it looks like."""

from __future__ import annotations

import hashlib
import json
import statistics
from typing import Any, Sequence

from sftbench.datasets_builders.lengths import nltk_word_count
from sftbench.common.rows import Row

CARD_VERSION = 1
HISTOGRAM_EDGES = (0, 5, 10, 25, 50, 100, 200, 400, 800, 1600)


def _core_line(row: Row) -> bytes:
    core = {"instruction": row["instruction"], "input": row.get("input", ""), "output": row["output"]}
    return (json.dumps(core, ensure_ascii=False, sort_keys=True) + "\n").encode()


def content_hash(rows: Sequence[Row]) -> str:
    """sha256 of the dataset's JSONL lines (instruction, input, output only)."""
    h = hashlib.sha256()
    for row in rows:
        h.update(_core_line(row))
    return h.hexdigest()


def row_sha(row: Row) -> str:
    """sha256 of one row's instruction, input and output (keys saved scores and matches rows across files)."""
    return hashlib.sha256(_core_line(row)).hexdigest()


def length_stats(rows: Sequence[Row]) -> dict[str, Any]:
    words = [nltk_word_count(r["output"]) for r in rows]
    chars = [len(r["output"]) for r in rows]
    if not rows:
        return {"n": 0}
    hist = {f"{lo}-{hi}": 0 for lo, hi in zip(HISTOGRAM_EDGES, HISTOGRAM_EDGES[1:])}
    hist[f"{HISTOGRAM_EDGES[-1]}+"] = 0
    for w in words:
        label = next((f"{lo}-{hi}" for lo, hi in zip(HISTOGRAM_EDGES, HISTOGRAM_EDGES[1:]) if w < hi),
                     f"{HISTOGRAM_EDGES[-1]}+")
        hist[label] += 1
    return {"n": len(rows), "mean_words": round(statistics.fmean(words), 2), "median_words": statistics.median(words),
            "max_words": max(words), "mean_chars": round(statistics.fmean(chars), 2),
            "word_histogram": hist}


def make_card(rows: Sequence[Row], builder: str, params: dict[str, Any], pool: dict[str, Any],
              info: dict[str, Any], seed: int) -> dict[str, Any]:
    return {"card_version": CARD_VERSION, "builder": builder, "params": params, "seed": seed, "pool": pool,
            "size": len(rows), "content_sha256": content_hash(rows), "response_length": length_stats(rows), **info}
