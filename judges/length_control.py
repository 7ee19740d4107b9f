"""Length-controlled win rate with alpaca_eval's own GLM, fed a local `df_gamed` table.

alpaca_eval's `get_length_controlled_winrate` downloads `df_gamed.csv` from the hub on every call. We call the
same function with its download routed to a local file, so the GLM, its features and its fit are alpaca_eval's.
sftbench can also build `df_gamed` itself for any eval set and judge (`build_df_gamed`): the judge annotates a
verbose and a concise version of the baseline's own answers against the baseline, which anchors the length term.
"""

from __future__ import annotations

import logging
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

DF_GAMED_COLUMNS = ["model", "index", "preference", "std_delta_len", "instruction_difficulty", "not_gamed_baseline"]
_PATCH_LOCK = threading.Lock()


def _glm_module():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # alpaca_eval imports pkg_resources and warns about it
        from alpaca_eval.metrics import glm_winrate
    return glm_winrate


@contextmanager
def local_hub_files(files: dict[str, Path]) -> Iterator[None]:
    """Route alpaca_eval's hub downloads of the named files to local paths; any other file is an error."""
    glm = _glm_module()

    def local_download(*, filename: str, **_: Any) -> str:
        if filename not in files:
            raise FileNotFoundError(f"alpaca_eval asked the hub for {filename!r}; sftbench is offline and has no "
                                    f"local copy (known: {sorted(files)})")
        return str(files[filename])

    with _PATCH_LOCK:
        original = glm.hf_hub_download
        glm.hf_hub_download = local_download
        try:
            yield
        finally:
            glm.hf_hub_download = original


def check_df_gamed(path: Path, n_prompts: int) -> None:
    head = pd.read_csv(path, nrows=1)
    missing = [c for c in DF_GAMED_COLUMNS if c not in head.columns]
    if missing:
        raise ValueError(f"{path}: df_gamed table lacks columns {missing}; expected {DF_GAMED_COLUMNS}")
    n_index = pd.read_csv(path, usecols=["index"])["index"].nunique()
    if n_index < n_prompts:
        raise ValueError(f"{path}: df_gamed covers {n_index} instructions but the annotations have {n_prompts}; "
                         "build it for the same eval set (sftbench does so for its own eval sets)")


def lc_winrate(annotations: Sequence[dict] | pd.DataFrame, df_gamed: Path,
               glm_name: str = "length_controlled_v1") -> dict[str, float]:
    """alpaca_eval's win-rate metrics plus `length_controlled_winrate` and `lc_standard_error`.

    Annotations are AlpacaEval records (output_1 = baseline, output_2 = model, preference in [1, 2]) in the
    eval set's order: the GLM uses the row position as the instruction index.
    """
    df = pd.DataFrame(annotations).reset_index(drop=True)
    check_df_gamed(Path(df_gamed), len(df))
    glm = _glm_module()
    with local_hub_files({"df_gamed.csv": Path(df_gamed)}), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger().disabled, was = True, logging.getLogger().disabled
        try:
            metrics = glm.get_length_controlled_winrate(df, glm_name=glm_name, save_weights_dir=None,
                                                        is_add_glm_preference_inplace=False)
        finally:
            logging.getLogger().disabled = was
    return {k: float(v) for k, v in metrics.items()}


def _std_delta_len(output_1: pd.Series, output_2: pd.Series) -> pd.Series:
    delta = output_1.str.len() - output_2.str.len()
    std = delta.std()
    return delta / std if std and np.isfinite(std) else delta * 0.0


def fit_instruction_difficulty(annotation_sets: dict[str, pd.DataFrame], c: float = 1.0) -> np.ndarray:
    """Per-instruction difficulty: the instruction terms of one joint logistic fit over several annotated models.

    As alpaca_eval's notebook does, preference ~ model bias + length term + instruction term, here with an L2
    penalty so that instructions every model ties on get difficulty 0. Soft labels are fitted by duplicating
    rows with weights p and 1 - p.
    """
    from sklearn.linear_model import LogisticRegression

    frames = []
    for model, df in annotation_sets.items():
        frames.append(pd.DataFrame({"model": model, "index": np.arange(len(df)),
                                    "len": np.tanh(_std_delta_len(df["output_1"], df["output_2"])).to_numpy(),
                                    "y": (df["preference"].astype(float) - 1).clip(0, 1).to_numpy()}))
    data = pd.concat(frames, ignore_index=True)
    n_index = int(data["index"].max()) + 1
    x = np.hstack([pd.get_dummies(data["model"]).to_numpy(float), data[["len"]].to_numpy(),
                   np.eye(n_index)[data["index"].to_numpy()]])
    xx = np.vstack([x, x])
    yy = np.r_[np.ones(len(data)), np.zeros(len(data))]
    w = np.r_[data["y"].to_numpy(), 1 - data["y"].to_numpy()]
    if w[: len(data)].sum() == 0 or w[len(data):].sum() == 0:  # every pair went one way: nothing to separate
        return np.zeros(n_index)
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=2000).fit(xx, yy, sample_weight=w)
    difficulty = -model.coef_[0][-n_index:]  # harder instruction = lower preference for the candidate
    return difficulty - difficulty.mean()


def build_df_gamed(gamed: dict[str, pd.DataFrame], extra: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """The `df_gamed` table alpaca_eval's GLM reads, from annotations of gamed versions of the baseline.

    `gamed` maps a name (e.g. 'baseline_verbose') to its AlpacaEval annotations against the baseline, rows in
    eval order (row position = instruction index); `extra` adds annotated models that only inform the difficulty.
    """
    difficulty = fit_instruction_difficulty({**gamed, **(extra or {})})
    rows = []
    for model, df in gamed.items():
        rows.append(pd.DataFrame({
            "model": model, "index": np.arange(len(df)),
            "preference": (df["preference"].astype(float) - 1).clip(0, 1).to_numpy(),
            "std_delta_len": _std_delta_len(df["output_1"], df["output_2"]).to_numpy(),
            "instruction_difficulty": difficulty[: len(df)],
            "not_gamed_baseline": False}))
    return pd.concat(rows, ignore_index=True)[DF_GAMED_COLUMNS]
