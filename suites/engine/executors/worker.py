"""Running one step where a backend put it (this process, a pool process, a Ray worker): the step comes as JSON,
the process keeps one StepContext per store and settings (live LLM roles and managed servers are reused by its
later steps and stopped when it exits), and the step's output goes to `<store>/.logs/<step>.log` when asked."""

from __future__ import annotations

import multiprocessing.util
import os
import socket
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, Iterator

from sftbench.suites.engine.step import Step, StepContext
from sftbench.suites.engine.store import Store

_CONTEXTS: dict[tuple, StepContext] = {}
LOGS = ".logs"


def context_for(settings: dict[str, Any]) -> StepContext:
    key = (settings["store"], settings["threads"], settings["progress"], settings.get("max_usd"),
           settings.get("coordination"))
    if key not in _CONTEXTS:
        ctx = StepContext(Store(settings["store"]), settings["threads"], settings["progress"], settings.get("max_usd"),
                          settings.get("coordination"))
        _CONTEXTS[key] = ctx
        multiprocessing.util.Finalize(None, ctx.close, exitpriority=10)  # servers stop when the worker exits
    return _CONTEXTS[key]


@contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors too: libraries and subprocesses) to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def execute(step_json: dict[str, Any], settings: dict[str, Any], log: bool = True,
            say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run one step (unless it is in the store); returns the Outcome's fields. Never raises for a step's failure."""
    from sftbench.suites.engine.commands.errors import describe
    from sftbench.suites.engine.commands.quiet import quiet_tqdm
    from sftbench.suites.engine.executor import run_step
    quiet_tqdm()  # --quiet reaches workers as QUIET_ENV
    step = Step.from_json(step_json)
    ctx = context_for(settings)
    where = settings.get("where") or f"{socket.gethostname()}:{os.getpid()}"
    log_path = ctx.store.root / LOGS / f"{step.key.dirname}.log"
    start = time.time()
    with output_to(log_path) if log else nullcontext():
        try:
            ran = run_step(step, ctx.store, ctx, say=say or (lambda text: print(text, file=sys.stderr)))
        except (Exception, KeyboardInterrupt) as exc:
            code, message = describe(exc)
            if log:
                import traceback
                traceback.print_exc()
            return {"ran": False, "error": message.removeprefix("error: "), "code": code,
                    "log": str(log_path) if log else None, "where": where}
    return {"ran": ran, "wall_s": round(time.time() - start, 3), "where": where,
            "log": str(log_path) if log else None}
