"""AlpacaEval 2.0 metrics: win rate, length-controlled win rate, average length, bootstrap CIs over prompts.

Point estimates are alpaca_eval's own (`get_winrate`, `get_length_controlled_winrate` with the GLM
`length_controlled_v1`) via judges.length_control, with df_gamed read from a local file. Confidence intervals
resample the prompts with replacement `n_bootstrap` times: the win rate is recomputed, and the GLM is refitted
on every resample (each resampled row keeps its instruction's index, so its difficulty term is its own);
intervals are percentile intervals, `*_bootstrap_se` the replicates' standard deviation. Annotations whose
preference is missing (NaN/None) or marked `failed` count as ties (1.5), are counted in `n_failed`, and stay in
the denominator (alpaca_eval itself drops missing ones; the published files have none).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from sftbench.judges.injection import flag_judge_injection
from sftbench.common.downloads import content_sha256, read_json_or_jsonl
from sftbench.judges.length_control import lc_winrate
from sftbench.judges.pairwise import FAILED_PREFERENCE

DEFAULT_N_BOOTSTRAP = 200
GLM_COLUMNS = ["instruction", "output_1", "output_2", "generator_1", "generator_2", "annotator", "preference"]


def load_annotations(path: str | Path) -> list[dict[str, Any]]:
    """A published-format annotations file (.json/.json.gz list, or .jsonl[.gz])."""
    rows = read_json_or_jsonl(path)
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: expected a non-empty JSON list of AlpacaEval annotations")
    missing = [c for c in ("instruction", "output_1", "output_2", "preference") if c not in rows[0]]
    if missing:
        raise ValueError(f"{path}: annotations lack {missing} (AlpacaEval annotation format: instruction, output_1, "
                         "generator_1, output_2, generator_2, preference)")
    return rows


def _clean(annotations: Sequence[dict] | pd.DataFrame) -> tuple[pd.DataFrame, int]:
    df = pd.DataFrame(annotations).reset_index(drop=True).copy()
    for col, default in (("generator_1", "baseline"), ("generator_2", "model"), ("annotator", "annotator")):
        if col not in df:
            df[col] = default
    pref = pd.to_numeric(df["preference"], errors="coerce")
    failed = pref.isna() | (df["failed"].fillna(False).astype(bool) if "failed" in df else False)
    df["preference"] = pref.where(~failed, FAILED_PREFERENCE).astype(float)
    bad = df.loc[~df["preference"].between(1.0, 2.0) & (df["preference"] != 0), "preference"]
    if len(bad):
        raise ValueError(f"annotations: preference {bad.iloc[0]!r} (row {bad.index[0]}) outside [1, 2]")
    df["preference"] = df["preference"].replace({0.0: FAILED_PREFERENCE})  # alpaca_eval's draw encoding
    for col in ("generator_1", "generator_2"):
        if df[col].nunique() != 1:
            raise ValueError(f"annotations: {col} must name one model, found {sorted(df[col].unique())[:5]}")
    return df, int(failed.sum())


def _n_flagged(df: pd.DataFrame) -> int:
    """Outputs flagged as addressing the judge: the annotations' own flags, else the detector run on output_2."""
    if "judge_injection" in df:
        return int(sum(bool(v) for v in df["judge_injection"]))
    return sum(1 for out in df["output_2"].astype(str) if flag_judge_injection(out))


def bootstrap_replicates(df: pd.DataFrame, df_gamed: Path, n_bootstrap: int, seed: int = 0,
                         glm_name: str = "length_controlled_v1",
                         progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(win-rate replicates, LC replicates), each of length n_bootstrap, resampling prompts with replacement; every
    LC replicate refits alpaca_eval's GLM on the resample (judges/lc_refit.py, the leaderboard's refit too)."""
    from sftbench.leaderboard.lc_refit import LCModel
    rng = np.random.default_rng(seed)
    n = len(df)
    pref = df["preference"].to_numpy(float)
    delta = (df["output_1"].astype(str).str.len() - df["output_2"].astype(str).str.len()).to_numpy(float)
    model = LCModel.from_arrays(pref - 1.0, delta, Path(df_gamed), glm_name)
    wr, lc = np.empty(n_bootstrap), np.empty(n_bootstrap)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=n_bootstrap, desc="bootstrap (GLM refits)", leave=False)
    try:
        for b in range(n_bootstrap):
            idx = rng.integers(0, n, n)
            wr[b] = (pref[idx] - 1).mean() * 100
            try:
                lc[b] = model.winrate(idx)
            except (ValueError, np.linalg.LinAlgError):  # a degenerate resample: counted, not fatal
                lc[b] = np.nan
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return wr, lc


def _interval(reps: np.ndarray, level: float) -> list[float] | None:
    reps = reps[np.isfinite(reps)]
    if not len(reps):
        return None
    alpha = (1 - level) / 2
    return [float(np.quantile(reps, alpha)), float(np.quantile(reps, 1 - alpha))]


def alpaca_eval_metrics(annotations: Sequence[dict] | pd.DataFrame, df_gamed: str | Path, *,
                        n_bootstrap: int = DEFAULT_N_BOOTSTRAP, ci: float = 0.95, seed: int = 0,
                        glm_name: str = "length_controlled_v1", progress: bool = False) -> dict[str, Any]:
    """win_rate, lc_win_rate, their standard errors and bootstrap CIs, n, avg_length, failure and flag counts."""
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    df, n_failed = _clean(annotations)
    point = lc_winrate(df[GLM_COLUMNS], Path(df_gamed), glm_name=glm_name)
    out: dict[str, Any] = {
        "generator": str(df["generator_2"].iloc[0]), "baseline": str(df["generator_1"].iloc[0]),
        "annotator": str(df["annotator"].iloc[0]),
        "win_rate": point["win_rate"], "standard_error": point["standard_error"],
        "lc_win_rate": point["length_controlled_winrate"], "lc_standard_error": point["lc_standard_error"],
        "discrete_win_rate": point["discrete_win_rate"], "n": len(df), "n_wins": int(point["n_wins"]),
        "n_wins_base": int(point["n_wins_base"]), "n_draws": int(point["n_draws"]),
        "avg_length": float(df["output_2"].astype(str).str.len().mean()), "n_failed": n_failed,
        "n_flagged_injection": _n_flagged(df),
        "glm": glm_name, "df_gamed": {"path": str(df_gamed), "sha256": content_sha256(df_gamed)},
        "ci_level": ci, "n_bootstrap": n_bootstrap, "bootstrap_seed": seed,
        "win_rate_ci": None, "lc_win_rate_ci": None, "win_rate_bootstrap_se": None, "lc_bootstrap_se": None,
    }
    if n_bootstrap:
        wr, lc = bootstrap_replicates(df, Path(df_gamed), n_bootstrap, seed, glm_name, progress)
        out.update(win_rate_ci=_interval(wr, ci), lc_win_rate_ci=_interval(lc, ci),
                   win_rate_bootstrap_se=float(np.std(wr, ddof=1)) if n_bootstrap > 1 else None,
                   lc_bootstrap_se=float(np.nanstd(lc, ddof=1)) if n_bootstrap > 1 else None,
                   n_bootstrap_failed=int(np.sum(~np.isfinite(lc))))
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


__all__ = ["alpaca_eval_metrics", "load_annotations", "bootstrap_replicates", "DEFAULT_N_BOOTSTRAP"]
