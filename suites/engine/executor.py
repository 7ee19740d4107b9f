"""Execute a plan: run every step not already in the store, in plan order, then write the leaderboard."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

from rich.console import Console

from sftbench.suites.engine.plan import Plan, enabled_evaluations
from sftbench.suites.engine.step import Step, StepContext, step_body
from sftbench.suites.engine.store import Store

console = Console(stderr=True, soft_wrap=True)  # long paths stay on one line (greppable)


def status(plan: Plan) -> list[tuple[str, str, bool]]:
    """(directory, label, done) for every step."""
    return [(s.key.dirname, s.label, plan.store.is_done(s.key)) for s in plan.steps]


def preflight(plan: Plan) -> None:
    """What the steps still to run need from this machine (QLoRA's bitsandbytes, a vLLM backend for generation
    or OpenLLM), checked before the first step rather than hours in. Packages are checked, not their hardware
    build: a CUDA vLLM on a machine without a GPU still fails when it starts."""
    pending = {s.key.kind for s in plan.steps if not plan.store.is_done(s.key)}
    if "train" in pending:
        from sftbench.suites.models.train import check_runtime
        check_runtime(plan.suite.recipe)
    for plugin, spec in enabled_evaluations(plan.suite):
        plugin.preflight(plan.suite, spec, pending)


def run_step(step: Step, store: Store, ctx: StepContext, say: Callable[[str], None] = console.print) -> bool:
    """Run one step into the store unless it is there and intact; True when it ran here.

    Under the step's lease: a step another process is computing is waited for and then reused, never computed
    twice; a finished step whose files are damaged is moved aside (`.broken/`) and computed again.
    """
    if store.is_done(step.key) and store.check(step.key) is None:
        return False

    def waiting(holder: dict | None) -> None:
        who = f"{holder['host']} pid {holder['pid']}" if holder else "another process"
        say(f"[dim]{step.key.dirname}: {who} is computing it; waiting to reuse it[/]")

    with store.computing(step.key, waiting):
        if store.is_done(step.key):
            problem = store.check(step.key)
            if problem is None:
                return False
            moved = store.quarantine(step.key, problem)
            say(f"[yellow]{step.key.dirname}: damaged ({problem}); moved aside to {moved}; computing it again[/]")
        for leftover in store.root.glob(f".tmp-{step.key.dirname}~*"):  # a writer that died (we hold the lease)
            shutil.rmtree(leftover, ignore_errors=True)
        body = step_body(step)
        inputs = {name: store.root / dirname for name, dirname in step.deps.items()}
        with store.writing(step.key, seed=step.seed) as (out, extra):
            snapshot = ctx.cost_snapshot()
            stats = body(step, inputs, out, ctx)
            if stats:
                extra.update(stats)
            cost = ctx.cost_since(snapshot)
            if cost is not None:
                extra["llm_cost"] = cost
        shutil.rmtree(ctx.resume_dir(step), ignore_errors=True)
    return True


def execute(plan: Plan, say: Callable[[str], None] = console.print, executor: str = "local", jobs: int = 1,
            address: str | None = None) -> list[str]:
    """Run every step not in the store; returns the directory names of the steps computed here.

    `executor`: `local` (this machine: one step at a time in this process, or `jobs` at once in worker processes)
    or `ray` (a Ray cluster at `address`, or a local Ray instance). Every executor runs the plan's DAG: a step
    starts when the steps it reads are finished."""
    from sftbench.suites.engine.executors.dag import run_dag
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sftbench.suites.engine.view import adopt, link, write_index
    preflight(plan)
    removed = plan.store.clean_partial()
    if removed:
        say(f"[yellow]removed {len(removed)} unfinished step(s) left by a process that is gone[/]")
    for step in plan.steps:
        if adopt(plan.view, plan.store, step):
            say(f"[dim]moved {step.key.dirname} from {plan.view} into the store {plan.store.root}[/]")
    write_index(plan.view, plan.store, plan.steps)
    alone = jobs == 1 and executor == "local"
    settings = {"store": str(plan.store.root), "threads": plan.threads, "progress": plan.progress and alone,
                "max_usd": plan.max_usd,  # with several processes, LLM limits and the budget are shared through:
                "coordination": None if alone else str(plan.store.root / ".coord" / uuid.uuid4().hex[:12])}
    backend = make_backend(executor, jobs, address, settings, say)
    try:
        return run_dag(plan, backend, say, on_finished=lambda step: link(plan.view, plan.store, step))
    finally:
        backend.close()
        write_index(plan.view, plan.store, plan.steps)
        if settings["coordination"]:
            shutil.rmtree(settings["coordination"], ignore_errors=True)


def make_backend(executor: str, jobs: int, address: str | None, settings: dict[str, Any],
                 say: Callable[[str], None]) -> Any:
    from sftbench.suites.engine.executors.local import InProcess, LocalPool
    if executor == "ray":
        from sftbench.suites.engine.executors.ray_backend import RayBackend
        return RayBackend(settings, address, say)
    if executor != "local":
        raise ValueError(f"unknown executor {executor!r}; executors: local, ray")
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    return InProcess(settings, say) if jobs == 1 else LocalPool(settings, jobs)


def write_leaderboard(plan: Plan) -> tuple[Any, str, Path]:
    """Results -> runs/<suite>/results.json, then every leaderboard format (leaderboard/report.py)."""
    from sftbench.common.jsonio import write_json_atomic
    from sftbench.leaderboard.report import write_reports
    from sftbench.leaderboard.stats import Settings
    from sftbench.suites.engine.results import collect_results
    root = plan.view
    table = collect_results(plan, exports=root / "exports")
    write_json_atomic(root / "results.json", table.to_json(), indent=1)
    table.source = str(root)
    report, md = write_reports(root, Settings.from_spec(plan.suite.leaderboard), progress=True, table=table)
    return report, md, root
