"""What the CLI prints for a failure, and its exit code: 2 for bad input (the message names the file, row or line,
field and fix), 1 for a failure of the run (finished steps are kept), 130 for an interrupt. No traceback unless
`--debug`."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import yaml

BAD_INPUT, FAILURE, INTERRUPTED = 2, 1, 130
RESUME_HINT = "finished steps are kept; fix the cause and run the same command again to resume"


def _bad_input_types() -> tuple[type, ...]:
    from sftbench.common.jsonio import JsonFileError
    from sftbench.common.rows import RowError
    from sftbench.datasets_builders.registry import UnknownBuilder
    from sftbench.suites.engine.yaml_source import SuiteError
    return (SuiteError, RowError, UnknownBuilder, JsonFileError, FileNotFoundError, IsADirectoryError,
            NotADirectoryError, UnicodeDecodeError, yaml.YAMLError, ValueError)


def disk_full_message(exc: OSError) -> str:
    where = exc.filename or "the output directory"
    folder = Path(where).parent if exc.filename else Path(".")
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        space = f"{shutil.disk_usage(folder).free / 2**20:.0f} MiB free on {folder}'s disk"
    except OSError:
        space = "free space unknown"
    return (f"error: the disk is full writing {where} ({space}); free space (or point --runs-dir / SFTBENCH_STORE "
            f"at a larger disk) and run again: {RESUME_HINT}")


def _disk_full_in_disguise(exc: BaseException) -> bool:
    """A library's error that hides a full disk (torch.save's "unexpected pos", a wrapped ENOSPC)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc)
        if "No space left on device" in text or ("inline_container" in text and "unexpected pos" in text):
            return True
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def describe(exc: BaseException) -> tuple[int, str]:
    """(exit code, one message) for an exception that reached the command line."""
    if hasattr(exc, "failures"):  # steps failed (executors/dag.py StepFailed): the first one's class decides
        return getattr(exc, "code", FAILURE), f"error: {exc}\n{RESUME_HINT}"
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED, f"interrupted: {RESUME_HINT}"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return FAILURE, disk_full_message(exc)
    if _disk_full_in_disguise(exc):  # torch's zip writer: "[enforce fail at inline_container.cc] unexpected pos"
        return FAILURE, disk_full_message(OSError(errno.ENOSPC, str(exc).splitlines()[0][:200]))
    if isinstance(exc, _bad_input_types()):
        return BAD_INPUT, f"error: {exc}"
    if isinstance(exc, RuntimeError) or isinstance(exc, OSError):
        return FAILURE, f"error: {type(exc).__name__}: {exc}\n{RESUME_HINT}"
    return FAILURE, (f"error: internal failure ({type(exc).__name__}: {exc}); {RESUME_HINT}. Run with --debug for "
                     "the traceback and report it")
