"""MT-Bench from a suite: the checkpoint answers both turns, an OpenAI-compatible judge (a real loopback server)
grades them, and the score lands in the leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sftbench.judges.llm.loopback.server import LoopbackServer
from sftbench.suites.engine.cli import main

from tests.conftest import shared_data

TINY = str(Path(__file__).resolve().parents[1] / "assets" / "tiny_suite.yaml")


def responder(messages, body):
    text = messages[-1]["content"]
    return "The answer is fine. Rating: [[7]]" if "[[rating]]" in text else "M"


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
    assert len(judgments) == 160 and all(j["score"] == 7 for j in judgments)  # 80 questions x 2 turns
    answers = [json.loads(line) for line in next(root.glob("mtanswers-*/answers.jsonl")).open()]
    assert len(answers) == 80 and all(len(a["choices"][0]["turns"]) == 2 for a in answers)
    decoding = json.loads(next(root.glob("mtanswers-*/manifest.json")).read_text())["decoding"]
    assert decoding["max_new_tokens"] == 12 and decoding["template"] == "alpaca" and decoding["temperature"] == 0.0
    row = json.loads((root / "leaderboard.json").read_text())["leaderboard"][0]
    assert row["mt_bench.score"] == 7.0 and row["mt_bench.score_n_unparsed"] == 0
    assert "MT-Bench (1-10)" in (root / "leaderboard.md").read_text()
    # FastChat's layout: model_answer/<model>.jsonl, one {question_id, model_id, choices: [{turns}]} per question
    # (what fastchat.llm_judge.common.load_model_answers reads; importing it needs the anthropic SDK)
    exported = [json.loads(line) for line in (root / "exports/mt_bench/model_answer/random-s0.jsonl").open()]
    assert len(exported) == 80 and all(a["model_id"] == "random-s0" and len(a["choices"][0]["turns"]) == 2
                                       for a in exported)


def test_mt_bench_with_the_world_judge_is_a_located_error(tmp_path, capsys):
    assert main(["validate", TINY, "--set", "evaluation.mt_bench={enabled: true}"]) == 2
    assert "evaluation.mt_bench needs an LLM judge" in capsys.readouterr().err
