"""`longest` on the released data: Long-Is-More's 1k-longest rows in the random 9k sample; refinement by an LLM."""

from __future__ import annotations

import json
import re

from sftbench.datasets_builders.builders import longest
from sftbench.datasets_builders.builders.base import BuildContext
from sftbench.datasets_builders.formats import load_rows
from sftbench.datasets_builders.refine import extract_segments
from sftbench.suites.engine.cli import main
from sftbench.suites.engine.commands.build import build_to_file, load_roles_file
from sftbench.suites.engine.roles import RoleSpec

from tests.conftest import shared_data
from tests.datasets_builders.test_prompt_registry import UPSTREAM_LIKE, unpin

RANDOM_9K = "alpagasus_gpt4life/data/random/random_9k.json.gz"
LONGEST_1K = "long_is_more/data/alpaca/filtered_alpaca_1k_longest.json.gz"


def key(row):
    return row["instruction"], row["input"], row["output"]


def read(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_cli_selects_exactly_the_189_released_longest_rows_of_the_random_9k_sample(tmp_path, capsys):
    released = {key(r) for r in load_rows(shared_data(LONGEST_1K)).rows}
    sample = load_rows(shared_data(RANDOM_9K)).rows
    in_both = [r for r in sample if key(r) in released]
    assert len(in_both) == 189
    out = tmp_path / "longest.jsonl"
    assert main(["build", "longest", "--pool", str(shared_data(RANDOM_9K)), "--k", "189", "--out", str(out)]) == 0
    assert [key(r) for r in read(out)] == [key(r) for r in in_both]  # the same rows, in pool order
    card = json.loads(out.with_name("longest.jsonl.card.json").read_text())
    assert card["pool"]["sha256"].startswith("dbb217523fb7") and card["pool"]["dropped_empty_rows"] == 4
    assert card["response_length"]["n"] == 189 and card["rows_dropped"] == {"shorter_than_cutoff": 9036}


def test_the_released_set_is_a_fixed_point(tmp_path):
    rows = load_rows(shared_data(LONGEST_1K)).rows
    assert longest.build(rows, longest.Params(k=1000), BuildContext()).rows == rows
    top = longest.build(rows, longest.Params(k=500), BuildContext()).rows
    assert longest.build(top, longest.Params(k=500), BuildContext()).rows == top
    out = tmp_path / "again.jsonl"
    assert main(["build", "longest", "--pool", f"alpaca={shared_data(LONGEST_1K)}", "--k", "1000",
                 "--out", str(out)]) == 0
    assert [key(r) for r in read(out)] == [key(r) for r in rows]


def test_extract_segments_follows_upstream():
    assert extract_segments("why...\n[Better Answer] new text [End]") == ["new text"]
    assert extract_segments("[Better Answer] a [Better Answer] b") == ["a"]  # the 2nd tag ends the 1st segment
    assert extract_segments("[Better Answer] a [Better Answer] b [Better Answer] c") == ["a", "c"]  # not usable
    assert extract_segments("[Revised Answer] r") == ["r"]
    assert extract_segments("no markers") == [""]


def refiner(messages, body):
    user = messages[-1]["content"]
    if "UNPARSEABLE" in user:
        return "I refuse to use the markers."
    answer = re.search(r"\[A\]\n(.*?)\n", user) or re.search(r"## Answer\n(.*?)\n", user)
    return f"It is short.\n[Better Answer] Refined: {answer.group(1)[:30]} [End]"


def test_refine_with_the_papers_prompt_shape_and_ours(tmp_path, llm_role, monkeypatch):
    unpin(monkeypatch, "long_is_more_refine")
    teacher, server = llm_role("teacher", refiner)
    pool = [{"instruction": "say hi", "input": "", "output": "hi there " * 5},
            {"instruction": "UNPARSEABLE", "input": "", "output": "word " * 20},
            {"instruction": "sum", "input": "1 2", "output": "3"}]
    copy = tmp_path / "refine_responses.py"
    copy.write_text(UPSTREAM_LIKE)
    params = longest.Params(k=3, refine=True, prompt_copy=copy)
    out = longest.build(pool, params, BuildContext(teacher=teacher))
    assert out.rows[0]["output"].startswith("Refined: hi there") and out.rows[1] == pool[1]
    assert out.info["refinement"] == {"refined": 2, "kept_original_unparseable": 1,
                                      "parser": "long-is-more-extract-segments-v1"}
    assert out.info["llm"]["calls"] == 3 and out.info["prompts"]["refine"]["name"] == "long_is_more_refine"
    assert longest.roles(params) == ("teacher",) and longest.roles(longest.Params()) == ()
    ours = longest.build(pool, longest.Params(k=3, refine=True, refine_prompt="ours_refine"),
                         BuildContext(teacher=teacher))
    assert ours.rows[0]["output"].startswith("Refined: hi there") and ours.info["refinement"]["refined"] == 2


def test_refine_from_the_build_command_records_calls_and_prompt_hash(tmp_path, llm_role):
    _, server = llm_role("teacher", refiner)
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"instruction": f"q{i}", "output": "answer " * i}) + "\n" for i in range(1, 6)))
    (tmp_path / "roles.yaml").write_text(f"roles:\n  teacher: {{provider: openai_compatible, params: "
                                         f"{{model: loop, base_url: '{server.base_url}'}}}}\n")
    roles = load_roles_file(tmp_path / "roles.yaml")
    assert roles.teacher == RoleSpec(provider="openai_compatible",
                                     params={"model": "loop", "base_url": server.base_url})
    card = build_to_file("longest", str(pool), tmp_path / "out.jsonl", k=2, params={"refine": True,
                         "refine_prompt": "ours_refine"}, roles=roles, progress=False)
    assert card["size"] == 2 and card["refinement"]["refined"] == 2 and card["llm_cost"]["calls"] == 2
    assert card["prompt_ids"]["ours_refine"] == card["prompts"]["refine"]["sha256"]
    assert all(r["output"].startswith("Refined:") for r in read(tmp_path / "out.jsonl"))
