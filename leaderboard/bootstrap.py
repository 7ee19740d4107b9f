"""Bootstrap resampling over prompts and, hierarchically, over seeds. Deterministic: every generator is seeded
from the settings' seed and stable names (dataset, table), never from the order things are computed in.

Prompt draws are shared by every dataset of a table (the same eval prompts), so differences of replicates are
paired bootstrap replicates of the difference. Seeds are resampled per dataset (different training runs).
"""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence

import numpy as np


def rng_for(seed: int, *names: str) -> np.random.Generator:
    """A generator keyed by an integer seed and names, independent of call order."""
    words = [int.from_bytes(hashlib.sha256(n.encode()).digest()[:4], "little") for n in names]
    return np.random.default_rng([seed, *words])


def prompt_draws(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    """(b, n) prompt positions drawn with replacement."""
    return rng.integers(0, n, size=(b, n))


def counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(b, n) how often each prompt appears in each resample."""
    out = np.zeros((idx.shape[0], n))
    np.add.at(out, (np.arange(idx.shape[0])[:, None], idx), 1.0)
    return out


def seed_weights(rng: np.random.Generator, k: int, b: int) -> np.ndarray:
    """(b, k) weights of each seed in each resample (seeds drawn with replacement; rows sum to 1)."""
    if k == 1:
        return np.ones((b, 1))
    return counts(rng.integers(0, k, size=(b, k)), k) / k


def mean_replicates(scores: np.ndarray, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Bootstrap replicates of the mean over seeds of per-seed means over prompts, vectorised.

    scores: (k seeds, n prompts), NaN where a unit has no score (skipped in its seed's mean); idx: (b, n) prompt
    draws; weights: (b, k) seed weights.
    """
    c = counts(idx, scores.shape[1])
    missing = np.isnan(scores)
    if not missing.any():
        per_seed = c @ scores.T / scores.shape[1]  # (b, k)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            per_seed = (c @ np.where(missing, 0.0, scores).T) / (c @ (~missing).T.astype(float))
    return (per_seed * weights).sum(axis=1)


def refit_replicates(fits: Sequence[Callable[[np.ndarray], float]], idx: np.ndarray,
                     progress: Callable[[int], None] | None = None) -> np.ndarray:
    """(b, k) a statistic refitted per seed on every prompt resample (e.g. the LC win rate's GLM)."""
    out = np.empty((idx.shape[0], len(fits)))
    for i, draw in enumerate(idx):
        for j, fit in enumerate(fits):
            out[i, j] = fit(draw)
            if progress is not None:
                progress(1)
    return out
