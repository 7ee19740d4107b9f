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


def test_gate_and_margin_names_must_name_a_column_and_evaluation_names_reach_their_benchmark(mt_versions):
    """A misspelt gate would gate nothing (a regression read as "not gated", exit 0): it is refused, naming what
    exists. `alpaca_eval.lc_win_rate` names the column when the evaluation ran on AlpacaEval 2.0 (benchmark
    alpaca_eval_2), as the README's examples write it."""
    from sftbench.leaderboard.stats import resolve_columns
    base, drop, _ = mt_versions
    with pytest.raises(ValueError, match=r"gate: 'mt_bench.scroe' names no column.*mt_bench.score"):
        cmd_compare(drop, base, 0.05, gate=["mt_bench.scroe"], stdout=io.StringIO(), **QUICK)
    table = load_results(base)
    with pytest.raises(ValueError, match="equivalence_margin: 'lc_winrate' names no column"):
        compute(table, Settings(equivalence_margin={"lc_winrate": 2.0}, **QUICK))
    for run in table.runs:
        run.evaluations["alpaca_eval"].benchmark = "alpaca_eval_2"
    assert resolve_columns(["alpaca_eval.lc_win_rate"], table, "gate") == {("alpaca_eval_2", "lc_win_rate")}
    assert resolve_columns(["mt_bench"], table, "gate") == {("mt_bench", "score")}
    assert ("alpaca_eval_2", "win_rate") in resolve_columns(["alpaca_eval"], table, "gate")
    assert resolve_columns(["lc_win_rate"], table, "gate") == {("alpaca_eval_2", "lc_win_rate")}
    report = compute(table, Settings(equivalence_margin={"alpaca_eval.win_rate": 15.0}, **QUICK))
    assert report.settings.equivalence_margin == {"alpaca_eval_2.win_rate": 15.0}


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


def test_holm_over_the_whole_table_is_one_family(tmp_path):
    """`holm_family: table` adjusts every comparison of a table at once (all evaluations and columns): each
    adjusted p-value is Holm's over the table's raw p-values, never below the per-evaluation one."""
    from sftbench.leaderboard.paired import holm
    from sftbench.leaderboard.render_text import settings_text
    runs = write_suite(tmp_path, [DatasetSpec("random", 0.0, 50), DatasetSpec("a", 0.1, 60), DatasetSpec("b", -0.1, 40)],
                       seeds=(0, 1), n_prompts=40, suite="s", mt_bench={"random": 0.0, "a": 0.4, "b": -0.3})
    table = load_results(runs)
    per_eval = compute(table, Settings(**QUICK))
    whole = compute(table, Settings(holm_family="table", **QUICK))
    (t_eval,), (t_whole,) = per_eval.tables, whole.tables
    tested = [c for c in t_whole.comparisons if c.p_value is not None]
    assert {c.benchmark for c in tested} == {"alpaca_eval", "mt_bench"} and len(tested) >= 4
    assert [c.p_adjusted for c in tested] == pytest.approx(holm([c.p_value for c in tested]))
    by_key = {(c.dataset, c.benchmark, c.metric): c for c in t_eval.comparisons}
    for c in tested:
        assert c.p_adjusted >= by_key[(c.dataset, c.benchmark, c.metric)].p_adjusted - 1e-12
    assert "every comparison of the table" in settings_text(whole)
    assert "each evaluation's comparisons" in settings_text(per_eval)
    with pytest.raises(ValueError, match="holm_family"):
        compute(table, Settings(holm_family="suite", **QUICK))


def test_holm_over_the_whole_leaderboard_spans_every_base_models_table(tmp_path):
    """`holm_family: leaderboard`: one family over the comparisons of every table (base model)."""
    from sftbench.leaderboard.paired import holm
    from sftbench.leaderboard.render_text import settings_text
    from tests.leaderboard.fakeruns import pairwise_run
    from sftbench.leaderboard.results import ResultsTable
    rng = np.random.default_rng(4)
    runs = [pairwise_run(d, s, (rng.random(60) < 0.5 + shift).astype(float), base_model=base)
            for base in ("A", "B") for d, shift in (("d0", 0.0), ("d1", 0.1), ("d2", -0.05)) for s in (0, 1)]
    table = ResultsTable("two", runs)
    per_table = compute(table, Settings(holm_family="table", reference="d0", **QUICK))
    everywhere = compute(table, Settings(holm_family="leaderboard", reference="d0", **QUICK))
    tested = [c for t in everywhere.tables for c in t.comparisons if c.p_value is not None]
    assert len({c.dataset for c in tested}) == 2 and len(everywhere.tables) == 2
    assert [c.p_adjusted for c in tested] == pytest.approx(holm([c.p_value for c in tested]))
    alone = {(t.base_model, c.dataset, c.metric): c.p_adjusted for t in per_table.tables for c in t.comparisons
             if c.p_value is not None}
    assert all(c.p_adjusted >= alone[(t.base_model, c.dataset, c.metric)] - 1e-12
               for t in everywhere.tables for c in t.comparisons if c.p_value is not None)
    assert "every comparison of every table" in settings_text(everywhere)


def test_compare_picks_the_tuned_dataset_when_the_untuned_base_is_a_row(tmp_path):
    """With evaluation.include_base both results carry an untuned-base row; compare still picks the one
    fine-tuned dataset of each (the base is compared only when named)."""
    kw = {"n_prompts": 40, "suite": "s", "seeds": (0, 1)}
    specs = [DatasetSpec("mydata", 0.0, 50), DatasetSpec("untuned-base", -0.3, 30, untuned=True)]
    base = write_suite(tmp_path / "base", specs, seed=1, **kw)
    new = write_suite(tmp_path / "new", specs, seed=2, **kw)
    out = io.StringIO()
    assert cmd_compare(new, base, 0.05, stdout=out, **QUICK) == 0
    assert "compare mydata@new" in out.getvalue() and "mydata@baseline" in out.getvalue()
