"""MT-Bench from a suite: the checkpoint answers both turns, an OpenAI-compatible judge (a real loopback server)
grades them, and the score lands in the leaderboard."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from sftbench.judges.llm.loopback.server import LoopbackServer
from sftbench.suites.engine.cli import main

from tests.conftest import shared_data

TINY = str(Path(__file__).resolve().parents[1] / "assets" / "tiny_suite.yaml")


def responder(messages, body, rng=random.Random(7)):
    """A judge that samples its grade: 6, 7 or 8 (so grading the same answer again can differ)."""
    text = messages[-1]["content"]
    return f"The answer is fine. Rating: [[{rng.choice((6, 7, 8))}]]" if "[[rating]]" in text else "M"


@pytest.mark.slow
def test_mt_bench_runs_from_a_suite_and_reaches_the_leaderboard(tmp_path, capsys):
    data = shared_data("mt_bench")
    with LoopbackServer(responder=responder) as server:
        judge = ("roles.judge={provider: openai_compatible, params: {model: loop-judge, base_url: '%s', "
                 "judge_mode: text}}" % server.base_url)
        args = ["run", TINY, "--runs-dir", str(tmp_path), "--quiet", "--set", judge,
                "--set", "datasets=[{name: random, builder: random, params: {k: 40}}]",
                "--set", "evaluation.mt_bench={enabled: true, data_dir: '%s', max_new_tokens: 12}" % data]
        assert main(args) == 0
    root = tmp_path / "tiny"
    judgments = [json.loads(line) for line in next(root.glob("mtjudge-*/judgments.jsonl")).open()]
    assert len(judgments) == 160 and {j["score"] for j in judgments} == {6, 7, 8}  # 80 questions x 2 turns
    answers = [json.loads(line) for line in next(root.glob("mtanswers-*/answers.jsonl")).open()]
    assert len(answers) == 80 and all(len(a["choices"][0]["turns"]) == 2 for a in answers)
    decoding = json.loads(next(root.glob("mtanswers-*/manifest.json")).read_text())["decoding"]
    assert decoding["max_new_tokens"] == 12 and decoding["template"] == "alpaca" and decoding["temperature"] == 0.0
    row = json.loads((root / "leaderboard.json").read_text())["leaderboard"][0]
    assert row["mt_bench.score"] == pytest.approx(sum(j["score"] for j in judgments) / 160)
    assert row["mt_bench.score_n_unparsed"] == 0
    md = (root / "leaderboard.md").read_text()
    assert "MT-Bench (1-10)" in md
    # the judge-noise floor: 50 stored grades graded again through an uncached client; a sampling judge moves them
    floor = json.loads(next(root.glob("mtnoisefloor-*/noise_floor.json")).read_text())
    assert floor["n"] == 50 and floor["sd_delta"] > 0 and not floor["deterministic"] and "flip_rate" not in floor
    assert all(e["rejudged"] in (6, 7, 8) for e in floor["examples"])
    results = json.loads((root / "results.json").read_text())
    assert results["noise_floors"]["mt_bench"]["sd_delta"] == floor["sd_delta"]
    assert "Judge noise floor (mt_bench): re-judging 50 stored annotations moved grades by sd" in md
    # FastChat's layout: model_answer/<model>.jsonl, one {question_id, model_id, choices: [{turns}]} per question
    # (what fastchat.llm_judge.common.load_model_answers reads; importing it needs the anthropic SDK)
    exported = [json.loads(line) for line in (root / "exports/mt_bench/model_answer/random-s0.jsonl").open()]
    assert len(exported) == 80 and all(a["model_id"] == "random-s0" and len(a["choices"][0]["turns"]) == 2
                                       for a in exported)


def test_mt_bench_with_the_world_judge_is_a_located_error(tmp_path, capsys):
    assert main(["validate", TINY, "--set", "evaluation.mt_bench={enabled: true}"]) == 2
    assert "evaluation.mt_bench needs an LLM judge" in capsys.readouterr().err
