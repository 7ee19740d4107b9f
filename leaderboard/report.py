"""Build, cache, serialise and write a suite's leaderboard in every format.

`leaderboard.json` (schema `sftbench.leaderboard`, version 3) is self-contained: the statistics, the flat
leaderboard rows, and the results table itself (per-example scores, provenance, length-control tables), so
`sftbench leaderboard` and `sftbench compare` work from it alone. It also records `inputs_sha256` (results +
statistics settings): when that matches, the stored statistics are reused instead of refitting the LC bootstrap.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from sftbench.leaderboard.results import SCHEMA, Column, ResultsTable, load_results
from sftbench.leaderboard.stats import (ColumnStats, Comparison, Estimate, GroupStats, Report, RowStats, Settings,
                                        TableStats, compute)
from sftbench.leaderboard.table_rows import flat_rows

SCHEMA_VERSION = 3
STATS_VERSION = 2  # bump when the statistics change, so cached leaderboards are recomputed
FORMATS = {"md": "leaderboard.md", "csv": "leaderboard.csv", "json": "leaderboard.json", "latex": "leaderboard.tex",
           "html": "leaderboard.html"}


def inputs_sha256(table: ResultsTable, settings: Settings) -> str:
    cfg = {k: v for k, v in asdict(settings).items() if k != "sort_by"}
    blob = json.dumps([table.to_json(), cfg, STATS_VERSION], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def report_to_json(report: Report, table: ResultsTable, sha: str) -> dict[str, Any]:
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "suite": report.suite, "inputs_sha256": sha,
            "settings": asdict(report.settings), "noise_floors": report.noise_floors,
            "leaderboard": flat_rows(report), "tables": [asdict(t) for t in report.tables],
            "results": table.to_json()}


def report_from_json(doc: dict[str, Any]) -> Report:
    names = {f.name for f in fields(Settings)}
    settings = Settings(**{k: v for k, v in doc["settings"].items() if k in names})
    tables = []
    for t in doc["tables"]:
        groups = [GroupStats(**{**g, "columns": [ColumnStats(Column.from_json(c["column"]),
                                                             {d: Estimate(**e) for d, e in c["estimates"].items()})
                                                 for c in g["columns"]]}) for g in t["groups"]]
        tables.append(TableStats(**{**t, "rows": [RowStats(**r) for r in t["rows"]], "groups": groups,
                                    "comparisons": [Comparison(**c) for c in t["comparisons"]],
                                    "base_deltas": [Comparison(**c) for c in t.get("base_deltas") or []]}))
    return Report(doc["suite"], settings, tables, doc.get("noise_floors") or {})


def build(table: ResultsTable, settings: Settings, cached: Path | None = None, progress: bool = False) -> Report:
    """The report, reusing `cached` (a leaderboard.json) when its inputs match; else computed."""
    sha = inputs_sha256(table, settings)
    if cached is not None and cached.is_file():
        try:
            doc = json.loads(cached.read_text())
            if doc.get("schema_version") == SCHEMA_VERSION and doc.get("inputs_sha256") == sha:
                report = report_from_json(doc)
                report.settings = settings
                return report
        except (ValueError, KeyError, TypeError):
            pass  # unreadable or older cache: recompute
    return compute(table, settings, progress=progress)


def render(report: Report, table: ResultsTable, fmt: str) -> str:
    from sftbench.leaderboard import html, render_text
    if fmt == "md":
        return render_text.to_markdown(report)
    if fmt == "csv":
        return render_text.to_csv(report)
    if fmt == "latex":
        return render_text.to_latex(report)
    if fmt == "html":
        return html.to_html(report)
    if fmt == "json":
        return json.dumps(report_to_json(report, table, inputs_sha256(table, report.settings)), indent=1,
                          allow_nan=False, default=str) + "\n"
    raise ValueError(f"unknown leaderboard format {fmt!r}; formats: {', '.join(FORMATS)}")


def _write(path: Path, content: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(content.encode() if isinstance(content, str) else content)
    os.replace(tmp, path)


def write_reports(root: Path, settings: Settings, progress: bool = False,
                  table: ResultsTable | None = None) -> tuple[Report, str]:
    """Compute (or reuse) the statistics of the suite in `root` and write every format plus the plots.

    Returns the report and its Markdown. Files: leaderboard.{md,csv,json,tex,html} and, per table,
    leaderboard[.N].{bars,length}.{svg,pdf}. Every file is written to a temporary name and renamed.
    """
    from sftbench.leaderboard import plots
    root = Path(root)
    table = table or load_results(root)
    report = build(table, settings, cached=root / FORMATS["json"], progress=progress)
    for fmt, name in FORMATS.items():
        _write(root / name, render(report, table, fmt))
    for i, t in enumerate(report.tables):
        tag = "" if i == 0 else f".{i + 1}"
        for kind, fig in (("bars", plots.bars_plot(t, settings.sort_by)), ("length", plots.length_plot(t, settings.sort_by))):
            if fig is not None:
                _write(root / f"leaderboard{tag}.{kind}.svg", fig.svg)
                _write(root / f"leaderboard{tag}.{kind}.pdf", fig.pdf)
    return report, render(report, table, "md")
