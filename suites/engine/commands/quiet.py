"""`--quiet`: no progress bar from sftbench or any library it drives (tqdm users such as lm-eval and trl, datasets,
huggingface_hub). Environment variables, so worker processes and servers inherit them."""

from __future__ import annotations

import os

QUIET_ENV = {"TQDM_DISABLE": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
             "TRANSFORMERS_VERBOSITY": "error", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}


def silence_progress_bars() -> None:
    os.environ.update(QUIET_ENV)
