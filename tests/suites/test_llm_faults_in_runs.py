"""LLM faults seen from a run (a real loopback server as the judge): a rejected key stops after one request, retries
are summarised in the step's manifest, and a judge moved to another port re-runs nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sftbench.judges.llm.loopback.server import LoopbackServer
from sftbench.suites.engine.cli import main

TINY = str(Path(__file__).resolve().parents[1] / "assets" / "tiny_suite.yaml")
KEY_ENV, KEY = "SFTBENCH_TEST_FAULT_KEY", "sk-fault-test-key-never-stored-7"
ONE_DATASET = "datasets=[{name: random, builder: random, params: {k: 40}}]"


def judge(server: LoopbackServer) -> str:
    return ("roles.judge={provider: openai_compatible, params: {model: loop-judge, base_url: '%s', api_key_env: %s, "
            "judge_mode: text, max_retries: 4, backoff_base_s: 0.01, parse_retries: 1}}" % (server.base_url, KEY_ENV))


def run(runs: Path, server: LoopbackServer) -> int:
    return main(["run", TINY, "--runs-dir", str(runs), "--quiet", "--set", ONE_DATASET, "--set", judge(server),
                 "--set", "leaderboard.noise_floor_sample=0"])


@pytest.mark.slow
def test_retries_are_summarised_and_a_new_port_reruns_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, KEY)
    runs = tmp_path / "runs"
    with LoopbackServer(api_key=KEY, responder=lambda m, b: "M", fault_rate=0.2, fault_kinds=("429", "500")) as a:
        assert run(runs, a) == 0
        faults = sum(a.faults_served.values())
    assert faults > 0
    manifests = [json.loads(p.read_text()) for p in (runs / "tiny").glob("*/manifest.json")]
    judged = [m for m in manifests if m["step"] in ("lctable", "judge")]
    retries = sum(m["llm_cost"].get("retries", 0) for m in judged)
    by_kind = sum(m["llm_cost"].get("retries_429", 0) + m["llm_cost"].get("retries_5xx", 0) for m in judged)
    assert retries == by_kind == faults  # every fault retried once, counted by kind, in the manifests
    board = json.loads((runs / "tiny" / "leaderboard.json").read_text())["leaderboard"]
    capsys.readouterr()

    with LoopbackServer(api_key=KEY, responder=lambda m, b: "M") as b:  # the same judge on another port
        assert b.base_url != a.base_url
        assert run(runs, b) == 0
        assert b.requests == 0
    err = capsys.readouterr().err
    assert " done (" not in err and err.count("cached") >= 9
    assert json.loads((runs / "tiny" / "leaderboard.json").read_text())["leaderboard"] == board


@pytest.mark.slow
def test_a_rejected_key_stops_after_one_request_and_names_the_variable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, "sk-wrong-key-value")
    with LoopbackServer(api_key=KEY, responder=lambda m, b: "M") as server:
        assert run(tmp_path / "runs", server) == 1
        assert server.requests == 1
    err = capsys.readouterr().err
    assert KEY_ENV in err and "sk-wrong-key-value" not in err and "Traceback" not in err
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"sk-wrong-key-value" not in path.read_bytes(), path
