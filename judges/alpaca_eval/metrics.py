"""AlpacaEval 2.0 metrics: win rate, length-controlled win rate, average length, counts.

Point estimates are alpaca_eval's own (`get_winrate`, `get_length_controlled_winrate` with the GLM
`length_controlled_v1`) via judges.length_control, with df_gamed read from a local file. Bootstrap confidence
intervals are statistics and live with the leaderboard (leaderboard/lc_refit.py `bootstrap_cis`). Annotations whose
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

GLM_COLUMNS = ["instruction", "output_1", "output_2", "generator_1", "generator_2", "annotator", "preference"]


def load_annotations(path: str | Path) -> list[dict[str, Any]]:
    """A published-format annotations file (.json/.json.gz list, or .jsonl[.gz])."""
    rows = read_json_or_jsonl(path)
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: expected a non-empty JSON list of AlpacaEval annotations")
    for i, row in enumerate(rows, start=1):
        where = f"{path}: annotation {i}"
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
        missing = [c for c in ("instruction", "output_1", "output_2", "preference") if c not in row]
        if missing:
            raise ValueError(f"{where}: lacks {missing} (AlpacaEval annotation format: instruction, output_1, "
                             "generator_1, output_2, generator_2, preference)")
        pref = row["preference"]
        if pref is not None and (isinstance(pref, bool) or not isinstance(pref, (int, float))
                                 or not (pref == 0 or 1 <= pref <= 2 or pref != pref)):
            raise ValueError(f"{where}: preference {pref!r} is not a number in [1, 2] (0 or null: a tie or a failed "
                             "judgment); fix or remove the row")
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


def annotation_arrays(annotations: Sequence[dict] | pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(preference in [0, 1] with failures as ties, len(output_1) - len(output_2)) per annotation, in order."""
    df, _ = _clean(annotations)
    pref = df["preference"].to_numpy(float) - 1.0
    delta = (df["output_1"].astype(str).str.len() - df["output_2"].astype(str).str.len()).to_numpy(float)
    return pref, delta


def alpaca_eval_metrics(annotations: Sequence[dict] | pd.DataFrame, df_gamed: str | Path, *,
                        glm_name: str = "length_controlled_v1") -> dict[str, Any]:
    """win_rate, lc_win_rate, their standard errors, n, avg_length, failure and flag counts."""
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
    }
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


__all__ = ["alpaca_eval_metrics", "annotation_arrays", "load_annotations"]
