"""Execute a plan: run every step not already in the store, in plan order, then write the leaderboard."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from rich.console import Console

from sftbench.suites.engine.plan import Plan, enabled_evaluations
from sftbench.suites.engine.step import Step, StepContext, step_body
from sftbench.suites.engine.store import Store

console = Console(stderr=True)


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


def run_step(step: Step, store: Store, ctx: StepContext) -> bool:
    """Run one step into the store unless it is already there; True when it ran."""
    if store.is_done(step.key):
        return False
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


def execute(plan: Plan, say: Callable[[str], None] = console.print) -> list[str]:
    """Run every step not in the store, in plan order; returns the directory names of the steps that ran."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    preflight(plan)
    removed = plan.store.clean_partial()
    if removed:
        say(f"[yellow]removed {len(removed)} unfinished step(s) from an interrupted run[/]")
    total, ran = len(plan.steps), []
    with StepContext(plan.store, plan.threads, plan.progress, plan.max_usd) as ctx:
        for i, step in enumerate(plan.steps, start=1):
            prefix = f"[{i:>2}/{total}] {step.label}"
            start = time.time()
            if run_step(step, plan.store, ctx):
                ran.append(step.key.dirname)
                say(f"{prefix} [green]done[/] ({time.time() - start:.1f}s)")
            else:
                say(f"{prefix} [dim]cached[/]")
    return ran


def write_leaderboard(plan: Plan) -> tuple[Any, str, Path]:
    """Results -> runs/<suite>/results.json, then every leaderboard format (leaderboard/report.py)."""
    from sftbench.common.jsonio import write_json_atomic
    from sftbench.leaderboard.report import write_reports
    from sftbench.leaderboard.stats import Settings
    from sftbench.suites.engine.results import collect_results
    root = plan.store.root
    table = collect_results(plan, exports=root / "exports")
    write_json_atomic(root / "results.json", table.to_json(), indent=1)
    table.source = str(root)
    report, md = write_reports(root, Settings.from_spec(plan.suite.leaderboard), progress=True, table=table)
    return report, md, root
