"""The one row model every leaderboard format renders: a table's headers and cells, filled from the evaluations'
columns. Markdown, LaTeX and HTML show these cells; CSV and JSON carry the same columns as flat numbers. No
format names an evaluation: a column appears in every format or in none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftbench.leaderboard.stats import ColumnStats, Comparison, Estimate, GroupStats, Report, RowStats, TableStats

INFO = [("dataset", "dataset"), ("builder", "builder"), ("size", "rows"), ("train_resp_words", "train resp. words"),
        ("seeds", "seeds")]
CI_KIND = "95% CI, unadjusted"


@dataclass(frozen=True)
class Header:
    key: str      # machine name: an info field, or "<benchmark>.<column>" (+ "_diff", "_p_holm", ...)
    label: str
    group: str    # the evaluation's title; "" for the dataset's own fields


@dataclass
class Cell:
    text: str                                 # the value as shown, without its interval
    sort: float | str | None = None           # what the HTML table sorts by
    ci: tuple[float, float] | None = None
    note: str = ""                            # "± 0.4", "(3 unparsed)"
    best: bool = False
    verdict: str | None = None


def column_key(g: GroupStats, cs: ColumnStats) -> str:
    return f"{g.benchmark}.{cs.column.key}"


def fmt(x: float | None, decimals: int = 1) -> str:
    return "—" if x is None else f"{x:.{decimals}f}"


def signed(x: float, decimals: int = 1) -> str:
    """+1.2 / -1.2, and 0.0 for values that round to zero (no "-0.0")."""
    text = f"{x:+.{decimals}f}"
    return f"{0:.{decimals}f}" if float(text) == 0 else text


def pval(p: float | None) -> str:
    return "—" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")


def sort_column(t: TableStats, sort_by: str) -> tuple[GroupStats, ColumnStats] | None:
    """The column rows are ordered by: `sort_by` as a column key or benchmark.key, else the first primary one."""
    cols = [(g, cs) for g in t.groups for cs in g.columns]
    for g, cs in cols:
        if sort_by in (cs.column.key, column_key(g, cs)):
            return g, cs
    return next(((g, cs) for g, cs in cols if cs.column.primary), cols[0] if cols else None)


def sorted_rows(t: TableStats, sort_by: str) -> list[RowStats]:
    if sort_by == "name":
        return sorted(t.rows, key=lambda r: r.dataset)
    found = sort_column(t, sort_by)
    if found is None:
        return list(t.rows)
    cs = found[1]

    def order(r: RowStats) -> tuple[bool, float]:
        e = cs.estimates.get(r.dataset)
        value = e.estimate if e is not None else None
        return value is None, -(value or 0.0)
    return sorted(t.rows, key=order)


def estimate_cell(cs: ColumnStats, e: Estimate | None, best: bool) -> Cell:
    if e is None or e.estimate is None:
        flag = f"({e.flag} {(cs.column.flag or '').rsplit('n_', 1)[-1]})" if e is not None and e.flag else ""
        return Cell("—" if e is not None else "", None, note=flag)
    d = cs.column.decimals
    note = f"± {fmt(e.se, d)}" if cs.column.statistic == "summary" and e.se is not None else ""
    if e.flag:
        label = (cs.column.flag or "").rsplit("n_", 1)[-1] or "flagged"
        note = f"{note} ({e.flag} {label})".strip()
    ci = (e.ci_low, e.ci_high) if e.ci_low is not None and e.ci_high is not None else None
    return Cell(fmt(e.estimate, d), round(e.estimate, 6), ci, note, best)


def column_label(cs: ColumnStats) -> str:
    return f"{cs.column.label} (± SE)" if cs.column.statistic == "summary" else f"{cs.column.label} [95% CI]"


# Wall-clock columns: they differ between two runs that agree on every result (a resumed training step, a busier
# machine), so a comparison of leaderboards leaves them out (`deterministic`).
WALL_CLOCK_FIELDS = ("train_hours", "train_gpu_hours")


def deterministic(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """leaderboard.json rows without their wall-clock fields: equal for runs that computed the same results."""
    return [{k: v for k, v in row.items() if k not in WALL_CLOCK_FIELDS} for row in rows]


COSTS = [("build_usd", "build LLM $", 4), ("train_gpu_hours", "train GPU-h", 3), ("train_hours", "train h", 3),
         ("eval_usd", "eval LLM $", 4)]


def cost_columns(t: TableStats) -> list[tuple[str, str, int]]:
    """The cost columns some row has: LLM $ where an LLM was priced, GPU-hours where a GPU trained."""
    def shown(key: str) -> bool:
        values = [r.info.get(key) for r in t.rows if r.dataset != t.base]
        return any(v is not None for v in values) and (key != "train_gpu_hours" or any(v for v in values))
    return [c for c in COSTS if shown(c[0])]


def points_per_usd(t: TableStats, sort_by: str) -> tuple[str, dict[str, float | None]] | None:
    """(label, dataset -> headline gain over the reference per build $), for datasets whose build cost money."""
    found = sort_column(t, sort_by)
    if found is None or t.reference is None:
        return None
    g, cs = found
    comps = {c.dataset: c for c in t.comparisons if (c.benchmark, c.metric) == (g.benchmark, cs.column.key)}
    out: dict[str, float | None] = {}
    for r in t.rows:
        usd, c = r.info.get("build_usd"), comps.get(r.dataset)
        out[r.dataset] = c.diff / usd if c is not None and usd else None
    return f"{cs.column.label} points per build $", out


def main_table(t: TableStats, sort_by: str, per_usd: bool = False) \
        -> tuple[list[Header], list[list[Cell]], list[RowStats]]:
    rows = sorted_rows(t, sort_by)
    costs = cost_columns(t)
    gains = points_per_usd(t, sort_by) if per_usd else None
    headers = [Header(k, label, "") for k, label in INFO]
    headers += [Header(k, label, "") for k, label, _ in costs]
    if gains is not None:
        headers.append(Header("points_per_usd", gains[0], ""))
    deltas = {(c.dataset, c.benchmark): c for c in t.base_deltas}
    for g in t.groups:
        headers += [Header(column_key(g, cs), column_label(cs), g.title) for cs in g.columns]
        if t.base is not None:
            headers.append(Header(f"{g.benchmark}.vs_base", f"Δ vs base [{CI_KIND}]", g.title))
    best = {column_key(g, cs): max((e.estimate for d, e in cs.estimates.items() if e.estimate is not None
                                    and d != t.base), default=None) for g in t.groups for cs in g.columns}
    body = []
    for r in rows:
        flagged = r.info.get("contaminated_rows")
        cells = [Cell(r.dataset, r.dataset, note=f"(contaminated: {flagged} rows)" if flagged else ""),
                 Cell(str(r.info.get("builder") or ""), r.info.get("builder")),
                 Cell(str(r.info.get("size") or ""), r.info.get("size")),
                 Cell(fmt(r.info.get("train_resp_words")), r.info.get("train_resp_words")),
                 Cell(str(len(r.seeds)), len(r.seeds))]
        cells += [Cell(fmt(r.info.get(k), d) if r.info.get(k) is not None else "", r.info.get(k)) for k, _, d in costs]
        if gains is not None:
            gain = gains[1].get(r.dataset)
            cells.append(Cell(fmt(gain, 2) if gain is not None else "", gain))
        for g in t.groups:
            for cs in g.columns:
                e = cs.estimates.get(r.dataset)
                top = best[column_key(g, cs)]
                cells.append(estimate_cell(cs, e, e is not None and e.estimate is not None and e.estimate == top))
            if t.base is not None:
                c = deltas.get((r.dataset, g.benchmark))
                decimals = next((cs.column.decimals for cs in g.columns if cs.column.key == c.metric), 1) if c else 1
                cells.append(Cell("base" if r.dataset == t.base else "") if c is None else
                             Cell(signed(c.diff, decimals), round(c.diff, 6),
                                  (c.ci_low, c.ci_high) if c.ci_low is not None and c.ci_high is not None else None))
        body.append(cells)
    return headers, body, rows


def tested_columns(t: TableStats) -> list[tuple[GroupStats, ColumnStats]]:
    keys = {(c.benchmark, c.metric) for c in t.comparisons}
    return [(g, cs) for g in t.groups for cs in g.columns if (g.benchmark, cs.column.key) in keys]


UNDERPOWERED = 5.0  # points: a percent column that could not detect a difference this large says so


def comparison_table(t: TableStats, sort_by: str, mde: dict[tuple[str, str], float] | None = None) \
        -> tuple[list[Header], list[list[Cell]]]:
    """Per tested column: the difference to the reference with its (unadjusted) CI, the Holm-adjusted p-value, the
    verdict, and for judged columns the judge-noise floor."""
    comps = {(c.dataset, c.benchmark, c.metric): c for c in t.comparisons}
    margins = {(c.benchmark, c.metric): c.margin for c in t.comparisons if c.margin is not None}
    headers = [Header("dataset", "dataset", "")]
    cols = tested_columns(t)
    for g, cs in cols:
        base = column_key(g, cs)
        headers += [Header(f"{base}_diff", f"Δ {cs.column.label} [{CI_KIND}]", g.title),
                    Header(f"{base}_p_holm", "p (Holm)", g.title), Header(f"{base}_verdict", "verdict", g.title)]
        if cs.column.noise_floor:
            headers.append(Header(f"{base}_noise_floor", "judge noise ±", g.title))
        if margins.get((g.benchmark, cs.column.key)) is not None:
            headers.append(Header(f"{base}_equivalence", f"equivalence (±{margins[(g.benchmark, cs.column.key)]:g}, "
                                  "p TOST Holm)", g.title))
    body = []
    for r in sorted_rows(t, sort_by):
        if r.dataset == t.base:
            continue
        cells = [Cell(r.dataset, r.dataset)]
        for g, cs in cols:
            c = comps.get((r.dataset, g.benchmark, cs.column.key))
            cells += comparison_cells(c, cs.column.decimals)
            floor = (mde or {}).get((g.benchmark, cs.column.key))
            if c is not None and c.verdict == "no detectable difference" and floor is not None \
                    and cs.column.upper == 100 and floor > UNDERPOWERED:
                cells[-1] = Cell(f"{c.verdict} (could not detect < {floor:.1f})", c.verdict, verdict=c.verdict)
            if cs.column.noise_floor:
                cells.append(Cell(fmt(c.noise_floor) if c else "", c.noise_floor if c else None))
            if margins.get((g.benchmark, cs.column.key)) is not None:
                cells.append(Cell(c.equivalence or "", c.p_tost, note=f"p {pval(c.p_tost)}" if c and c.p_tost
                                  is not None else "") if c else Cell(""))
        body.append(cells)
    return headers, body


def comparison_cells(c: Comparison | None, decimals: int = 1) -> list[Cell]:
    if c is None:
        return [Cell("reference", ""), Cell(""), Cell("")]
    ci = (c.ci_low, c.ci_high) if c.ci_low is not None and c.ci_high is not None else None
    return [Cell(signed(c.diff, decimals), round(c.diff, 6), ci), Cell(pval(c.p_adjusted), c.p_adjusted),
            Cell(c.verdict, c.verdict, verdict=c.verdict)]


def summary_lines(report: Report, t: TableStats) -> list[str]:
    """Per evaluation's primary column: the best dataset, and whether it beats the reference significantly."""
    lines = []
    comps = {(c.dataset, c.benchmark, c.metric): c for c in t.comparisons}
    for g in t.groups:
        cs = next((c for c in g.columns if c.column.primary), g.columns[0] if g.columns else None)
        if cs is None:
            continue
        scored = [(d, e.estimate) for d, e in cs.estimates.items() if e.estimate is not None and d != t.base]
        if not scored:
            continue
        name, value = max(scored, key=lambda x: x[1])
        text = f"Best on {g.title} {cs.column.label}: {name} ({fmt(value, cs.column.decimals)})"
        c = comps.get((name, g.benchmark, cs.column.key))
        if name == t.reference:
            text += ", the reference itself"
        elif c is not None and c.p_adjusted is not None:
            text += (f", {c.verdict} than {t.reference} (Δ {signed(c.diff, cs.column.decimals)}, p (Holm) "
                     f"{pval(c.p_adjusted)})" if c.verdict in ("better", "worse") else
                     f", no detectable difference from {t.reference} (p (Holm) {pval(c.p_adjusted)})")
        lines.append(text + ".")
    return lines


