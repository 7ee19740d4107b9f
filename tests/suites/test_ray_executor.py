"""The Ray executor on a real multi-node cluster (tests/suites/ray_scenarios.py, inside a loopback-only network
namespace): the sequential executor's leaderboard byte for byte with every step computed once; a node killed
mid-training (the task retried elsewhere, training resumed from its checkpoint); two runs of one suite at once
(sequential + Ray, Ray + Ray); and one train step over two gloo processes inside one task. The fault scenarios
are marked `long`: `pytest -m long` runs them (CI runs the basic part).

Needs root for `unshare -n` (a network namespace holding only loopback): skips without it, unless
SFTBENCH_REQUIRE_RAY=1 (CI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run_scenarios(out: Path, part: str) -> dict:
    pytest.importorskip("ray")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        reason = f"unshare -n (a loopback-only network namespace for the cluster) failed: {probe.stderr.decode()[:200]}"
        if os.environ.get("SFTBENCH_REQUIRE_RAY") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    got = subprocess.run(["unshare", "-n", sys.executable, "-m", "tests.suites.ray_scenarios", str(out), part],
                         cwd=ROOT, capture_output=True, text=True, timeout=3000)
    assert got.returncode == 0, got.stderr[-4000:]
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def basic(tmp_path_factory) -> dict:
    """The sequential run and the same suite on the cluster (about 2 minutes on 2 cores)."""
    return _run_scenarios(tmp_path_factory.mktemp("ray-basic"), "basic")


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory, basic) -> dict:
    """The fault scenarios (about 4 minutes more), with the basic part's sequential leaderboard and step count."""
    return {**_run_scenarios(tmp_path_factory.mktemp("ray-faults"), "faults"),
            "sequential": basic["sequential"], "steps": basic["steps"]}


@pytest.mark.slow
def test_the_cluster_gives_the_sequential_leaderboard_and_computes_each_step_once(basic):
    seq, ray = basic["sequential"], basic["ray"]
    assert seq["code"] == 0 and ray["code"] == 0, ray["stderr"]
    assert ray["board"] == seq["board"] and ray["board"]
    assert ray["done"] == seq["done"] == basic["steps"]
    assert "Ray: 3 node(s)" in ray["stderr"] and " on node " in ray["stderr"]


@pytest.mark.slow
@pytest.mark.long
def test_a_node_killed_mid_training_is_replaced_and_training_resumes(scenarios):
    kill = scenarios["kill"]
    assert kill["victim"] and kill["raylet"], kill["stderr"]
    assert kill["code"] == 0, kill["stderr"]
    assert kill["board"] == scenarios["sequential"]["board"]
    assert max(kill["resumed_from"]) > 0  # the retried task went on from the killed one's checkpoint


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.parametrize("pair", ["seq+ray", "ray+ray"])
def test_two_runs_at_once_compute_each_step_once(scenarios, pair):
    a, b = scenarios[pair]["a"], scenarios[pair]["b"]
    assert a["code"] == 0 and b["code"] == 0, a["stderr"] + b["stderr"]
    assert a["done"] + b["done"] == scenarios["steps"]
    assert a["board"] == b["board"] == scenarios["sequential"]["board"]


@pytest.mark.slow
@pytest.mark.long
def test_a_train_step_over_two_processes_in_one_task(scenarios):
    ddp = scenarios["ddp"]
    assert ddp["code"] == 0, ddp["stderr"]
    assert ddp["world_sizes"] == [2, 2]
