"""Bootstrap, permutation, Holm and t pieces against cases with known answers."""

import itertools
import math

import numpy as np
import pytest
from sftbench.leaderboard import bootstrap as bs
from sftbench.leaderboard import paired
from sftbench.leaderboard.paired import (
    holm,
    satterthwaite_df,
    sign_flip_pvalue,
    t_pvalue,
    verdict,
)
from sftbench.leaderboard.stats import Settings


def test_bootstrap_se_of_a_bernoulli_mean_matches_the_analytic_value():
    rng = np.random.default_rng(0)
    n, p = 400, 0.3
    y = (rng.random(n) < p).astype(float)
    idx = bs.prompt_draws(bs.rng_for(0, "t"), n, 4000)
    reps = bs.mean_replicates(y[None, :], idx, np.ones((4000, 1)))
    phat = y.mean()
    assert reps.std(ddof=1) == pytest.approx(math.sqrt(phat * (1 - phat) / n), rel=0.06)
    assert reps.mean() == pytest.approx(phat, abs=0.003)


def test_vectorised_replicates_equal_the_naive_loop():
    rng = np.random.default_rng(1)
    scores = rng.random((3, 25))
    idx = bs.prompt_draws(rng, 25, 7)
    w = bs.seed_weights(rng, 3, 7)
    naive = [sum(w[b, s] * scores[s, idx[b]].mean() for s in range(3)) for b in range(7)]
    assert np.allclose(bs.mean_replicates(scores, idx, w), naive)
    assert np.allclose(w.sum(axis=1), 1.0) and np.allclose(bs.counts(idx, 25).sum(axis=1), 25)


def test_hierarchical_bootstrap_picks_up_seed_spread():
    """Two seeds whose means differ: prompt-only resampling misses that spread, seed resampling does not."""
    scores = np.vstack([np.full(50, 0.2), np.full(50, 0.8)])
    idx = bs.prompt_draws(bs.rng_for(0, "h"), 50, 2000)
    fixed = bs.mean_replicates(scores, idx, np.full((2000, 2), 0.5))
    hier = bs.mean_replicates(scores, idx, bs.seed_weights(bs.rng_for(0, "s"), 2, 2000))
    assert fixed.std() == pytest.approx(0.0, abs=1e-12)
    # seed means 0.2/0.8 resampled with replacement: sd of the mean of 2 draws = 0.3 / sqrt(2)
    assert hier.std() == pytest.approx(0.3 / math.sqrt(2), rel=0.08)


def test_generators_depend_on_names_not_on_call_order():
    a = bs.rng_for(3, "seeds", "x").integers(0, 1000, 5)
    bs.rng_for(3, "other").integers(0, 1000, 50)
    assert (bs.rng_for(3, "seeds", "x").integers(0, 1000, 5) == a).all()
    assert not (bs.rng_for(4, "seeds", "x").integers(0, 1000, 5) == a).all()


def test_sign_flip_exact_small_cases():
    rng = np.random.default_rng(0)
    # 8 sign patterns of (1, 2, 3): |sum| >= 6 only for all-plus and all-minus
    assert sign_flip_pvalue(np.array([1.0, 2.0, 3.0]), 100, rng) == pytest.approx(2 / 8)
    assert sign_flip_pvalue(np.array([1.0, 2.0, 3.0, 4.0]), 100, rng) == pytest.approx(2 / 16)
    # |sum(1, -1)| = 0: every pattern is at least as extreme
    assert sign_flip_pvalue(np.array([1.0, -1.0]), 100, rng) == 1.0
    assert sign_flip_pvalue(np.zeros(5), 100, rng) == 1.0
    # zeros carry no sign: (0, 0, 1, 2, 3) is the (1, 2, 3) case
    assert sign_flip_pvalue(np.array([0.0, 0.0, 1.0, 2.0, 3.0]), 100, rng) == pytest.approx(0.25)


def test_sign_flip_monte_carlo_agrees_with_exact_enumeration(monkeypatch):
    d = np.random.default_rng(2).normal(0.3, 1.0, 14)
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=14)))
    exact = float(np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-9))
    monkeypatch.setattr(paired, "EXACT_MAX_NONZERO", 5)
    mc = sign_flip_pvalue(d, 20000, np.random.default_rng(3))
    assert mc == pytest.approx(exact, abs=0.01)


def test_holm_on_known_pvalues():
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4x, 3x, 2x, 1x = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_t_pvalue_and_satterthwaite():
    assert t_pvalue(1.959963985, 1.0, float("inf")) == pytest.approx(0.05, abs=1e-6)
    assert t_pvalue(2.776445105, 1.0, 4) == pytest.approx(0.05, abs=1e-6)
    assert t_pvalue(0.0, 0.0, 3) == 1.0 and t_pvalue(1.0, 0.0, 3) == 0.0
    assert satterthwaite_df([(2.0, 7)]) == pytest.approx(7)
    assert satterthwaite_df([(1.0, 5), (1.0, 5)]) == pytest.approx(10)
    assert satterthwaite_df([(1.0, 5), (0.0, 0)]) == pytest.approx(5)


def test_verdicts():
    assert verdict(2.0, 0.01, 0.05) == "better"
    assert verdict(-2.0, 0.01, 0.05) == "worse"
    assert verdict(-2.0, 0.2, 0.05) == "no detectable difference"


def test_settings_from_a_spec_and_overrides():
    class Spec:
        reference, sort_by, alpha = "lima", "win_rate", 0.1
    s = Settings.from_spec(Spec(), n_bootstrap=50, alpha=None)
    assert (s.reference, s.sort_by, s.alpha, s.n_bootstrap, s.n_bootstrap_lc) == ("lima", "win_rate", 0.1, 50, 50)