def flat_rows(report: Report) -> list[dict[str, Any]]:
    """One flat record per dataset and table: every column's estimate, SE, CI, comparison and provenance."""
    out = []
    for t in report.tables:
        comps = {(c.dataset, c.benchmark, c.metric): c for c in t.comparisons}
        deltas = {(c.dataset, c.benchmark): c for c in t.base_deltas}
        gains = points_per_usd(t, report.settings.sort_by) if report.settings.points_per_usd else None
        for r in sorted_rows(t, report.settings.sort_by):
            rec: dict[str, Any] = {"base_model": t.base_model, "dataset": r.dataset,
                                   "builder": r.info.get("builder"), "size": r.info.get("size"),
                                   "train_resp_words": r.info.get("train_resp_words"), "seeds": len(r.seeds),
                                   "reference": t.reference}
            for g in t.groups:
                for cs in g.columns:
                    base, e = column_key(g, cs), cs.estimates.get(r.dataset)
                    rec.update({base: e and e.estimate, f"{base}_se": e and e.se, f"{base}_ci_low": e and e.ci_low,
                                f"{base}_ci_high": e and e.ci_high})
                    if cs.column.flag:
                        rec[f"{base}_{cs.column.flag}"] = e and e.flag
                    c = comps.get((r.dataset, g.benchmark, cs.column.key))
                    if (g.benchmark, cs.column.key) in {(x.benchmark, x.metric) for x in t.comparisons}:
                        rec.update({f"{base}_diff": c and c.diff, f"{base}_diff_ci_low": c and c.ci_low,
                                    f"{base}_diff_ci_high": c and c.ci_high, f"{base}_p": c and c.p_value,
                                    f"{base}_p_holm": c and c.p_adjusted, f"{base}_verdict": c.verdict if c else None})
                        if cs.column.noise_floor:
                            rec[f"{base}_noise_floor"] = c and c.noise_floor
                        if c is not None and c.margin is not None:
                            rec.update({f"{base}_equivalence": c.equivalence, f"{base}_p_tost": c.p_tost,
                                        f"{base}_margin": c.margin})
                if t.base is not None:
                    c = deltas.get((r.dataset, g.benchmark))
                    rec.update({f"{g.benchmark}.vs_base": c and c.diff, f"{g.benchmark}.vs_base_ci_low": c and c.ci_low,
                                f"{g.benchmark}.vs_base_ci_high": c and c.ci_high, f"{g.benchmark}.vs_base_p": c and
                                c.p_value})
                rec.update({f"{g.benchmark}.fingerprint": fingerprint_label(g.fingerprint),
                            f"{g.benchmark}.n_units": g.n_units, f"{g.benchmark}.baseline": g.info.get("baseline")})
            rec.update({k: r.info.get(k) for k, _, _ in COSTS})
            rec.update({k: r.info.get(k) for k in ("contaminated_rows", "decontaminated_rows")})
            if gains is not None:
                rec["points_per_usd"] = gains[1].get(r.dataset)
            rec.update({"card_sha256": r.provenance.get("card_sha256"), "recipe_sha": r.provenance.get("recipe_sha")})
            out.append(rec)
    return out


def fingerprint_label(fp: dict[str, Any]) -> str:
    """provider/model of a judge, or harness@version."""
    if "provider" in fp or "model" in fp:
        return f"{fp.get('provider', '?')}/{fp.get('model', '?')}"
    if "harness" in fp:
        return f"{fp['harness']}@{fp.get('version')}"
    return ",".join(f"{k}={v}" for k, v in sorted(fp.items()))[:80]
