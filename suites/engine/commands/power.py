"""`sftbench power RUNS_DIR [--mde POINTS]`: from a pilot run, the minimum detectable effect of its design and the
seeds and prompts (units) a target effect needs, per tested column (leaderboard/power.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from sftbench.leaderboard.power import POWER, designs
from sftbench.leaderboard.report import build
from sftbench.leaderboard.results import load_results
from sftbench.suites.engine.commands.leaderboard import _cache_path, _suite_settings


def cmd_power(results: str | Path, mde: float | None = None, column: str | None = None,
              stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    path = Path(results)
    table = load_results(path)
    report = build(table, _suite_settings(path, table.source), cached=_cache_path(path, table))
    found = [d for d in designs(report) if column in (None, d.column, d.benchmark, f"{d.benchmark}.{d.column}")]
    if not found:
        raise ValueError(f"{path}: no tested column{f' matching {column!r}' if column else ''} (power needs paired "
                         "comparisons against a reference: several datasets, per-example scores)")
    family = {"table": "table", "leaderboard": "leaderboard"}.get(report.settings.holm_family, "evaluation")
    out.write(f"power {POWER:.0%}, two-sided, at Holm's first step (alpha / comparisons per {family})\n")
    several = len({d.base_model for d in found}) > 1
    for d in found:
        seeds = "seed variance unknown (one seed): optimistic" if d.var_seeds is None else \
            f"seed part {d.var_seeds:.3g}"
        where = f"[{d.base_model}] " if several else ""
        out.write(f"{where}{d.benchmark}.{d.column} ({d.label}): {d.k} seed(s) x {d.n} units: minimum detectable "
                  f"effect {d.mde():.2f} points (units part {d.var_units:.3g}, {seeds})\n")
        if mde is not None:
            options = d.needed(mde)
            text = "; ".join(f"{k} seeds x {n} units" for k, n in options) or "not within 20 seeds x 64x the units"
            out.write(f"  to detect {mde:g} points: {text}\n")
    return 0


def add_power_parser(sub: Any) -> None:
    p = sub.add_parser("power", help="the minimum detectable effect of a pilot run, and what a target effect needs")
    p.add_argument("results", type=Path, help="runs/<suite>/ (or results.json, or a leaderboard.json)")
    p.add_argument("--mde", type=float, help="the effect (points) to plan for: seeds and prompts needed")
    p.add_argument("--column", help="one column (lc_win_rate, mt_bench.score, ...) or evaluation")
    p.set_defaults(func=lambda a: cmd_power(a.results, a.mde, a.column))


__all__ = ["cmd_power", "add_power_parser"]
