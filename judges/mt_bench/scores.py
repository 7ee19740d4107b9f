"""MT-Bench score tables from judgments: overall, per turn, per category, with the unparsed items counted.

As FastChat's `show_result.py --mode single`: a score is the mean rating over judgments with a rating (score
!= -1), overall = the mean over both turns' judgments. Unlike show_result, nothing disappears silently: every
table reports how many judgments were expected, parsed and unparsed, and `complete` is true only when every
question has a parsed rating for both turns.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

from sftbench.judges.injection import count_flagged

CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def mt_bench_scores(judgments: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """{score, turn_1, turn_2, by_category, table, n_questions, n_judgments, n_parsed, n_unparsed, complete, ...}."""
    parsed = [j for j in judgments if j["score"] != -1 and not j.get("failed")]
    by_turn: dict[int, list[float]] = defaultdict(list)
    by_cat: dict[str, list[float]] = defaultdict(list)
    by_cat_turn: dict[tuple[str, int], list[float]] = defaultdict(list)
    for j in parsed:
        by_turn[j["turn"]].append(float(j["score"]))
        by_cat[j["category"]].append(float(j["score"]))
        by_cat_turn[(j["category"], j["turn"])].append(float(j["score"]))
    categories = [c for c in CATEGORIES if any(j["category"] == c for j in judgments)]
    categories += sorted({j["category"] for j in judgments} - set(categories))
    unparsed_by_cat = defaultdict(int)
    for j in judgments:
        if j["score"] == -1 or j.get("failed"):
            unparsed_by_cat[j["category"]] += 1
    table = [{"category": c, "turn_1": _mean(by_cat_turn[(c, 1)]), "turn_2": _mean(by_cat_turn[(c, 2)]),
              "score": _mean(by_cat[c]), "n_unparsed": unparsed_by_cat[c]} for c in categories]
    questions = {j["question_id"] for j in judgments}
    n_unparsed = len(judgments) - len(parsed)
    turns_complete = all(len({(j["question_id"], j["turn"]) for j in parsed if j["turn"] == t}) == len(questions)
                         for t in (1, 2))
    return {
        "score": _mean([float(j["score"]) for j in parsed]),
        "turn_1": _mean(by_turn[1]), "turn_2": _mean(by_turn[2]),
        "by_category": {row["category"]: row["score"] for row in table},
        "table": table,
        "n_questions": len(questions), "n_judgments": len(judgments), "n_parsed": len(parsed),
        "n_unparsed": n_unparsed, "complete": n_unparsed == 0 and turns_complete,
        "n_flagged_injection": count_flagged(judgments),
    }


def scores_markdown(scores: dict[str, Any]) -> str:
    """The per-category table as markdown, with the overall row and the unparsed count."""
    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.2f}"
    lines = ["| category | turn 1 | turn 2 | score | unparsed |", "|---|---:|---:|---:|---:|"]
    for row in scores["table"]:
        lines.append(f"| {row['category']} | {fmt(row['turn_1'])} | {fmt(row['turn_2'])} | {fmt(row['score'])} "
                     f"| {row['n_unparsed']} |")
    lines.append(f"| **overall** | {fmt(scores['turn_1'])} | {fmt(scores['turn_2'])} | {fmt(scores['score'])} "
                 f"| {scores['n_unparsed']} |")
    return "\n".join(lines)


__all__ = ["mt_bench_scores", "scores_markdown", "CATEGORIES"]
