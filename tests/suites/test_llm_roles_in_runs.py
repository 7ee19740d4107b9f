"""A suite whose judge is an OpenAI-compatible endpoint (a real loopback HTTP server): budget, failures, secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sftbench.judges.llm.loopback.server import LoopbackServer
from sftbench.suites.engine.cli import main

TINY = str(Path(__file__).resolve().parents[1] / "assets" / "tiny_suite.yaml")
KEY_ENV, FAKE_KEY = "SFTBENCH_TEST_JUDGE_KEY", "sk-test-judge-key-never-stored-42"
ONE_DATASET = "datasets=[{name: random, builder: random, params: {k: 40}}]"


def judge_set(server: LoopbackServer, price: float = 0.0) -> str:
    return ("roles.judge={provider: openai_compatible, params: {model: loop-judge, base_url: '%s', api_key_env: %s, "
            "judge_mode: text, max_retries: 1, backoff_base_s: 0.01, parse_retries: 1, "
            "prices: {loop-judge: {input_per_m: %s, output_per_m: %s}}}}" % (server.base_url, KEY_ENV, price, price))


def run(runs: Path, *sets: str, extra: tuple[str, ...] = ()) -> int:
    args = ["run", TINY, "--runs-dir", str(runs), "--quiet", "--set", ONE_DATASET]
    for s in sets:
        args += ["--set", s]
    return main(args + list(extra))


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    with LoopbackServer(api_key=FAKE_KEY, responder=lambda messages, body: "M") as srv:
        yield srv


@pytest.mark.slow
def test_budget_stops_before_exceeding_and_a_rerun_reuses_every_paid_answer(tmp_path, server, capsys):
    runs = tmp_path / "runs"
    # ~100 prompt tokens per call at $10,000 per 1M tokens: about $1 a call, so $5 stops the first judging step.
    assert run(runs, judge_set(server, price=10_000.0), extra=("--max-usd", "5", "--yes")) == 1
    err = capsys.readouterr().err
    assert "BudgetExceeded" in err and "finished steps are kept" in err
    root = runs / "tiny"
    assert list(root.glob("pretrain-*/manifest.json")) and not list(root.glob("lctable-*"))
    assert not list(root.glob(".tmp-*"))
    paid_before = server.billable
    assert 0 < paid_before <= 5

    assert run(runs, judge_set(server, price=10_000.0), extra=("--max-usd", "1000", "--yes")) == 0
    lctable = json.loads(next(root.glob("lctable-*/manifest.json")).read_text())
    assert lctable["llm_cost"]["cached_calls"] == paid_before  # answers paid for before are not bought again
    assert lctable["llm_cost"]["usd"] <= 1000
    (row,) = json.loads((root / "leaderboard.json").read_text())["leaderboard"]  # what the dataset's runs cost
    (judge,) = root.glob("judge-random-s0-*/manifest.json")
    assert row["eval_usd"] == pytest.approx(json.loads(judge.read_text())["llm_cost"]["usd"]) and row["eval_usd"] > 0
    assert row["build_usd"] is None and row["train_hours"] > 0  # a world build, trained on the CPU
    assert "eval LLM $" in (root / "leaderboard.md").read_text()
    total_paid = server.billable
    # verbose + concise + one model, 40 eval prompts each, every pair once; then the judge-noise floor re-judges
    # its sample (all 40 here) without the cache, on purpose
    assert total_paid == 3 * 40 + 40
    for path in runs.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_unparseable_judge_answers_are_counted_not_dropped(tmp_path, server, capsys):
    server.responder = lambda messages, body: "I cannot decide."
    runs = tmp_path / "runs"
    assert run(runs, judge_set(server)) == 0
    judge = json.loads(next((runs / "tiny").glob("judge-*/manifest.json")).read_text())
    assert judge["metrics"]["n_failed"] == 40 and judge["metrics"]["n_total"] == 40
    assert judge["metrics"]["win_rate"] == pytest.approx(50.0)  # failures count as ties, never leave the denominator
    annotations = json.loads(next((runs / "tiny").glob("judge-*/annotations.json")).read_text())
    assert all(a["failed"] for a in annotations) and len({a["judge_fingerprint"] for a in annotations}) == 1
    raw = [json.loads(line) for line in next((runs / "tiny").glob("judge-*/failures-judge.jsonl")).open()]
    assert len(raw) == 40 and raw[0]["raw"] == "I cannot decide."  # the raw answers are kept

    # a judged result whose judge reported another model must not share the leaderboard column
    manifest_path = next((runs / "tiny").glob("judge-*/manifest.json"))
    manifest = json.loads(manifest_path.read_text())
    manifest["judge_fingerprint"]["model"] = "another-model"
    manifest_path.write_text(json.dumps(manifest))
    both = "datasets=[{name: random, builder: random, params: {k: 40}}, {name: lima, builder: lima, params: {k: 40}}]"
    assert run(runs, judge_set(server), both) == 2
    assert "different judge fingerprints" in capsys.readouterr().err
