"""Running a suite from Python: what `sftbench run` does, returning the results table (the `sftbench` package
re-exports these)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from sftbench.suites.engine.schema import Suite


@dataclass
class RunResult:
    """A finished run: the leaderboard as a table (one row per dataset and base model: every column's estimate,
    CI, difference to the reference and verdict), the statistics, the Markdown, and where the files are."""
    table: pd.DataFrame
    report: Any
    markdown: str
    root: Path
    summary: list[str]


def load_suite(suite: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Suite:
    """A shipped suite by name (default: quickstart) or a YAML file, with `overrides` ({"recipe.epochs": 1})."""
    from sftbench.suites.engine.schema import load_suite as load, resolve_suite_path
    return load(resolve_suite_path(None if suite is None else str(suite)), overrides)


def plan(suite: Suite, runs_dir: str | Path = "runs", threads: int | None = None,
         store: str | Path | None = None) -> Any:
    from sftbench.suites.engine.plan import make_plan
    return make_plan(suite, Path(runs_dir), threads=threads, progress=False, store=store)


def run(suite: Suite | str | Path | None = None, runs_dir: str | Path = "runs", *, threads: int | None = None,
        max_usd: float | None = None, progress: bool = True, store: str | Path | None = None,
        executor: str = "local", jobs: int = 1, address: str | None = None,
        say: Callable[[str], None] | None = None, gate: Callable[[Any], float | None] | None = None) -> RunResult:
    """Build, train, generate, judge (every finished step cached) and return the leaderboard.

    `gate`: called with the plan before the first step; returns the run's LLM budget (None: none) or raises to stop
    before anything is spent. `sftbench run` passes suites/engine/gate.py's `cost_gate`: the estimate is printed and
    confirmed (`yes=True` skips the question); e.g. `run(suite, gate=cost_gate(max_usd=20, yes=True))`."""
    import yaml

    from sftbench.leaderboard.table_rows import flat_rows
    from sftbench.suites.engine.executor import console, execute, write_leaderboard
    from sftbench.suites.engine.plan import make_plan
    from sftbench.suites.engine.summary import run_summary
    suite = suite if isinstance(suite, Suite) else load_suite(suite)
    say = say or console.print
    start = time.time()
    the_plan = make_plan(suite, Path(runs_dir), threads=threads, progress=progress, max_usd=max_usd, store=store)
    if gate is not None:
        the_plan.max_usd = gate(the_plan)
    root = the_plan.view
    root.mkdir(parents=True, exist_ok=True)
    (root / "suite.resolved.yaml").write_text(yaml.safe_dump(suite.model_dump(mode="json"), sort_keys=False))
    ran = execute(the_plan, say, executor=executor, jobs=jobs, address=address)
    report, markdown, root = write_leaderboard(the_plan)
    summary = run_summary(the_plan, ran, time.time() - start, root)
    return RunResult(pd.DataFrame(flat_rows(report)), report, markdown, root, summary)


def load_leaderboard(results: str | Path) -> RunResult:
    """The leaderboard of stored results (a suite's runs directory, results.json or leaderboard.json)."""
    from sftbench.leaderboard.report import build, render
    from sftbench.leaderboard.results import load_results
    from sftbench.leaderboard.table_rows import flat_rows
    from sftbench.suites.engine.commands.leaderboard import _suite_settings
    path = Path(results)
    table = load_results(path)
    report = build(table, _suite_settings(path, table.source))
    return RunResult(pd.DataFrame(flat_rows(report)), report, render(report, table, "md"),
                     Path(table.source or path), [])


__all__ = ["RunResult", "load_suite", "plan", "run", "load_leaderboard"]
