"""Refit alpaca_eval's length-control GLM on resampled prompts (for bootstrap CIs of the LC win rate).

`judges.length_control.lc_winrate` calls alpaca_eval's `get_length_controlled_winrate`, which renumbers rows, so
a bootstrap resample (prompts repeated, others left out) would lose each prompt's instruction difficulty. Here the
same features are built directly from the original prompt positions (no patsy, no hub) and fitted with
alpaca_eval's own `fit_LogisticRegressionCV`; on the identity resample the result equals `lc_winrate`'s (tested).
The `df_gamed` anchor rows are part of the metric's definition and are not resampled.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

LAMBDA = {"length_controlled_v1": 0.2, "length_controlled_noreg": None, "length_controlled_minimal": None}
COLUMNS = ["np.tanh(std_delta_len)", "instruction_difficulty", "not_gamed_baseline.astype(float)"]


def _fit_cv():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from alpaca_eval.metrics.glm_winrate import fit_LogisticRegressionCV
    return fit_LogisticRegressionCV


@dataclass
class LCModel:
    """One run's annotations as arrays, ready for refits on any resample of prompt positions."""
    preference: np.ndarray      # in [0, 1]: alpaca_eval's preference - 1 (its 0.0 "draw" code already mapped to 0.5)
    delta_len: np.ndarray       # len(output_1) - len(output_2), characters
    difficulty: np.ndarray      # instruction difficulty per prompt position, from df_gamed
    gamed: pd.DataFrame         # df_gamed rows as GLM features (fixed anchor)
    glm: str = "length_controlled_v1"

    @classmethod
    def from_arrays(cls, preference: np.ndarray, delta_len: np.ndarray, df_gamed: pd.DataFrame | Path,
                    glm: str = "length_controlled_v1") -> "LCModel":
        if glm not in LAMBDA:
            raise ValueError(f"unknown length-control GLM {glm!r}; known: {sorted(LAMBDA)}")
        dfg = pd.read_csv(df_gamed) if isinstance(df_gamed, (str, Path)) else df_gamed
        firsts = dfg.drop_duplicates("index")["instruction_difficulty"]  # indexed like alpaca_eval's lookup
        n = len(preference)
        try:
            difficulty = firsts.loc[np.arange(n)].to_numpy(float)
        except KeyError:
            raise ValueError(f"df_gamed covers fewer instructions than the {n} annotations; build it for the "
                             "same eval set") from None
        return cls(np.asarray(preference, float), np.asarray(delta_len, float), difficulty,
                   dfg[["preference", "std_delta_len", "instruction_difficulty", "not_gamed_baseline"]], glm)

    def _features(self, std_delta: np.ndarray, difficulty: np.ndarray, not_gamed: np.ndarray) -> pd.DataFrame:
        cols = {COLUMNS[0]: np.tanh(std_delta), COLUMNS[1]: difficulty, COLUMNS[2]: not_gamed.astype(float)}
        if self.glm == "length_controlled_minimal":
            cols.pop(COLUMNS[1])
        return pd.DataFrame(cols)

    def winrate(self, idx: np.ndarray | None = None) -> float:
        """LC win rate (percent) refitted on the prompts at positions `idx` (all prompts when None)."""
        idx = np.arange(len(self.preference)) if idx is None else np.asarray(idx)
        pref, delta, diff = self.preference[idx], self.delta_len[idx], self.difficulty[idx]
        std = delta.std(ddof=1) if len(delta) > 1 else 0.0
        std_delta = delta / std if std and np.isfinite(std) else np.zeros_like(delta)
        model = self._features(std_delta, diff, np.ones(len(idx), bool))
        y = pref
        weight = None
        lam = LAMBDA[self.glm]
        if lam:
            g = self.gamed
            gamed_x = self._features(g["std_delta_len"].to_numpy(float), g["instruction_difficulty"].to_numpy(float),
                                     g["not_gamed_baseline"].to_numpy(bool))
            model = pd.concat([gamed_x, model], ignore_index=True)
            y = np.r_[g["preference"].to_numpy(float), pref]
            weight = np.r_[np.full(len(g), lam / 2), np.ones(len(idx))]
        keep = ~np.isnan(y)
        train = model[keep].reset_index(drop=True).assign(preference=y[keep])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = _fit_cv()(train, "preference", is_ytrue_proba=True,
                               sample_weight=None if weight is None else weight[keep], n_splits=5)
            test = self._features(np.zeros(len(idx)), diff, np.ones(len(idx), bool))
            return float(fitted.predict_proba(test)[:, 1].mean() * 100)
