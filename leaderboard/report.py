"""Build, cache, serialise and write a suite's leaderboard in every format.

`leaderboard.json` (schema `sftbench.leaderboard`, version 2) is self-contained: the statistics, the flat
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

from sftbench.leaderboard.results import SCHEMA, ResultsTable, load_results
from sftbench.leaderboard.stats import Comparison, Estimate, Report, RowStats, Settings, TableStats, compute

SCHEMA_VERSION = 2
STATS_VERSION = 1  # bump when the statistics change, so cached leaderboards are recomputed
FORMATS = {"md": "leaderboard.md", "csv": "leaderboard.csv", "json": "leaderboard.json", "latex": "leaderboard.tex",
           "html": "leaderboard.html"}
SORT_KEYS = ("lc_win_rate", "win_rate", "name")


def inputs_sha256(table: ResultsTable, settings: Settings) -> str:
    cfg = {k: v for k, v in asdict(settings).items() if k != "sort_by"}
    blob = json.dumps([table.to_json(), cfg, STATS_VERSION], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def sorted_rows(t: TableStats, sort_by: str) -> list[RowStats]:
    if sort_by == "name":
        return sorted(t.rows, key=lambda r: r.dataset)
    return sorted(t.rows, key=lambda r: -r.metrics[sort_by].estimate)


def flat_rows(report: Report, sort_by: str = "lc_win_rate") -> list[dict[str, Any]]:
    """One flat record per dataset and table: estimates with CIs, differences, verdicts and provenance."""
    out = []
    for t in report.tables:
        comps = {(c.dataset, c.metric): c for c in t.comparisons}
        for r in sorted_rows(t, sort_by):
            rec: dict[str, Any] = {"base_model": t.base_model, "benchmark": t.benchmark, "dataset": r.dataset,
                                   "builder": r.info.get("builder"), "size": r.info.get("size"),
                                   "train_resp_words": r.info.get("train_resp_words"), "seeds": len(r.seeds),
                                   "n_prompts": t.n_prompts}
            for m, e in r.metrics.items():
                rec.update({m: e.estimate, f"{m}_se": e.se, f"{m}_ci_low": e.ci_low, f"{m}_ci_high": e.ci_high})
            rec["avg_output_chars"] = r.avg_output_chars
            for task, score in r.info.get("openllm", {}).items():
                rec.update({f"openllm_{task}": score["value"], f"openllm_{task}_se": score["se"]})
            if r.info.get("mt_bench"):
                rec.update({"mt_bench": r.info["mt_bench"]["value"], "mt_bench_se": r.info["mt_bench"]["se"],
                            "mt_bench_n_unparsed": r.info["mt_bench"]["n_unparsed"]})
            if (wb := r.info.get("wildbench")):
                rec.update({"wb_score": wb.get("value"), "wb_score_se": wb.get("se"),
                            "wb_score_n_unparsed": wb.get("n_unparsed")})
                if "reward" in wb:
                    rec.update({"wb_reward": wb["reward"], "wb_reward_se": wb.get("reward_se"),
                                "wb_reward_n_unparsed": wb.get("reward_n_unparsed")})
            rec["reference"] = t.reference
            for m in r.metrics:
                c = comps.get((r.dataset, m))
                rec.update({f"{m}_diff": c and c.diff, f"{m}_diff_ci_low": c and c.ci_low,
                            f"{m}_diff_ci_high": c and c.ci_high, f"{m}_p": c and c.p_value,
                            f"{m}_p_holm": c and c.p_adjusted, f"{m}_verdict": c.verdict if c else None,
                            f"{m}_noise_floor": c and c.noise_floor})
            rec.update({"card_sha256": r.provenance.get("card_sha256"), "recipe_sha": r.provenance.get("recipe_sha"),
                        "judge_sha": r.provenance.get("judge_sha"), "baseline": t.baseline})
            out.append(rec)
    return out


def report_to_json(report: Report, table: ResultsTable, sha: str) -> dict[str, Any]:
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "suite": report.suite, "inputs_sha256": sha,
            "settings": asdict(report.settings), "noise_floor": report.noise_floor,
            "leaderboard": flat_rows(report, report.settings.sort_by),
            "tables": [asdict(t) for t in report.tables], "results": table.to_json()}


def report_from_json(doc: dict[str, Any]) -> Report:
    names = {f.name for f in fields(Settings)}
    settings = Settings(**{k: v for k, v in doc["settings"].items() if k in names})
    tables = []
    for t in doc["tables"]:
        rows = [RowStats(**{**r, "metrics": {m: Estimate(**e) for m, e in r["metrics"].items()}}) for r in t["rows"]]
        tables.append(TableStats(**{**t, "rows": rows, "comparisons": [Comparison(**c) for c in t["comparisons"]]}))
    return Report(doc["suite"], settings, tables, doc.get("noise_floor"))


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


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_reports(root: Path, settings: Settings, progress: bool = False,
                  table: ResultsTable | None = None) -> tuple[Report, str]:
    """Compute (or reuse) the statistics of the suite in `root` and write every format plus the SVG plots.

    Returns the report and its Markdown. Files: leaderboard.{md,csv,json,tex,html}, leaderboard[.N].{length,bars}.svg.
    """
    from sftbench.leaderboard import plots
    root = Path(root)
    table = table or load_results(root)
    report = build(table, settings, cached=root / FORMATS["json"], progress=progress)
    for fmt, name in FORMATS.items():
        _write(root / name, render(report, table, fmt))
    for i, t in enumerate(report.tables):
        tag = "" if i == 0 else f".{i + 1}"
        _write(root / f"leaderboard{tag}.length.svg", plots.length_plot(t))
        _write(root / f"leaderboard{tag}.bars.svg", plots.bars_plot(t))
    return report, render(report, table, "md")
