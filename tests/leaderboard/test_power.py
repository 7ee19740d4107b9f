"""`sftbench power`: the minimum detectable effect it predicts from a pilot is the effect a planted difference is
detected at with ~80% probability (simulation), and the command prints the designs a target needs."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest

from sftbench.leaderboard.power import designs
from sftbench.leaderboard.results import ResultsTable
from sftbench.leaderboard.stats import Settings, compute
from tests.leaderboard.fakeruns import pairwise_run

FAST = Settings(n_bootstrap=60, n_bootstrap_lc=0, n_permutations=400, reference="d0")


def simulate(rng: np.random.Generator, effect: float, n: int = 150, seeds: int = 3) -> ResultsTable:
    difficulty = np.random.default_rng(99).normal(0, 0.15, n)  # the same prompts in every simulated suite
    runs = []
    for d, shift in (("d0", 0.0), ("d1", effect)):
        for s in range(seeds):
            p = np.clip(0.5 + difficulty + rng.normal(0, 0.04) + shift, 0.02, 0.98)
            runs.append(pairwise_run(d, s, (rng.random(n) < p).astype(float)))
    return ResultsTable("sim", runs)


def predicted_mde(rng: np.random.Generator, pilots: int = 600) -> float:
    """The MDE of the design whose variance parts are the pilots' average: one pilot's variance is an estimate
    with few degrees of freedom, and the square root of an average estimate is the unbiased-enough target."""
    found = [d for _ in range(pilots) for d in designs(compute(simulate(rng, 0.0), FAST)) if d.column == "win_rate"]
    design = dataclasses.replace(found[0], var_units=float(np.mean([d.var_units for d in found])),
                                 var_seeds=float(np.mean([d.var_seeds for d in found])))
    return design.mde()


@pytest.mark.slow
def test_a_planted_effect_of_the_predicted_mde_is_detected_about_80_percent_of_the_time():
    rng = np.random.default_rng(2026)
    mde = predicted_mde(rng)
    assert 3 < mde < 40
    hits = []
    for _ in range(500):
        (c,) = [c for c in compute(simulate(rng, mde / 100), FAST).tables[0].comparisons if c.metric == "win_rate"]
        hits.append(c.verdict == "better")
    assert abs(np.mean(hits) - 0.80) <= 0.06, (mde, np.mean(hits))


def test_power_command_and_needed_designs(tmp_path):
    from sftbench.suites.engine.commands.power import cmd_power
    from tests.leaderboard.fakeruns import DatasetSpec, write_suite
    suite = write_suite(tmp_path / "runs", [DatasetSpec("a", 0.0, 40), DatasetSpec("b", 0.05, 40)], seeds=(0, 1),
                        n_prompts=40, suite="pilot", leaderboard={"n_bootstrap_lc": 0, "n_bootstrap": 60})
    out = io.StringIO()
    assert cmd_power(suite, mde=3.0, stdout=out) == 0
    text = out.getvalue()
    assert "alpaca_eval.win_rate (win rate %): 2 seed(s) x 40 units: minimum detectable effect" in text
    assert "to detect 3 points:" in text and "seeds x" in text
    (d,) = [d for d in designs(compute(__import__("sftbench.leaderboard.results", fromlist=["x"]).load_results(suite),
                                       Settings(n_bootstrap=60, n_bootstrap_lc=0))) if d.column == "win_rate"]
    k, n = d.needed(d.mde() / 2)[0]
    assert d.mde(k, n) <= d.mde() / 2 and (k > d.k or n > d.n)


def interacting(rng: np.random.Generator, seeds: int, n: int = 150) -> ResultsTable:
    """A fresh sample of n prompts, on which each dataset has its own per-prompt advantage (sd 0.25): the unit x
    dataset interaction that more training seeds cannot average away."""
    difficulty = rng.normal(0, 0.15, n)
    runs = []
    for d in ("d0", "d1"):
        own = rng.normal(0, 0.25, n)
        for s in range(seeds):
            p = np.clip(0.5 + difficulty + own + rng.normal(0, 0.04), 0.02, 0.98)
            runs.append(pairwise_run(d, s, (rng.random(n) < p).astype(float)))
    return ResultsTable("sim", runs)


@pytest.mark.slow
def test_more_seeds_do_not_shrink_the_prompt_part_the_prediction_matches_the_simulation():
    """From a 2-seed pilot, the variance `sftbench power` predicts for 8 seeds is the variance of the estimated
    difference over replicated 8-seed experiments (within 20%); scaling the prompt part by the seeds too would
    predict far less."""
    rng = np.random.default_rng(11)
    found = [d for _ in range(150) for d in designs(compute(interacting(rng, 2), FAST)) if d.column == "win_rate"]
    pilot = dataclasses.replace(found[0], var_units=float(np.mean([d.var_units for d in found])),
                                var_seeds=float(np.mean([d.var_seeds for d in found])))
    predicted, _ = pilot.variance(8, pilot.n)
    diffs = [next(c.diff for c in compute(interacting(rng, 8), FAST).tables[0].comparisons if c.metric == "win_rate")
             for _ in range(400)]
    observed = float(np.var(diffs, ddof=1))
    assert abs(predicted / observed - 1) <= 0.2, (predicted, observed)
    old = (pilot.var_units + pilot.var_seeds) * 2 / 8
    assert old < 0.75 * observed, (old, observed)


def test_each_base_models_table_gets_its_own_mde():
    """Two base models, one with 4x the prompts: each table's "could not detect" annotations use its own MDE."""
    from sftbench.leaderboard.power import mde_note
    from sftbench.leaderboard.render_text import mde_by_column
    rng = np.random.default_rng(3)
    runs = []
    for base, n in (("small", 40), ("large", 160)):
        for d in ("d0", "d1"):
            for s in range(2):
                p = np.clip(0.5 + rng.normal(0, 0.15, n) + rng.normal(0, 0.04), 0.02, 0.98)
                runs.append(pairwise_run(d, s, (rng.random(n) < p).astype(float), base_model=base))
    report = compute(ResultsTable("two", runs), FAST)
    by_base = {t.base_model: mde_by_column(report, t)[("alpaca_eval", "win_rate")] for t in report.tables}
    assert by_base["small"] > 1.5 * by_base["large"]
    note = mde_note(report)
    assert "[small] alpaca_eval" in note and "[large] alpaca_eval" in note
