"""Threads, seeds, offline switches and quiet logging for the stages that run torch models."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import warnings
from typing import Iterator

import numpy as np
import torch

_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DISABLE_MLFLOW_INTEGRATION": "TRUE",
    "WANDB_DISABLED": "true",
    "WANDB_MODE": "disabled",
    "TOKENIZERS_PARALLELISM": "false",
}

# bitsandbytes (QLoRA) warns at import on CPUs with AVX512-BF16 that it could not fetch an optional hub kernel;
# it then uses its own CPU kernels, so the warning is noise for every stage that imports transformers.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


def set_threads(threads: int) -> None:
    """Use `threads` intra-op threads (on a busy 2-core machine 1 can be much faster than 2)."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1 (got {threads})")
    torch.set_num_threads(threads)


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def setup_torch(threads: int, seed: int | None = None) -> None:
    """Thread count and (optionally) seeds; called at the start of every model stage.

    Results are bit-identical for the same seed *and* thread count: the reduction order of CPU
    kernels depends on the number of threads.
    """
    set_threads(threads)
    if seed is not None:
        set_seed(seed)


@contextlib.contextmanager
def hf_offline() -> Iterator[None]:
    """Keep huggingface_hub/transformers/trl off the network (no downloads, telemetry, wandb) inside the block.

    huggingface_hub reads HF_HUB_OFFLINE at import time, so its constants are patched too; everything is
    restored on exit.
    """
    saved_env = {key: os.environ.get(key) for key in _OFFLINE_ENV}
    os.environ.update(_OFFLINE_ENV)
    from huggingface_hub import constants

    saved_consts = {name: getattr(constants, name) for name in ("HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY")}
    for name in saved_consts:
        setattr(constants, name, True)
    try:
        yield
    finally:
        for name, value in saved_consts.items():
            setattr(constants, name, value)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def quiet_hf() -> Iterator[None]:
    """Silence transformers/trl/datasets logs, FutureWarnings and library progress bars inside the block."""
    import datasets
    import transformers

    tf_level = transformers.logging.get_verbosity()
    ds_level = datasets.logging.get_verbosity()
    ds_bars = datasets.is_progress_bar_enabled()
    tf_bars = transformers.logging.is_progress_bar_enabled()
    transformers.logging.set_verbosity_error()
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    transformers.logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        transformers.logging.set_verbosity(tf_level)
        datasets.logging.set_verbosity(ds_level)
        if ds_bars:
            datasets.enable_progress_bars()
        if tf_bars:
            transformers.logging.enable_progress_bar()
