"""`sftbench build` for every builder, on the built-in world and on real files in any layout."""

from __future__ import annotations

import json

import pytest
from sftbench.datasets_builders.registry import BUILDERS, prompt_ids, roles_used
from sftbench.suites.engine.cli import main

from tests.conftest import shared_data

LIMA = "long_is_more/data/lima/fastchat_lima_1k.json.gz"
HELDOUT = "instruct_skillmix/datasets/ism_sda_heldout_k2_100.json"


def read(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


@pytest.mark.parametrize("builder,pool,args,size", [
    ("random", HELDOUT, ["--k", "7"], 7), ("full", HELDOUT, ["--k", "9"], 9), ("longest", HELDOUT, ["--k", "8"], 8),
    ("alpagasus", "world", ["--k", "6"], 6), ("lima", "world", ["--k", "5"], 5),
    ("skillmix", "world", ["--k", "4"], 4), ("lima", HELDOUT, ["--k", "12", "--param", f"path={LIMA}"], 12),
    ("file", HELDOUT, ["--param", f"path={HELDOUT}"], 100),
])
def test_every_builder_from_the_command_line(tmp_path, builder, pool, args, size, capsys):
    args = [a if not a.startswith("path=") else "path=" + str(shared_data(a[5:])) for a in args]
    out = tmp_path / f"{builder}.jsonl"
    pool = pool if pool == "world" else str(shared_data(pool))
    assert main(["build", builder, "--pool", pool, "--out", str(out), *args]) == 0, capsys.readouterr().err
    rows = read(out)
    assert len(rows) == size and all(r["instruction"] and r["output"] for r in rows)
    card = json.loads(out.with_name(out.name + ".card.json").read_text())
    assert card["builder"] == builder and card["size"] == size and "word_histogram" in card["response_length"]
    assert card["prompt_ids"] == {} and card["pool"]["source"] in ("world", "file")
    if builder == "alpagasus":
        scores = read(out.with_name(out.name + ".scores.jsonl"))
        assert len(scores) == 20000 and {"row", "sha256", "score"} <= scores[0].keys()
    if builder == "file":
        assert card["source"]["sha256"].startswith("0606abd976e3") and card["source"]["rows"] == 100


def test_build_reports_pool_problems_with_file_row_and_field(tmp_path, capsys):
    bad = tmp_path / "pool.json"
    bad.write_text(json.dumps([{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": 5}]}]))
    assert main(["build", "random", "--pool", str(bad), "--k", "1", "--out", str(tmp_path / "o.jsonl")]) == 2
    assert f"{bad}:1: field 'conversations[1].value' must be a string (got 5)" in capsys.readouterr().err
    assert main(["build", "file", "--pool", "world", "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "path" in capsys.readouterr().err


def test_registry_knows_every_builder_roles_and_prompt_ids():
    assert "file" in BUILDERS
    assert roles_used("longest", {"refine": True}) == ("teacher",) and roles_used("longest", {}) == ()
    assert roles_used("alpagasus") == ("rater",)
    ids = prompt_ids("skillmix", {"conversation": "skillmix_gpt4", "variant": "brevity"})
    assert ids["skillmix_gpt4"] == "01de592e6d0a1f7eaeac4d7c74a0b0f08cbbd675604e66460e9e00b02003dfbf"
    assert ids["skillmix_brevity"] == "0b31e067da1ab62214820b99e62f071e9f7506ab110a26decbab5107334627a5"
    assert len(prompt_ids("alpagasus", {"prompt": "ours_rating"})["ours_rating"]) == 64


def test_lima_keeps_multi_turn_conversations_or_leaves_them_out(tmp_path):
    lima_like = [{"conversations": ["q1", "a1"], "source": "stackexchange"},
                 {"conversations": ["q2", "a2", "follow-up", "a3"], "source": "multi_turn"}]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lima_like))
    out = tmp_path / "lima.jsonl"
    assert main(["build", "lima", "--pool", str(path), "--param", f"path={path}", "--out", str(out)]) == 0
    rows = read(out)
    assert [r["output"] for r in rows] == ["a1", "a2"] and "messages" not in rows[0]
    assert [m["content"] for m in rows[1]["messages"]] == ["q2", "a2", "follow-up", "a3"]
    assert json.loads(out.with_name("lima.jsonl.card.json").read_text())["multi_turn_rows"] == 1
    assert main(["build", "lima", "--pool", str(path), "--param", f"path={path}", "--param", "multi_turn=false",
                 "--out", str(out)]) == 0
    assert [r["output"] for r in read(out)] == ["a1"]


def test_expected_calls_for_cost_estimates():
    from sftbench.datasets_builders.registry import expected_calls
    assert expected_calls("alpagasus", {}, 500) == {"rater": 500}
    assert expected_calls("longest", {"k": 10, "refine": True}, 5) == {"teacher": 5}
    assert expected_calls("random", {}, 5) == {}
    assert expected_calls("skillmix", {"n": 10, "conversation": "skillmix_gpt4", "variant": "shirker"}, 0) == {
        "teacher": 52}
    assert expected_calls("skillmix", {"n": 10}, 0) == {"teacher": 10}
