"""`sftbench leaderboard` and `sftbench compare`: rebuild leaderboards and regression-test datasets from stored
results, without touching a model.

RESULTS arguments are any of: a suite run directory (`runs/<suite>/`), `runs/` holding one suite, the runner's
`results.json` inside a suite run directory, or a `leaderboard.json` written by sftbench (self-contained: it embeds
per-example scores and provenance, so it can be shipped and compared against anywhere).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

from sftbench.leaderboard.report import FORMATS, build, render
from sftbench.leaderboard.results import ResultsTable, load_results
from sftbench.leaderboard.stats import Settings, compute, resolve_columns


def _suite_settings(path: Path, source: str = "", **overrides: Any) -> Settings:
    """Settings stored with the results (a leaderboard.json's, or the resolved suite's `leaderboard` section in the
    suite run directory `source`); CLI overrides win."""
    section: dict[str, Any] = {}
    if path.is_file() and path.suffix == ".json" and path.name != "results.json":
        section = json.loads(path.read_text()).get("settings") or {}
    else:
        resolved = Path(source or (path if path.is_dir() else path.parent)) / "suite.resolved.yaml"
        if resolved.is_file():
            import yaml
            section = (yaml.safe_load(resolved.read_text()) or {}).get("leaderboard") or {}
    return Settings.from_spec(SimpleNamespace(**section), **overrides)


def _cache_path(path: Path, table: ResultsTable) -> Path | None:
    if path.suffix == ".json" and path.name != "results.json":
        return path
    return Path(table.source) / FORMATS["json"] if table.source else None


def cmd_leaderboard(runs_dir: str | Path, fmt: str = "md", out: str | Path | None = None, *,
                    stdout: TextIO | None = None, **settings: Any) -> int:
    """Render the leaderboard of stored results in `fmt` (md, csv, json, latex, html) to `out` or stdout."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    path = Path(runs_dir)
    table = load_results(path)
    report = build(table, _suite_settings(path, table.source, **settings), cached=_cache_path(path, table),
                   progress=True)
    text = render(report, table, fmt)
    if out is None:
        (stdout or sys.stdout).write(text)
    else:
        Path(out).write_text(text)
        print(f"wrote {out}", file=sys.stderr)
    return 0


def _tuned(table: ResultsTable) -> list[str]:
    """The datasets of fine-tuned rows (not evaluation.include_base's untuned base model)."""
    untuned = {r.dataset for r in table.runs if r.provenance.get("untuned")}
    return [d for d in table.datasets() if d not in untuned]


def _pick(table: ResultsTable, wanted: str | None, others: list[str], what: str, flag: str) -> str:
    if wanted is not None:
        if wanted not in table.datasets():
            raise ValueError(f"{what}: no dataset {wanted!r}; datasets there: {table.datasets()}")
        return wanted
    names = _tuned(table)  # the untuned base is compared only when named
    for candidates in (names, [n for n in names if n not in others], [n for n in names if n in others]):
        if len(candidates) == 1:
            return candidates[0]
    raise ValueError(f"{what} holds datasets {names}; name the one to compare with {flag}")


def _arm(table: ResultsTable, name: str, label: str) -> list:
    runs = [r for r in table.runs if r.dataset == name]
    for r in runs:
        r.dataset = label
    return runs


