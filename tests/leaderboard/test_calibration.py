"""Calibration of the verdicts under the null, by simulation.

The null: every "dataset" is the same dataset trained with different seeds. Per-prompt outcomes come from one
distribution (prompt difficulty shared by all runs) plus a seed-level random effect per training run (logit
scale), and the judge's Bernoulli noise. No dataset is better, so every "better"/"worse" verdict is a false
positive; their rate must stay at most alpha. A power check makes sure the test is not trivially conservative.
"""

import math

import numpy as np
from sftbench.leaderboard.paired import sign_flip_pvalue
from sftbench.leaderboard.results import ResultsTable
from sftbench.leaderboard.stats import Settings, compute

from tests.leaderboard.fakeruns import pairwise_run

ALPHA = 0.05
FAST = Settings(alpha=ALPHA, n_bootstrap=50, n_bootstrap_lc=0, n_permutations=300)


def simulate(rng: np.random.Generator, n: int = 100, seeds: int = 3, datasets: int = 4, seed_sd: float = 0.3,
             effect: dict[int, float] | None = None) -> ResultsTable:
    difficulty = rng.normal(0, 1.0, n)
    runs = []
    for d in range(datasets):
        for s in range(seeds):
            logit = -0.5 + difficulty + rng.normal(0, seed_sd) + (effect or {}).get(d, 0.0)
            y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
            runs.append(pairwise_run(f"d{d}", s, y))
    return ResultsTable("sim", runs)


def false_positive_rates(sims: int, **kw) -> tuple[float, float, float]:
    """(verdict rate per comparison, family-wise verdict rate per table, unadjusted p < alpha rate)."""
    rng = np.random.default_rng(12345)
    per, family, raw = [], [], []
    for _ in range(sims):
        comps = [c for c in compute(simulate(rng, **kw), FAST).tables[0].comparisons if c.metric == "win_rate"]
        flags = [c.verdict != "no detectable difference" for c in comps]
        per += flags
        family.append(any(flags))
        raw += [c.p_value < ALPHA for c in comps]
    return float(np.mean(per)), float(np.mean(family)), float(np.mean(raw))


def tolerance(sims: int) -> float:
    """One-sided 99% Monte Carlo margin on a rate near alpha."""
    return 2.33 * math.sqrt(ALPHA * (1 - ALPHA) / sims)


def test_null_with_seed_effects_keeps_false_verdicts_at_most_alpha():
    sims = 600
    per, family, raw = false_positive_rates(sims, seeds=3, seed_sd=0.3)
    assert per <= ALPHA
    assert family <= ALPHA + tolerance(sims)
    assert raw <= ALPHA + tolerance(sims)


def test_null_with_two_seeds_and_large_seed_effects():
    sims = 400
    per, family, raw = false_positive_rates(sims, seeds=2, seed_sd=0.5)
    assert per <= ALPHA and family <= ALPHA + tolerance(sims) and raw <= ALPHA + tolerance(sims)


def test_null_with_one_seed_and_judge_noise_only():
    sims = 400
    per, family, raw = false_positive_rates(sims, seeds=1, seed_sd=0.0)
    assert per <= ALPHA and family <= ALPHA + tolerance(sims) and raw <= ALPHA + tolerance(sims)


def test_prompt_level_test_alone_would_mistake_seed_noise_for_dataset_effects():
    """Why the seed-level part exists: the sign-flip test over prompts alone rejects far too often here."""
    rng = np.random.default_rng(7)
    rejections = []
    for _ in range(200):
        table = simulate(rng, seeds=3, datasets=2, seed_sd=0.5)
        a = np.vstack([r.evaluations["alpaca_eval"].array("preference") for r in table.runs if r.dataset == "d0"]).mean(axis=0)
        b = np.vstack([r.evaluations["alpaca_eval"].array("preference") for r in table.runs if r.dataset == "d1"]).mean(axis=0)
        rejections.append(sign_flip_pvalue(a - b, 300, rng) < ALPHA)
    assert np.mean(rejections) > 3 * ALPHA


def test_a_real_difference_is_detected():
    rng = np.random.default_rng(99)
    hits = []
    for _ in range(40):
        report = compute(simulate(rng, n=200, seeds=3, seed_sd=0.1, effect={1: 0.8, 2: -0.8}), FAST)
        verdicts = {c.dataset: c.verdict for c in report.tables[0].comparisons if c.metric == "win_rate"}
        hits.append(verdicts["d1"] == "better" and verdicts["d2"] == "worse")
    assert np.mean(hits) >= 0.8
