"""Backends on this machine: steps run one after another in this process (the default: live LLM roles and
managed servers shared by every step), or `--jobs N` at once in a pool of N processes."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from typing import Any

from sftbench.suites.engine.executors.dag import Outcome
from sftbench.suites.engine.executors.worker import execute
from sftbench.suites.engine.step import Step


class InProcess:
    """One step at a time in this process, output on the terminal."""

    def __init__(self, settings: dict[str, Any], say: Any = None):
        self.settings, self.say = {**settings, "where": ""}, say
        self._done: dict[int, Outcome] = {}
        self._n = 0

    def submit(self, step: Step) -> int:
        self._n += 1
        self._done[self._n] = Outcome(**execute(step.to_json(), self.settings, log=False, say=self.say))
        return self._n

    def wait(self, handles: list[int], timeout: float) -> list[tuple[int, Outcome]]:
        return [(h, self._done.pop(h)) for h in handles if h in self._done]

    def slots(self) -> int:
        return 1 if not self._done else 0

    def where(self, handle: int) -> str:
        return "this process"

    def close(self) -> None:
        from sftbench.suites.engine.executors.worker import _CONTEXTS
        for ctx in _CONTEXTS.values():
            ctx.close()
        _CONTEXTS.clear()


class LocalPool:
    """`jobs` worker processes (spawned: each its own torch, threads and LLM clients); each step's output goes to
    its log file under the store."""

    def __init__(self, settings: dict[str, Any], jobs: int):
        self.settings, self.jobs = settings, jobs
        self.pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
        self.running: set[cf.Future] = set()

    def submit(self, step: Step) -> cf.Future:
        future = self.pool.submit(execute, step.to_json(), self.settings, True)
        self.running.add(future)
        return future

    def wait(self, handles: list[cf.Future], timeout: float) -> list[tuple[cf.Future, Outcome]]:
        done, _ = cf.wait(handles, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out = []
        for future in done:
            self.running.discard(future)
            try:
                out.append((future, Outcome(**future.result())))
            except cf.process.BrokenProcessPool as exc:  # a worker died (killed, out of memory)
                out.append((future, Outcome(False, error=f"its worker process died ({exc})", code=1)))
        return out

    def slots(self) -> int:
        return self.jobs - len(self.running)

    def where(self, handle: cf.Future) -> str:
        return "a local worker"

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
