"""Fake suite run directories shared by the leaderboard tests (written once per session, then copied)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sftbench.leaderboard.stats import Settings

from tests.leaderboard.fakeruns import DatasetSpec, write_suite

# Small but complete: 4 datasets x 2 seeds x 40 prompts, the untuned base model's row, a measured (non-zero)
# judge-noise floor.
GOLDEN_DATASETS = [DatasetSpec("random", 0.0, 40), DatasetSpec("longest", 0.02, 160),
                   DatasetSpec("curated", 0.25, 60, build_usd=2.5), DatasetSpec("bad", -0.3, 30),
                   DatasetSpec("untuned-base", -0.45, 25, builder="none (untuned base model)", untuned=True)]
FAST = Settings(n_bootstrap=100, n_bootstrap_lc=4, n_permutations=2000)


@pytest.fixture(scope="session")
def golden_suite_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_suite(tmp_path_factory.mktemp("golden") / "runs", GOLDEN_DATASETS, seeds=(0, 1), n_prompts=40,
                       noise_sd=0.05, suite="golden",
                       leaderboard={"reference": "random", "sort_by": "lc_win_rate", "points_per_usd": True})


@pytest.fixture
def golden_suite(golden_suite_master: Path, tmp_path: Path) -> Path:
    """A private copy of the golden suite run directory (tests may write leaderboard files into it)."""
    dst = tmp_path / "runs" / golden_suite_master.name
    shutil.copytree(golden_suite_master, dst)
    return dst


@pytest.fixture(scope="session")
def one_seed_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seed, 30 prompts, a deterministic judge (noise floor exactly 0)."""
    return write_suite(tmp_path_factory.mktemp("oneseed") / "runs",
                       [DatasetSpec("base", 0.0, 50), DatasetSpec("better", 0.3, 55), DatasetSpec("worse", -0.3, 45)],
                       n_prompts=30, noise_sd=0.0, suite="oneseed", seed=3)
