"""`alpagasus` against a local rater server, on the 1,972 Alpaca rows Long-Is-More released with their ratings."""

from __future__ import annotations

import math
import re

import pytest
from sftbench.datasets_builders.builders import alpagasus
from sftbench.datasets_builders.builders.base import BuildContext
from sftbench.datasets_builders.formats import load_rows

from sftbench.common.rows import write_jsonl
from tests.conftest import shared_data
from tests.datasets_builders.test_prompt_registry import UPSTREAM_LIKE, unpin

LONGEST = "long_is_more/data/alpaca/filtered_alpaca_1k_longest.json.gz"
SCORE_1K = "long_is_more/data/alpaca/filtered_alpaca_1k_score.json"
FIELDS = re.compile(r"#{2,3} ?Instruction:?\n(.*?)\n\n### Input:?\n", re.S)


@pytest.fixture(scope="module")
def rated_pool():
    """Both released files, one row per Alpaca id, in Alpaca order; each row's released rating in meta.score."""
    rows = {r["id"]: r for path in (LONGEST, SCORE_1K) for r in load_rows(shared_data(path)).rows}
    return [rows[i] for i in sorted(rows, key=lambda i: int(i.split("_")[1]))]


def rater_for(pool):
    scores = {r["instruction"]: r["meta"]["score"] for r in pool if "meta" in r}

    def respond(messages, body):
        instruction = FIELDS.search(messages[-1]["content"]).group(1)
        return f"{scores[instruction]}\nThe answer is accurate enough." if instruction in scores else "no idea"
    return respond


def test_keeps_exactly_the_rows_scoring_at_least_4_5_then_reuses_scores_for_the_1k_rule(rated_pool, llm_role,
                                                                                       tmp_path):
    rater, server = llm_role("rater", rater_for(rated_pool))
    out = alpagasus.build(rated_pool, alpagasus.Params(), BuildContext(rater=rater))
    assert [r["id"] for r in out.rows] == [r["id"] for r in rated_pool if r["meta"]["score"] >= 4.5]
    assert len(out.rows) == 1249 and server.billable == len(rated_pool) == 1972
    assert out.info["score_histogram"] == {"3": 8, "3.5": 537, "4": 178, "4.5": 1238, "5": 11}
    assert out.info["rows_dropped"] == {"below_threshold": 723}
    write_jsonl(tmp_path / "scores.jsonl", out.sidecars["scores"])

    # Long-Is-More's AlpaGasus-1k: every 5.0 row, then a seeded uniform sample of 4.5 rows; no new rating calls
    params = alpagasus.Params(variant="1k", scores_from=tmp_path / "scores.jsonl")
    one_k = alpagasus.build(rated_pool, params, BuildContext(rater=rater, seed=3))
    assert server.billable == 1972 and one_k.info["scores_reused"] == 1972
    released = load_rows(shared_data(SCORE_1K)).rows
    assert [r["id"] for r in one_k.rows[:11]] == [r["id"] for r in released[:11]]  # the 5.0 rows, in pool order
    assert len(one_k.rows) == 1000 and len({r["id"] for r in one_k.rows}) == 1000
    assert all(r["meta"]["score"] == 4.5 for r in one_k.rows[11:])
    other = alpagasus.build(rated_pool, params, BuildContext(rater=rater, seed=4)).rows
    assert other[:11] == one_k.rows[:11] and other[11:] != one_k.rows[11:]  # the sample depends on the seed

    # on exactly the released rows (in Alpaca order) the rule gives back the released set, 5.0 rows first
    pool = sorted(released, key=lambda r: int(r["id"].split("_")[1]))
    rebuilt = alpagasus.build(pool, params, BuildContext(rater=rater)).rows
    assert {r["id"] for r in rebuilt} == {r["id"] for r in released} and rebuilt[:11] == released[:11]


def test_the_papers_prompt_shape_is_parsed_as_upstream(rated_pool, llm_role, tmp_path, monkeypatch):
    unpin(monkeypatch, "alpagasus_rating")
    pool = rated_pool[:40] + [{"instruction": "not rated", "input": "", "output": "x"}]
    rater, server = llm_role("rater", rater_for(pool))
    copy = tmp_path / "chatgpt_rating.py"
    copy.write_text(UPSTREAM_LIKE)
    params = alpagasus.Params(prompt="alpagasus_rating", prompt_copy=copy, threshold=4.0)
    out = alpagasus.build(pool, params, BuildContext(rater=rater))
    assert [r["instruction"] for r in out.rows] == [r["instruction"] for r in pool[:40] if r["meta"]["score"] >= 4]
    assert out.info["rows_dropped"]["unparseable_rating"] == 1 and out.info["llm"]["calls"] == 41
    assert out.info["prompts"]["rating"]["name"] == "alpagasus_rating" and alpagasus.prompts(params) == [
        "alpagasus_rating"]
    first = server.arrivals and next(iter(server.arrivals))
    assert first.startswith("###Instruction:\n") and first.endswith("Score 0-5 on the first line.")


def test_upstream_score_parsing():
    assert alpagasus.parse_alpagasus_score("4.5\nfine") == 4.5
    assert math.isnan(alpagasus.parse_alpagasus_score("Score: 4.5"))  # upstream's get_scores: first line only
    assert math.isnan(alpagasus.parse_alpagasus_score("7\n"))
    assert alpagasus.select_1k([5.0, 4.5, 4.5, 5.0, 3.0], 4.5, 5.0, 3, seed=0)[:2] == [0, 3]
