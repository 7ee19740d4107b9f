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


DEFAULT_N_BOOTSTRAP = 200


def bootstrap_replicates(preference: np.ndarray, delta_len: np.ndarray, df_gamed: pd.DataFrame | Path,
                         n_bootstrap: int, seed: int = 0, glm: str = "length_controlled_v1",
                         progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(win-rate replicates, LC replicates) of one run, resampling prompts with replacement; every LC replicate
    refits the GLM on the resample (a degenerate resample is NaN: counted, not fatal)."""
    rng = np.random.default_rng(seed)
    pref = np.asarray(preference, float)
    n = len(pref)
    model = LCModel.from_arrays(pref, delta_len, df_gamed, glm)
    wr, lc = np.empty(n_bootstrap), np.empty(n_bootstrap)
    from tqdm import tqdm
    with tqdm(total=n_bootstrap, desc="bootstrap (GLM refits)", leave=False, disable=not progress) as bar:
        for b in range(n_bootstrap):
            idx = rng.integers(0, n, n)
            wr[b] = pref[idx].mean() * 100
            try:
                lc[b] = model.winrate(idx)
            except (ValueError, np.linalg.LinAlgError):
                lc[b] = np.nan
            bar.update(1)
    return wr, lc


def bootstrap_cis(preference: np.ndarray, delta_len: np.ndarray, df_gamed: pd.DataFrame | Path, n_bootstrap: int,
                  ci: float = 0.95, seed: int = 0, glm: str = "length_controlled_v1",
                  progress: bool = False) -> dict:
    """Percentile CIs and bootstrap SEs of one run's win rate and LC win rate (`sftbench metrics alpaca-eval`)."""
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    out: dict = {"ci_level": ci, "n_bootstrap": n_bootstrap, "bootstrap_seed": seed, "win_rate_ci": None,
                 "lc_win_rate_ci": None, "win_rate_bootstrap_se": None, "lc_bootstrap_se": None}
    if not n_bootstrap:
        return out
    wr, lc = bootstrap_replicates(preference, delta_len, df_gamed, n_bootstrap, seed, glm, progress)
    out.update(win_rate_ci=_interval(wr, ci), lc_win_rate_ci=_interval(lc, ci),
               win_rate_bootstrap_se=float(np.std(wr, ddof=1)) if n_bootstrap > 1 else None,
               lc_bootstrap_se=float(np.nanstd(lc, ddof=1)) if n_bootstrap > 1 else None,
               n_bootstrap_failed=int(np.sum(~np.isfinite(lc))))
    return out


def _interval(reps: np.ndarray, level: float) -> list[float] | None:
    reps = reps[np.isfinite(reps)]
    if not len(reps):
        return None
    alpha = (1 - level) / 2
    return [float(np.quantile(reps, alpha)), float(np.quantile(reps, 1 - alpha))]
