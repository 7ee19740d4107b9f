"""Statistics for every column: MT-Bench paired by question and turn, `sftbench compare` gated on any evaluation,
equivalence (TOST) next to the difference test, and the analytic cases (TOST, McNemar) they reduce to."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from scipy import stats

from sftbench.leaderboard.paired import sign_flip_pvalue
from sftbench.leaderboard.results import load_results
from sftbench.leaderboard.stats import Settings, compute, tost_pvalue
from sftbench.suites.engine.commands.leaderboard import cmd_compare
from tests.leaderboard.fakeruns import DatasetSpec, write_suite

QUICK = {"n_bootstrap": 60, "n_bootstrap_lc": 0, "n_permutations": 2000}


def test_tost_p_values_by_hand():
    # |diff| well inside the margin: the larger one-sided p is P(Z > (0.5 + 2) / 1) vs P(Z < (0.5 - 2) / 1)
    assert tost_pvalue(0.5, 1.0, math.inf, 2.0) == pytest.approx(max(stats.norm.sf(2.5), stats.norm.cdf(-1.5)))
    assert tost_pvalue(0.5, 1.0, 10, 2.0) == pytest.approx(stats.t(10).cdf(-1.5))
    assert tost_pvalue(3.0, 1.0, math.inf, 2.0) > 0.5  # outside the margin: never equivalent
    assert tost_pvalue(0.0, 0.0, math.inf, 1.0) == 0.0


def test_binary_items_sign_flip_is_exact_mcnemar():
    """For accuracy items (one seed), the paired sign-flip test over items is McNemar's exact test: only the
    discordant pairs count, each equally likely to fall either way under the null."""
    b, c = 10, 2  # items only A got right, items only B got right; 30 items both got right or both wrong
    a = np.array([1] * b + [0] * c + [1] * 20 + [0] * 10, float)
    r = np.array([0] * b + [1] * c + [1] * 20 + [0] * 10, float)
    mcnemar_exact = 2 * stats.binom.cdf(min(b, c), b + c, 0.5)
    assert mcnemar_exact == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert sign_flip_pvalue(a - r, 10_000, np.random.default_rng(0)) == pytest.approx(mcnemar_exact)


@pytest.fixture(scope="module")
def mt_versions(tmp_path_factory):
    """Baseline and new results with the same AlpacaEval quality; the new dataset's MT-Bench grades drop by 1.5
    points (`drop`) or by 0.05 (`noise`: within noise)."""
    root = tmp_path_factory.mktemp("mt")
    kw = {"n_prompts": 60, "suite": "s", "seeds": (0, 1, 2)}
    base = write_suite(root / "base", [DatasetSpec("mydata", 0.0, 50)], seed=1, mt_bench={"mydata": 0.0}, **kw)
    drop = write_suite(root / "drop", [DatasetSpec("mydata", 0.0, 50)], seed=2, mt_bench={"mydata": -1.5}, **kw)
    noise = write_suite(root / "noise", [DatasetSpec("mydata", 0.0, 50)], seed=3, mt_bench={"mydata": -0.05}, **kw)
    return base, drop, noise


def test_compare_fails_on_an_mt_bench_only_regression_and_not_within_noise(mt_versions):
    base, drop, noise = mt_versions
    out = io.StringIO()
    assert cmd_compare(drop, base, 0.05, stdout=out, **QUICK) == 1
    text = out.getvalue()
    assert "mt_bench [" in text and "score:" in text
    mt_line = next(line for line in text.splitlines() if line.startswith("mt_bench"))
    ae_line = next(line for line in text.splitlines() if line.startswith("alpaca_eval") and "win_rate:" in line)
    assert "WORSE" in mt_line and "WORSE" not in ae_line
    out = io.StringIO()
    assert cmd_compare(noise, base, 0.05, stdout=out, **QUICK) == 0
    assert "no benchmark significantly worse" in out.getvalue()


def test_the_gate_names_which_columns_fail_compare(mt_versions):
    base, drop, _ = mt_versions
    out = io.StringIO()
    assert cmd_compare(drop, base, 0.05, gate=["alpaca_eval"], stdout=out, **QUICK) == 0  # MT-Bench not gated
    assert "(not gated)" in out.getvalue()
    assert cmd_compare(drop, base, 0.05, gate=["mt_bench.score"], stdout=io.StringIO(), **QUICK) == 1


def test_equivalence_verdicts_with_margins(mt_versions, tmp_path):
    base, _, _ = mt_versions
    table = load_results(base)
    suite = write_suite(tmp_path / "eq", [DatasetSpec("ref", 0.0, 50), DatasetSpec("same", 0.0, 50),
                                          DatasetSpec("much_better", 0.35, 50)], n_prompts=80, seeds=(0, 1, 2),
                        suite="eq", seed=5)
    table = load_results(suite)
    report = compute(table, Settings(reference="ref", equivalence_margin={"win_rate": 15.0}, **QUICK))
    by = {(c.dataset, c.metric): c for c in report.tables[0].comparisons}
    assert by[("same", "win_rate")].equivalence == "equivalent within ±15"
    assert by[("much_better", "win_rate")].equivalence == "different"
    assert by[("same", "lc_win_rate")].equivalence is None  # no margin for that column
    from sftbench.leaderboard.render_text import to_markdown
    md = to_markdown(report)
    assert "equivalence (±15, p TOST Holm)" in md and "equivalent within ±15" in md
