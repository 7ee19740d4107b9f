"""Loading the results table from run directories: per-example scores, provenance, noise floor, errors."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from sftbench.judges.length_control import lc_winrate
from sftbench.leaderboard.lc_refit import LCModel
from sftbench.leaderboard.report import build, render
from sftbench.leaderboard.results import ResultsTable, load_results
from sftbench.leaderboard.stats import Settings, compute
from tests.leaderboard.conftest import FAST


def test_loads_every_run_with_scores_and_provenance(golden_suite):
    table = load_results(golden_suite)
    assert table.suite == "golden" and table.datasets() == ["random", "longest", "curated", "bad"]
    assert len(table.runs) == 8 and {r.seed for r in table.runs} == {0, 1}
    results = json.loads((golden_suite / "results.json").read_text())
    for run, rec in zip(table.runs, results):
        assert len(run.preference) == 40 and 0 <= run.preference.min() and run.preference.max() <= 1
        assert run.metrics["win_rate"] == pytest.approx(rec["win_rate"])
        assert run.metrics["lc_win_rate"] == rec["length_controlled_winrate"]
        p = run.provenance
        assert p["card_sha256"] == rec["card_sha256"] and p["judge"]["model"] == "world-verifier"
        assert p["recipe"]["seed"] == run.seed and p["template"] == "chatml" and p["baseline"] == "world_reference"
        assert p["steps"]["judge"] == rec["judge_step"] and p["steps"]["train"].startswith("train-")
        assert p["base_model"]["name"] == "tiny-llama" and run.base_model.startswith("tiny-llama@")
        assert run.anchor in table.anchors
    assert table.noise_floor and table.noise_floor["n"] == 12 and table.noise_floor["sd_delta"] > 0


def test_long_results_table(golden_suite):
    frame = load_results(golden_suite).to_frame()
    assert {"dataset", "base_model", "seed", "benchmark", "metric", "value", "card_sha256", "judge"} <= set(frame)
    assert len(frame[frame.metric == "win_rate"]) == 8
    assert frame.groupby(["dataset", "seed", "metric"]).size().max() == 1


def test_runs_dir_results_json_and_leaderboard_json_load_the_same_table(golden_suite, tmp_path):
    direct = load_results(golden_suite)
    assert [r.dataset for r in load_results(golden_suite.parent).runs] == [r.dataset for r in direct.runs]
    assert load_results(golden_suite / "results.json").suite == "golden"
    report = compute(direct, Settings(n_bootstrap=50, n_bootstrap_lc=0))
    doc = tmp_path / "shipped.json"
    doc.write_text(render(report, direct, "json"))
    shipped = load_results(doc)
    assert shipped.to_json() == json.loads(json.dumps(direct.to_json()))
    for a, b in zip(direct.runs, shipped.runs):
        assert np.allclose(a.preference, b.preference) and a.provenance == b.provenance


def test_cached_statistics_are_reused_only_for_the_same_inputs(golden_suite, tmp_path):
    table = load_results(golden_suite)
    settings = Settings(n_bootstrap=100, n_bootstrap_lc=2, n_permutations=500)
    report = compute(table, settings)
    cache = tmp_path / "leaderboard.json"
    cache.write_text(render(report, table, "json"))
    again = build(table, settings, cached=cache)
    assert render(again, table, "md") == render(report, table, "md")
    changed = build(table, Settings(n_bootstrap=100, n_bootstrap_lc=0, n_permutations=2000), cached=cache)
    assert changed.tables[0].rows[0].metrics["lc_win_rate"].ci_low is None


def test_stale_noise_floor_steps_are_ignored(golden_suite):
    step = next(golden_suite.glob("noisefloor-*"))
    doc = json.loads((step / "noise_floor.json").read_text())
    doc["judge_steps"] = ["judge-gone-s0-000000000000"]
    (step / "noise_floor.json").write_text(json.dumps(doc))
    assert load_results(golden_suite).noise_floor is None


def _alpaca_eval_lc(ann: pd.DataFrame, df_gamed) -> float:
    """alpaca_eval's own GLM on annotations whose index holds each row's original prompt position."""
    import warnings

    from sftbench.judges.length_control import _glm_module, local_hub_files
    with local_hub_files({"df_gamed.csv": df_gamed}), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _glm_module().get_length_controlled_winrate(ann, save_weights_dir=None,
                                                           is_add_glm_preference_inplace=False,
                                                           is_warn_extreme_changes=False)["length_controlled_winrate"]


def test_lc_refit_matches_alpaca_evals_glm_on_the_original_and_on_resamples(golden_suite):
    table = load_results(golden_suite)
    rng = np.random.default_rng(0)
    for run in table.runs[:3]:
        ann = pd.read_json(golden_suite / run.provenance["steps"]["judge"] / "annotations.json")
        ann = ann.drop(columns=["swapped", "failed"])
        df_gamed = golden_suite / run.provenance["steps"]["lctable"] / "df_gamed.csv"
        model = LCModel.from_arrays(run.preference, run.delta_len, table.anchors[run.anchor], run.glm)
        assert model.winrate() == pytest.approx(lc_winrate(ann, df_gamed)["length_controlled_winrate"], abs=1e-6)
        # a bootstrap resample: repeated and missing prompts, each keeping its own instruction difficulty
        idx = rng.integers(0, 40, 40)
        assert model.winrate(idx) == pytest.approx(_alpaca_eval_lc(ann.iloc[idx], df_gamed), abs=1e-6)


def test_missing_judge_step_names_the_file(golden_suite):
    judge = json.loads((golden_suite / "results.json").read_text())[0]["judge_step"]
    shutil.rmtree(golden_suite / judge)
    with pytest.raises(FileNotFoundError, match="annotations.json"):
        load_results(golden_suite)


def test_runs_on_different_eval_sets_are_not_paired(golden_suite):
    table = load_results(golden_suite)
    table.runs[0].eval_sha256 = "different"
    with pytest.raises(ValueError, match="different eval prompts"):
        compute(table, FAST)


def test_not_a_results_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results.json"):
        load_results(tmp_path)
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="neither"):
        load_results(tmp_path / "x.json")
    with pytest.raises(ValueError, match="reference dataset"):
        compute(ResultsTable("s", []), Settings(reference="nope"))


def test_runs_from_different_judges_never_share_a_table(golden_suite):
    table = load_results(golden_suite)
    table.runs[3].provenance["judge_sha"] = "another"
    with pytest.raises(ValueError, match="different judges"):
        compute(table, FAST)
