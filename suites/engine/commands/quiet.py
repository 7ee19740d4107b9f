"""`--quiet`: no progress bar from sftbench or any library it drives (tqdm users such as lm-eval and trl, datasets,
huggingface_hub). Environment variables, so worker processes and servers inherit them."""

from __future__ import annotations

import os
from typing import Any

QUIET_ENV = {"TQDM_DISABLE": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
             "TRANSFORMERS_VERBOSITY": "error", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}


def silence_progress_bars() -> None:
    os.environ.update(QUIET_ENV)
    quiet_tqdm()


def quiet_tqdm() -> None:
    """tqdm reads TQDM_DISABLE as a default only: a library that passes `disable=False` itself (lm-eval does)
    still draws. Every tqdm of this process is then disabled, whatever it was told; worker processes call this
    when they inherit QUIET_ENV."""
    if os.environ.get("TQDM_DISABLE") != "1":
        return
    import tqdm
    init = tqdm.tqdm.__init__
    if getattr(init, "_sftbench_quiet", False):
        return

    def disabled(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > 10:  # `disable` passed by position (iterable, desc, ..., ascii, disable)
            args = (*args[:10], True, *args[11:])
        else:
            kwargs["disable"] = True
        init(self, *args, **kwargs)
    disabled._sftbench_quiet = True  # type: ignore[attr-defined]
    tqdm.tqdm.__init__ = disabled  # type: ignore[method-assign]
