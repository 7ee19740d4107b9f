"""An evaluation added from a single module (tests/suites/quiz_plugin.py, no sftbench file edited) is planned,
executed in a separate process, cached, costed, and rendered in every leaderboard format with CIs and paired
verdicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "assets" / "tiny_suite.yaml"


def quiz_suite(tmp_path: Path) -> Path:
    data = yaml.safe_load(TINY.read_text())
    data.update(name="quiz", plugins=["tests.suites.quiz_plugin"],
                datasets=[{"name": "random", "builder": "random", "params": {"k": 150}},
                          {"name": "longest", "builder": "longest", "params": {"k": 150}}],
                evaluation={"quiz": {"enabled": True, "n": 16}},
                leaderboard={**data["leaderboard"], "reference": "random", "noise_floor_sample": 0})
    path = tmp_path / "quiz.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "sftbench.suites.engine.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=900)


def test_plan_and_cost_estimate_see_the_plugin(tmp_path):
    from sftbench.suites.engine.cost_estimate import pending_calls
    from sftbench.suites.engine.plan import make_plan
    from sftbench.suites.engine.schema import load_suite
    suite = load_suite(quiz_suite(tmp_path))
    assert suite.evaluation.quiz.n == 16
    plan = make_plan(suite, tmp_path / "runs", progress=False)
    quiz = [s for s in plan.steps if s.key.kind == "quiz"]
    assert [s.key.name for s in quiz] == ["random-s0", "longest-s0"]
    assert all(s.module == "tests.suites.quiz_plugin" for s in quiz)
    # two quizzes of 16, the world's length-control table (verbose + concise x 40 prompts), two judge steps of 40
    assert pending_calls(plan)["judge"] == 2 * 16 + 2 * 40 + 2 * 40
    assert all(plan.results[run]["quiz"].kind == "quiz" for run in plan.results)


@pytest.mark.slow
def test_a_plugin_runs_caches_and_renders_everywhere(tmp_path):
    suite, runs = quiz_suite(tmp_path), tmp_path / "runs"
    first = cli("run", str(suite), "--runs-dir", str(runs), "--quiet")
    assert first.returncode == 0, first.stderr[-3000:]
    root = runs / "quiz"
    assert len(list(root.glob("quiz-*-s0-*/scores.jsonl"))) == 2
    again = cli("run", str(suite), "--runs-dir", str(runs), "--quiet")
    assert again.returncode == 0 and " done " not in again.stderr and again.stderr.count("cached") >= 10

    md = (root / "leaderboard.md").read_text()
    assert "World quiz: quiz score % [95% CI]" in md and "World quiz: Δ quiz score %" in md
    flat = json.loads((root / "leaderboard.json").read_text())["leaderboard"]
    longest = next(r for r in flat if r["dataset"] == "longest")
    assert longest["quiz.score_ci_low"] <= longest["quiz.score"] <= longest["quiz.score_ci_high"]
    assert longest["quiz.score_verdict"] in ("better", "worse", "no detectable difference")
    assert longest["quiz.score_p_holm"] is not None
    csv = pd.read_csv(root / "leaderboard.csv")
    assert {"quiz.score", "quiz.score_ci_low", "quiz.score_diff", "quiz.score_verdict"} <= set(csv)
    tex = (root / "leaderboard.tex").read_text()
    assert "World quiz" in tex and "quiz score" in tex
    html = (root / "leaderboard.html").read_text()
    assert 'data-key="quiz.score"' in html and 'data-key="quiz.score_verdict"' in html
    assert 'id="bar-quiz-score-longest"' in (root / "leaderboard.bars.svg").read_text()


def test_gpu_hours_count_the_gpus_a_step_held_not_every_gpu_it_saw():
    """A 1-GPU fine-tune on an 8-GPU box is 1 GPU's hours; gpus_per_run 4 is 4; a data step holds none."""
    import sftbench
    from sftbench.suites.engine.step import gpus_used
    eight = {"hardware": {"gpus": ["NVIDIA H200"] * 8}}
    for per_run in (1, 4):
        suite = sftbench.load_suite(TINY, overrides={"recipe.gpus_per_run": per_run})
        plan = sftbench.plan(suite)
        train = next(s for s in plan.steps if s.key.kind == "train")
        assert gpus_used(train, eight) == per_run
        assert gpus_used(train, {"hardware": {"gpus": ["NVIDIA H200"] * 2}}) == min(2, per_run)
        assert gpus_used(train, {"hardware": {}}) == 0  # a CPU run
        build = next(s for s in plan.steps if s.key.kind == "build")
        assert gpus_used(build, eight) == 0
