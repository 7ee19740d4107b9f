"""alpaca_eval's own GLM through our local df_gamed routing, on published annotations and on synthetic cases."""

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from sftbench.judges.length_control import (
    build_df_gamed,
    fit_instruction_difficulty,
    lc_winrate,
)

from tests.conftest import shared_data

# Published (leaderboard) win rate and the LC that the derived df_gamed reproduces (its README, "LC here").
PUBLISHED = {"claude-2": (17.188, 28.151), "gemma-2b-it": (3.402, 5.428), "NullModel": (76.920, 86.391)}


@pytest.mark.parametrize("model", sorted(PUBLISHED))
def test_reproduces_published_alpaca_eval_numbers(model):
    ann = json.load(gzip.open(shared_data(f"alpaca_eval/annotations/{model}.json.gz"), "rt"))
    metrics = lc_winrate(ann, shared_data("alpaca_eval/derived/df_gamed.csv"))
    wr, lc = PUBLISHED[model]
    assert metrics["win_rate"] == pytest.approx(wr, abs=1e-3)
    assert metrics["length_controlled_winrate"] == pytest.approx(lc, abs=1e-3)


def pairs(n, pref_fn, len1=100, len2_fn=lambda i: 100):
    return pd.DataFrame([{"instruction": f"q{i}", "output_1": "a" * len1, "output_2": "b" * len2_fn(i),
                          "generator_1": "base", "generator_2": "m", "annotator": "t", "preference": pref_fn(i)}
                         for i in range(n)])


def test_own_df_gamed_removes_a_pure_length_advantage(tmp_path):
    """A judge that only likes length: verbose baseline wins, concise loses; a long model's LC falls back to ~50."""
    n = 120
    rng = np.random.default_rng(0)
    long_pref = lambda L: 1.5 + 0.45 * np.tanh((L - 100) / 150)  # noqa: E731
    verbose_len, concise_len = rng.integers(250, 450, n), rng.integers(20, 60, n)
    gamed = {"verbose": pairs(n, lambda i: long_pref(verbose_len[i]), len2_fn=lambda i: int(verbose_len[i])),
             "concise": pairs(n, lambda i: long_pref(concise_len[i]), len2_fn=lambda i: int(concise_len[i]))}
    df_gamed = build_df_gamed(gamed)
    assert list(df_gamed["model"].unique()) == ["verbose", "concise"]
    assert df_gamed["index"].tolist() == list(range(n)) * 2
    path = tmp_path / "df_gamed.csv"
    df_gamed.to_csv(path, index=False)
    model_len = rng.integers(250, 450, n)
    model = pairs(n, lambda i: long_pref(model_len[i]), len2_fn=lambda i: int(model_len[i]))
    metrics = lc_winrate(model, path)
    assert metrics["win_rate"] > 70
    assert abs(metrics["length_controlled_winrate"] - 50) < abs(metrics["win_rate"] - 50) - 10


def test_difficulty_is_zero_when_every_model_ties_and_positive_where_candidates_lose():
    ties = {"a": pairs(10, lambda i: 1.5), "b": pairs(10, lambda i: 1.5)}
    assert np.allclose(fit_instruction_difficulty(ties), 0, atol=1e-6)
    mixed = {"a": pairs(10, lambda i: 1.1 if i < 5 else 1.9), "b": pairs(10, lambda i: 1.2 if i < 5 else 1.8)}
    d = fit_instruction_difficulty(mixed)
    assert d[:5].min() > d[5:].max()


def test_df_gamed_too_small_for_the_eval_set_is_a_clear_error(tmp_path):
    small = build_df_gamed({"v": pairs(5, lambda i: 1.6, len2_fn=lambda i: 150 + i),
                            "c": pairs(5, lambda i: 1.4, len2_fn=lambda i: 50 + i)})
    path = tmp_path / "df.csv"
    small.to_csv(path, index=False)
    with pytest.raises(ValueError, match="covers 5 instructions but the annotations have 8"):
        lc_winrate(pairs(8, lambda i: 1.5), path)