def cmd_compare(new_results: str | Path, against_results: str | Path, alpha: float = 0.05, *,
                dataset: str | None = None, against_dataset: str | None = None, stdout: TextIO | None = None,
                **settings: Any) -> int:
    """Paired verdicts of a new dataset against a baseline dataset, per base model x benchmark and metric.

    Exit codes: 0 no gated column is significantly worse; 1 a gated column is (Holm-adjusted, at `alpha`); 2 the
    results cannot be read or paired. Gated columns: `gate=[...]` (`--gate`), else the new results' suite
    `leaderboard.gate`, else every tested column.
    """
    out = stdout or sys.stdout
    new, base = load_results(new_results), load_results(against_results)
    new_name = _pick(new, dataset, _tuned(base), f"{new_results}", "--dataset")
    base_name = _pick(base, against_dataset or (new_name if new_name in base.datasets() else None),
                      [], f"{against_results}", "--against-dataset")
    new_label, base_label = (f"{new_name}@new", f"{base_name}@baseline") if new_name == base_name else (new_name,
                                                                                                         base_name)
    new_runs, base_runs = _arm(new, new_name, new_label), _arm(base, base_name, base_label)
    shared = {(r.base_model, b) for r in new_runs for b in r.evaluations} & \
        {(r.base_model, b) for r in base_runs for b in r.evaluations}
    if not shared:
        raise ValueError(f"nothing to pair: the new runs have base model/evaluations "
                         f"{sorted({(r.base_model, b) for r in new_runs for b in r.evaluations})}, the baseline "
                         f"{sorted({(r.base_model, b) for r in base_runs for b in r.evaluations})}")
    for base_model, name in sorted(shared):
        prints = {r.evaluations[name].fingerprint_sha for r in new_runs + base_runs
                  if r.base_model == base_model and name in r.evaluations}
        if len(prints) > 1:
            raise ValueError(f"{name} on {base_model}: new and baseline were scored by different judges or harness "
                             f"versions ({sorted(prints)}); a paired comparison needs the same one")
    runs = []
    for r in base_runs + new_runs:
        kept = {n: e for n, e in r.evaluations.items() if (r.base_model, n) in shared}
        if kept:
            r.evaluations = kept
            runs.append(r)
    merged = ResultsTable("compare", runs, {**base.anchors, **new.anchors},
                          {**new.noise_floors, **base.noise_floors})
    stored = _suite_settings(Path(new_results), new.source)
    gate = settings.pop("gate", None) or stored.gate
    report = compute(merged, Settings.from_spec(None, alpha=alpha, reference=base_label, gate=gate,
                                                equivalence_margin=stored.equivalence_margin, **settings),
                     progress=True)
    gated_columns = None if gate is None else resolve_columns(list(gate), merged, "gate")
    worse = False
    out.write(f"compare {new_label} ({new_results}) against {base_label} ({against_results}), alpha {alpha:g}, "
              f"Holm per evaluation\n")
    for t in report.tables:
        estimates = {(g.benchmark, cs.column.key): cs.estimates for g in t.groups for cs in g.columns}
        for c in t.comparisons:
            lo, hi = ("?", "?") if c.ci_low is None else (f"{c.ci_low:+.2f}", f"{c.ci_high:+.2f}")
            p = "n/a" if c.p_adjusted is None else f"{c.p_adjusted:.4g}"
            est = estimates[(c.benchmark, c.metric)]
            gated = gated_columns is None or (c.benchmark, c.metric) in gated_columns
            out.write(f"{c.benchmark} [{t.base_model}] {c.metric}: {est[c.dataset].estimate:.2f} vs "
                      f"{est[c.reference].estimate:.2f}, diff {c.diff:+.2f} [{lo}, {hi}], p (Holm) {p}: "
                      f"{c.verdict.upper()}{'' if gated else ' (not gated)'}"
                      + (f"; {c.equivalence} (p TOST {c.p_tost:.3g})" if c.equivalence else "") + "\n")
            worse |= gated and c.verdict == "worse"
        for note in [*t.notes, *(n for g in t.groups for n in g.notes)]:
            out.write(f"note: {note}\n")
    out.write("result: significantly worse on at least one benchmark\n" if worse else
              "result: no benchmark significantly worse\n")
    return 1 if worse else 0


def add_commands(sub: Any) -> None:
    """Add the `leaderboard` and `compare` subcommands to the sftbench argument parser's subparsers."""
    def stats_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--n-bootstrap", type=int, help="win-rate bootstrap resamples (default 200)")
        p.add_argument("--n-bootstrap-lc", type=int, help="LC bootstrap resamples, each refits the GLM (default 50)")
        p.add_argument("--n-permutations", type=int, help="sign-flip permutations (default 10000)")

    def stats_of(a: argparse.Namespace) -> dict[str, Any]:
        return {"n_bootstrap": a.n_bootstrap, "n_bootstrap_lc": a.n_bootstrap_lc, "n_permutations": a.n_permutations}

    p = sub.add_parser("leaderboard", help="rebuild the leaderboard from stored results (no model needed)")
    p.add_argument("runs_dir", type=Path,
                   help="runs/<suite>/ (or runs/ with one suite), its results.json, or a leaderboard.json")
    p.add_argument("--format", dest="fmt", choices=list(FORMATS), default="md")
    p.add_argument("--out", type=Path, help="write to this file instead of stdout")
    p.add_argument("--alpha", type=float, help="significance level of the verdicts (default: the suite's, 0.05)")
    p.add_argument("--reference", help="dataset the others are compared against (default: the suite's, or the first)")
    p.add_argument("--sort-by", help="row order: a column key (e.g. lc_win_rate, mt_bench.score) or name")
    stats_args(p)
    p.set_defaults(func=lambda a: cmd_leaderboard(a.runs_dir, a.fmt, a.out, alpha=a.alpha, reference=a.reference,
                                                  sort_by=a.sort_by, **stats_of(a)))
    p = sub.add_parser("compare", help="regression mode: paired verdicts of a new dataset against baseline results; "
                                       "exit code 1 when a benchmark got significantly worse")
    p.add_argument("new_results", type=Path,
                   help="results with the new dataset (run dir, results.json or leaderboard.json)")
    p.add_argument("--against", required=True, type=Path, help="baseline results (same kinds)")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--dataset", help="the new dataset's name, when the new results hold several")
    p.add_argument("--against-dataset", help="the baseline dataset's name (default: the same name, or the only one)")
    p.add_argument("--gate", action="append", help="a column or evaluation whose significant drop fails the "
                   "comparison (repeatable; default: the suite's leaderboard.gate, else every tested column)")
    stats_args(p)
    p.set_defaults(func=lambda a: cmd_compare(a.new_results, a.against, a.alpha, dataset=a.dataset,
                                              against_dataset=a.against_dataset, gate=a.gate, **stats_of(a)))
