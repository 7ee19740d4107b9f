"""Loading the results table (the runner's results.json, or a shipped leaderboard.json): per-example scores,
columns, provenance, noise floor, and the errors for results that cannot be read or paired."""

import json

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
    assert table.suite == "golden" and table.datasets() == ["random", "longest", "curated", "bad", "untuned-base"]
    assert len(table.runs) == 9 and {r.seed for r in table.runs} == {0, 1}
    for run in table.runs:
        ev = run.evaluations["alpaca_eval"]
        pref = ev.array("preference")
        assert len(pref) == len(ev.units) == 40 and 0 <= pref.min() and pref.max() <= 1
        assert ev.headline["win_rate"] == pytest.approx(pref.mean() * 100)
        assert [c.key for c in ev.columns] == ["win_rate", "lc_win_rate", "avg_output_chars"]
        assert ev.fingerprint["model"] == "world-verifier" and ev.info["anchor"] in table.anchors
        p = run.provenance
        assert p["recipe"]["seed"] == run.seed and p["template"] == "chatml" and len(p["card_sha256"]) == 60
        assert p["base_model"]["name"] == "tiny-llama" and run.base_model.startswith("tiny-llama@")
    nf = table.noise_floors["alpaca_eval"]
    assert nf["n"] == 12 and nf["sd_delta"] > 0


def test_long_results_table(golden_suite):
    frame = load_results(golden_suite).to_frame()
    assert {"dataset", "base_model", "seed", "benchmark", "metric", "value", "card_sha256", "fingerprint"} <= set(frame)
    assert len(frame[frame.metric == "win_rate"]) == 9  # 4 datasets x 2 seeds and the untuned base
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


def test_cached_statistics_are_reused_only_for_the_same_inputs(golden_suite, tmp_path):
    table = load_results(golden_suite)
    settings = Settings(n_bootstrap=100, n_bootstrap_lc=2, n_permutations=500)
    report = compute(table, settings)
    cache = tmp_path / "leaderboard.json"
    cache.write_text(render(report, table, "json"))
    again = build(table, settings, cached=cache)
    assert render(again, table, "md") == render(report, table, "md")
    changed = build(table, Settings(n_bootstrap=100, n_bootstrap_lc=0, n_permutations=2000), cached=cache)
    lc = next(cs for cs in changed.tables[0].groups[0].columns if cs.column.key == "lc_win_rate")
    assert all(e.ci_low is None for e in lc.estimates.values())


def test_lc_refit_matches_alpaca_evals_glm_on_the_original_and_on_resamples(golden_suite, tmp_path):
    """The bootstrap's GLM refits equal alpaca_eval's own `get_length_controlled_winrate`, on the run as judged and
    on a resample with repeated and missing prompts (each keeping its own instruction difficulty)."""
    table = load_results(golden_suite)
    rng = np.random.default_rng(0)
    for run in table.runs[:3]:
        ev = run.evaluations["alpaca_eval"]
        df_gamed = tmp_path / "df_gamed.csv"
        table.anchors[ev.info["anchor"]].to_csv(df_gamed, index=False)
        pref, delta = ev.array("preference"), ev.array("delta_len")
        ann = pd.DataFrame({"instruction": [f"Task {i}" for i in range(len(pref))],
                            "output_1": ["a" * int(1000 + d) for d in delta], "generator_1": "world_reference",
                            "output_2": ["b" * 1000] * len(pref), "generator_2": run.dataset,
                            "annotator": "world-verifier", "dataset": "world", "preference": pref + 1.0})
        model = LCModel.from_arrays(pref, delta, table.anchors[ev.info["anchor"]], ev.info["glm"])
        assert model.winrate() == pytest.approx(lc_winrate(ann, df_gamed)["length_controlled_winrate"], abs=1e-6)
        assert model.winrate() == pytest.approx(ev.headline["lc_win_rate"], abs=1e-6)
        idx = rng.integers(0, len(pref), len(pref))
        assert model.winrate(idx) == pytest.approx(_alpaca_eval_lc(ann.iloc[idx], df_gamed), abs=1e-6)


def _alpaca_eval_lc(ann: pd.DataFrame, df_gamed) -> float:
    """alpaca_eval's own GLM on annotations whose index holds each row's original prompt position."""
    import warnings

    from sftbench.judges.length_control import _glm_module, local_hub_files
    with local_hub_files({"df_gamed.csv": df_gamed}), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _glm_module().get_length_controlled_winrate(ann, save_weights_dir=None,
                                                           is_add_glm_preference_inplace=False,
                                                           is_warn_extreme_changes=False)["length_controlled_winrate"]


def test_damaged_or_old_results_name_the_file_and_the_fix(golden_suite):
    path = golden_suite / "results.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match=r"results\.json: not valid JSON .* delete it"):
        load_results(golden_suite)
    path.write_text(json.dumps([{"dataset": "x", "judge_step": "judge-x"}]))
    with pytest.raises(ValueError, match="older sftbench.*sftbench run"):
        load_results(golden_suite)


def test_runs_on_different_eval_sets_are_not_paired(golden_suite):
    table = load_results(golden_suite)
    table.runs[0].evaluations["alpaca_eval"].units[0] = "0:another-prompt"
    with pytest.raises(ValueError, match="different eval prompts"):
        compute(table, FAST)


def test_not_a_results_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results.json"):
        load_results(tmp_path)
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="neither"):
        load_results(tmp_path / "x.json")
    with pytest.raises(ValueError, match="no runs"):
        compute(ResultsTable("s", []), Settings())


def test_runs_from_different_judges_never_share_a_table(golden_suite):
    table = load_results(golden_suite)
    table.runs[3].evaluations["alpaca_eval"].fingerprint = {"provider": "openai", "model": "another"}
    with pytest.raises(ValueError, match="different judges"):
        compute(table, FAST)
