"""Run a plan's steps as a DAG: a step starts as soon as the steps it reads are finished, on whatever backend runs
steps (in this process, a pool of local processes, a Ray cluster). Shared by every executor: the order of
submission (plan order among the ready steps), failures (the step is named with its log; steps that do not depend
on it still run and are kept), and what the progress display shows (waiting / running where and for how long /
done / failed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from sftbench.suites.engine.plan import Plan
from sftbench.suites.engine.step import Step


@dataclass
class Outcome:
    """What a backend reports for one step."""
    ran: bool                      # computed here (False: it was already in the store, or another run made it)
    wall_s: float = 0.0
    where: str = ""                # node / process
    error: str | None = None       # one message, as the CLI prints it
    code: int = 0                  # its exit code class: 2 bad input, 1 failure
    log: str | None = None         # the step's log file, when the backend keeps one


class Backend(Protocol):
    def submit(self, step: Step) -> Any: ...
    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, Outcome]]: ...
    def slots(self) -> int: ...              # how many more steps it takes now
    def where(self, handle: Any) -> str: ...  # where a running step runs
    def close(self) -> None: ...


class StepFailed(RuntimeError):
    """One or more steps failed; the others that could run did, and are kept."""

    def __init__(self, failures: list[tuple[Step, Outcome]], skipped: list[Step]):
        self.failures, self.skipped = failures, skipped
        step, out = failures[0]
        self.code = out.code or 1
        more = f" (and {len(failures) - 1} other step(s) failed)" if len(failures) > 1 else ""
        blocked = f"; {len(skipped)} step(s) that need it did not run" if skipped else ""
        log = f"; its log: {out.log}" if out.log else ""
        super().__init__(f"step {step.key.dirname} ({step.label}) failed: {out.error}{log}{more}{blocked}")


@dataclass
class Progress:
    total: int
    done: int = 0
    cached: int = 0
    failed: int = 0
    running: dict[str, tuple[str, float]] = field(default_factory=dict)  # dirname -> (where, since)
    by_kind: dict[str, float] = field(default_factory=dict)              # computed wall seconds per step kind

    def line(self) -> str:
        now = time.time()
        running = ", ".join(f"{d.rsplit('-', 1)[0]} on {w} {now - s:.0f}s" for d, (w, s) in self.running.items())
        waiting = self.total - self.done - self.cached - self.failed - len(self.running)
        return (f"{self.done + self.cached}/{self.total} finished ({self.cached} cached), {len(self.running)} running"
                + (f" [{running}]" if running else "") + f", {waiting} waiting" + (f", {self.failed} failed"
                                                                                  if self.failed else ""))


def run_dag(plan: Plan, backend: Backend, say: Callable[[str], None], tick_s: float = 30.0,
            on_finished: Callable[[Step], None] | None = None) -> list[str]:
    """Run every step of `plan` on `backend`; returns the directory names of the steps computed here.
    `on_finished` is called (in this process) for every step that is in the store, computed or reused."""
    steps = list(plan.steps)
    index = {s.key.dirname: i for i, s in enumerate(steps)}
    planned = set(index)
    pending = list(steps)
    running: dict[Any, Step] = {}
    finished: set[str] = set()
    failed: dict[str, Step] = {}
    ran: list[str] = []
    failures: list[tuple[Step, Outcome]] = []
    progress = Progress(len(steps))
    last_tick = time.time()

    def blocked(step: Step) -> bool:
        return any(d in failed or (d in blocked_set) for d in step.deps.values())

    blocked_set: set[str] = set()
    while pending or running:
        for step in list(pending):
            deps = [d for d in step.deps.values() if d in planned]
            if blocked(step):
                blocked_set.add(step.key.dirname)
                pending.remove(step)
                continue
            if all(d in finished for d in deps) and backend.slots() > 0:
                handle = backend.submit(step)
                running[handle] = step
                pending.remove(step)
                progress.running[step.key.dirname] = ("submitted", time.time())
        if not running:
            break
        for handle, out in backend.wait(list(running), timeout=min(tick_s, 1.0)):
            step = running.pop(handle)
            progress.running.pop(step.key.dirname, None)
            prefix = f"[{index[step.key.dirname] + 1:>2}/{len(steps)}] {step.label}"
            if out.error is not None:
                failed[step.key.dirname] = step
                failures.append((step, out))
                progress.failed += 1
                say(f"{prefix} [red]failed[/]: {out.error}" + (f" (log: {out.log})" if out.log else ""))
                continue
            finished.add(step.key.dirname)
            if on_finished is not None:
                on_finished(step)
            if out.ran:
                ran.append(step.key.dirname)
                progress.done += 1
                progress.by_kind[step.key.kind] = progress.by_kind.get(step.key.kind, 0.0) + out.wall_s
                where = f" on {out.where}" if out.where else ""
                say(f"{prefix} [green]done[/] ({out.wall_s:.1f}s{where})")
            else:
                progress.cached += 1
                say(f"{prefix} [dim]cached[/]")
        if time.time() - last_tick >= tick_s and running:
            for handle, step in running.items():  # where each running step is, as the backend knows it now
                since = progress.running[step.key.dirname][1]
                progress.running[step.key.dirname] = (backend.where(handle), since)
            say(f"[dim]{progress.line()}[/]")
            last_tick = time.time()
    if failures:
        raise StepFailed(failures, [s for s in steps if s.key.dirname in blocked_set])
    return ran
