"""The shipped real-model suite `suites/papers-llama3-8b.yaml` validates and plans offline (no model, no network)."""

import re
import socket
from pathlib import Path

import pytest
from sftbench.suites.engine.cli import main
from sftbench.suites.engine.schema import load_suite

SUITE = Path(__file__).resolve().parents[2] / "suites" / "papers-llama3-8b.yaml"
DATASETS = ("random", "longest", "alpagasus", "lima", "skillmix")
SEEDS = (0, 1, 2)
PER_RUN = ("train", "generate", "aejudge", "mtanswers", "mtjudge", "wbanswers", "wbjudge", "openllm")


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test: planning must not download anything."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access while planning: {args[:2]}")
    for name in ("create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def plan_output(tmp_path, no_network, capsys):
    assert main(["plan", str(SUITE), "--runs-dir", str(tmp_path)]) == 0
    return capsys.readouterr().out


def test_validates_and_pins_the_base_model(no_network, capsys):
    assert main(["validate", str(SUITE)]) == 0
    assert "ok: suite 'papers-llama3-8b' with 5 datasets, seeds [0, 1, 2]" in capsys.readouterr().out
    suite = load_suite(SUITE)
    assert (suite.base_model.kind, suite.base_model.id) == ("hf", "meta-llama/Meta-Llama-3-8B")
    assert re.fullmatch(r"[0-9a-f]{40}", suite.base_model.revision) and not suite.base_model.allow_unpinned
    assert re.fullmatch(r"[0-9a-f]{40}", suite.pool.revision)
    assert [d.name for d in suite.datasets] == list(DATASETS) and suite.leaderboard.reference == "random"
    assert suite.recipe.preset == "long_is_more" and suite.generation.max_new_tokens == 2048


def test_plan_lists_every_run_and_evaluation_offline(plan_output):
    dirs = [line.split()[2] for line in plan_output.splitlines() if line.startswith(("to run", "cached"))]
    kinds = {d.split("-", 1)[0] for d in dirs}
    assert {"build", "base", "aedata", "noisefloor", *PER_RUN} <= kinds
    for ds in DATASETS:
        assert any(d.startswith(f"build-{ds}-") for d in dirs), ds
        for seed in SEEDS:
            for kind in PER_RUN:
                assert any(d.startswith(f"{kind}-{ds}-s{seed}-") for d in dirs), (kind, ds, seed)
    assert f"{len(dirs)} steps, 0 cached, {len(dirs)} to run" in plan_output


def test_plan_prints_the_cost_estimate(plan_output):
    calls = {role: int(n) for role, n in re.findall(r"^LLM (\w+): openai/[\w.-]+: ~(\d+) calls, <= \$[\d.]+$",
                                                     plan_output, re.M)}
    # 15 checkpoints x (805 AlpacaEval + 2 x 80 MT-Bench + 1024 WildBench x (score + haiku reward)) + 50 re-judged
    # for each judge-noise floor (AlpacaEval, MT-Bench, WildBench)
    assert calls["judge"] == 15 * (805 + 160 + 2 * 1024) + 3 * 50
    assert calls["teacher"] == 5 * (1000 + 100)  # skillmix_gpt4: 5 turns per example, held-out included


def test_plan_counts_the_rater_calls(plan_output):
    # AlpaGasus rates every row of the Alpaca release (52,002 rows: its hub row count, known before download)
    assert re.search(r"^LLM rater: openai/gpt-3\.5-turbo: ~52,?002 calls", plan_output, re.M)
