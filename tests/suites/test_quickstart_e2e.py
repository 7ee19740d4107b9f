"""End to end through the real CLI: build -> pretrain -> train -> generate -> judge -> leaderboard, offline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sftbench.leaderboard.table_rows import deterministic
from sftbench.suites.engine.cli import main

ASSETS = Path(__file__).resolve().parents[1] / "assets"
QUICKSTART_DATASETS = {"skillmix", "longest", "alpagasus", "lima", "random", "full"}


def leaderboard(runs: Path, suite: str) -> list[dict]:
    """The leaderboard without its wall-clock columns (a resumed step trains for a different time)."""
    return deterministic(json.loads((runs / suite / "leaderboard.json").read_text())["leaderboard"])


def run_cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sftbench.suites.engine.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1"})


@pytest.mark.slow
def test_quickstart_runs_end_to_end_then_is_fully_cached(tmp_path):
    runs = tmp_path / "runs"
    first = run_cli("run", "--runs-dir", str(runs), "--quiet")
    assert first.returncode == 0, first.stderr[-3000:]
    table = leaderboard(runs, "quickstart")
    assert {r["dataset"] for r in table} == QUICKSTART_DATASETS | {"untuned-base"}  # evaluation.include_base
    for row in table:
        ae = {k.split(".", 1)[1]: v for k, v in row.items() if k.startswith("alpaca_eval.")}
        assert 0 <= ae["win_rate"] <= 100 and 0 <= ae["lc_win_rate"] <= 100 and ae["n_units"] == 200
        assert 0 <= row["openllm.world_mc"] <= 100  # the world's lm-eval multiple-choice column
        tuned = row["dataset"] != "untuned-base"
        assert row["reference"] == "random" and (row["dataset"] == "random" or ae["win_rate_verdict"] or not tuned)
        assert (ae["vs_base"] is not None) == tuned  # Δ vs base for every dataset
    assert "Δ vs base" in first.stdout and "Minimum detectable effect of this design" in first.stdout
    assert "| dataset" in first.stdout and "LC win rate" in first.stdout and "OpenLLM world_mc" in first.stdout
    assert "it/s]" not in first.stderr and "%|" not in first.stderr  # --quiet: no library's progress bar either
    assert "ran 45 of 45 steps" in first.stderr and "GPU-hours" in first.stderr and "files: " in first.stderr
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.tex", "leaderboard.html", "results.json",
                 "suite.resolved.yaml"):
        assert (runs / "quickstart" / name).is_file()

    second = run_cli("run", "--runs-dir", str(runs), "--quiet")  # its speed is measured in benchmarks/, not here
    assert second.returncode == 0, second.stderr[-3000:]
    assert "done" not in second.stderr and second.stderr.count("cached") >= 6 * 4
    assert leaderboard(runs, "quickstart") == table


@pytest.mark.slow
def test_killed_during_training_resumes_to_the_same_leaderboard(tmp_path):
    suite = str(ASSETS / "tiny_suite.yaml")
    clean = tmp_path / "clean"  # its own store: the killed run must compute everything again
    assert main(["run", suite, "--runs-dir", str(clean), "--store", str(tmp_path / "clean-store"), "--quiet"]) == 0

    killed, store = tmp_path / "killed", tmp_path / "store"
    args = ["run", suite, "--runs-dir", str(killed), "--store", str(store), "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "sftbench.suites.engine.cli", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list(store.glob(".tmp-train-*")):
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before training started"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(store.glob(".tmp-train-*")), "no half-written training step to recover from"

    assert main(args) == 0
    assert not list(store.glob(".tmp-*"))
    assert leaderboard(killed, "tiny") == leaderboard(clean, "tiny")


def test_plan_lists_every_step_and_nothing_cached(tmp_path, capsys):
    assert main(["plan", str(ASSETS / "tiny_suite.yaml"), "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    # world, 3 builds and their contamination checks, tokenizer, pretrain, lc table, train/generate/judge for 3
    # datasets x 1 seed, noise floor
    assert "20 steps, 0 cached, 20 to run" in out and "train-longest-s0-" in out
