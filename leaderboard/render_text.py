"""Report -> Markdown, CSV and LaTeX (booktabs), all from the row model in table_rows.py. Numbers in, text out."""

from __future__ import annotations

import io

import pandas as pd
from tabulate import tabulate

from sftbench.leaderboard.power import designs, mde_note
from sftbench.leaderboard.stats import GroupStats, Report, TableStats
from sftbench.leaderboard.table_rows import (CI_KIND, Cell, comparison_table, fingerprint_label, flat_rows,
                                             main_table, summary_lines)


def ci(lo: float | None, hi: float | None) -> str:
    return "" if lo is None or hi is None else f"[{lo:.1f}, {hi:.1f}]"


def cell_text(c: Cell) -> str:
    parts = [c.text, ci(*c.ci) if c.ci else "", c.note]
    return " ".join(p for p in parts if p)


def group_text(g: GroupStats) -> str:
    """What one evaluation's columns rest on: baseline, scorer, units."""
    baseline = f"baseline {g.info['baseline']}; " if g.info.get("baseline") else ""
    return f"{g.title}: {baseline}scored by {fingerprint_label(g.fingerprint)}; {g.n_units or 'no per-'} {g.unit}s" \
        if g.n_units else f"{g.title}: {baseline}scored by {fingerprint_label(g.fingerprint)}"


def noise_texts(report: Report) -> list[str]:
    out = []
    for benchmark, nf in sorted((report.noise_floors or {}).items()):
        if not nf or not nf.get("n"):
            continue
        what = nf.get("unit") or "preferences"  # AlpacaEval's pairwise preferences, MT-Bench's grades, ...
        if nf.get("deterministic"):
            out.append(f"Judge noise floor ({benchmark}): 0 — re-judging {nf['n']} stored annotations gave identical "
                       f"{what} (a deterministic judge adds no noise).")
        else:
            flips = f" (winner flipped in {nf['flip_rate'] * 100:.0f}%)" if "flip_rate" in nf else ""
            out.append(f"Judge noise floor ({benchmark}): re-judging {nf['n']} stored annotations moved {what} "
                       f"by sd {nf['sd_delta']:.3f}{flips}; the judge noise ± column is the 95% band of a difference "
                       "produced by judge sampling alone.")
    return out or ["Judge noise floor: not measured (no noise-floor step in this run, or nothing re-judged)."]


def holm_scope(s) -> str:
    return {"table": "every comparison of the table", "leaderboard": "every comparison of every table"}.get(
        s.holm_family, "each evaluation's comparisons")


def settings_text(report: Report) -> str:
    s = report.settings
    return (f"95% CIs: bootstrap over units ({s.n_bootstrap} resamples; LC: {s.n_bootstrap_lc} GLM refits), "
            f"hierarchical over seeds when several. Comparisons: paired tests; Δ intervals are per comparison "
            f"({CI_KIND}), while verdicts use Holm-adjusted p-values over {holm_scope(s)} at alpha "
            f"{s.alpha:g}, so an interval that excludes 0 can still read 'no detectable difference'; "
            f"{s.n_permutations} sign-flip permutations; RNG seed {s.seed}.")


def _md_table(headers: list, body: list[list[Cell]]) -> str:
    labels = [f"{h.group}: {h.label}" if h.group else h.label for h in headers]
    rows = [[cell_text(c) for c in row] for row in body]
    return tabulate(rows, headers=labels, tablefmt="github", disable_numparse=True)


def to_markdown(report: Report) -> str:
    parts = [f"# Leaderboard: {report.suite}\n"]
    for t in report.tables:
        headers, body, rows = main_table(t, report.settings.sort_by, report.settings.points_per_usd)
        parts.append(f"## {t.base_model}\n\n{_md_table(headers, body)}\n")
        parts.append("; ".join(group_text(g) for g in t.groups) +
                     f"; seeds per dataset: {max(len(r.seeds) for r in t.rows)}.\n")
        parts += [line + "\n" for line in summary_lines(report, t)]
        if t.reference and t.comparisons:
            headers, body = comparison_table(t, report.settings.sort_by, mde_by_column(report, t))
            parts.append(f"### Paired comparisons against `{t.reference}` (points)\n\n{_md_table(headers, body)}\n")
        parts += [f"Note: {n}.\n" for n in _notes(t)]
    parts += [line + "\n" for line in noise_texts(report)] + [settings_text(report) + "\n"]
    if (note := mde_note(report)) is not None:
        parts.append(note + ".\n")
    return "\n".join(parts)


def mde_by_column(report: Report, t: TableStats) -> dict[tuple[str, str], float]:
    """The MDE of each tested column of one table (one base model)."""
    return {(d.benchmark, d.column): d.mde() for d in designs(report, t)}


def _notes(t: TableStats) -> list[str]:
    return [*t.notes, *(f"{g.title}: {n}" for g in t.groups for n in g.notes)]


def to_csv(report: Report) -> str:
    buf = io.StringIO()
    pd.DataFrame(flat_rows(report)).to_csv(buf, index=False, float_format="%.4f")
    return buf.getvalue()


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex(text: object) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def _tex_cell(c: Cell) -> str:
    if c.verdict is not None:
        return {"better": "$\\uparrow$ better", "worse": "$\\downarrow$ worse"}.get(c.verdict, tex(c.verdict))
    value = f"\\textbf{{{tex(c.text)}}}" if c.best else tex(c.text)
    extra = f"[{c.ci[0]:.1f}, {c.ci[1]:.1f}]" if c.ci else ""
    extra = " ".join(p for p in (extra, tex(c.note).replace("±", "$\\pm$")) if p)
    return value + (f"{{\\scriptsize\\,{extra}}}" if extra else "")


def _tex_tabular(headers: list, body: list[list[Cell]], caption: str) -> list[str]:
    groups: list[tuple[str, int]] = []
    for h in headers:
        if groups and groups[-1][0] == h.group:
            groups[-1] = (h.group, groups[-1][1] + 1)
        else:
            groups.append((h.group, 1))
    spans = " & ".join(f"\\multicolumn{{{n}}}{{c}}{{{tex(g)}}}" if g else " & ".join([""] * n) for g, n in groups)
    out = ["\\begin{table}[t]", "\\centering", "\\small", f"\\begin{{tabular}}{{l{'r' * (len(headers) - 1)}}}",
           "\\toprule", spans + " \\\\", " & ".join(tex(h.label) for h in headers) + " \\\\", "\\midrule"]
    out += [" & ".join(_tex_cell(c) for c in row) + " \\\\" for row in body]
    out += ["\\bottomrule", "\\end{tabular}", f"\\caption{{{caption}}}", "\\end{table}", ""]
    return out


def to_latex(report: Report) -> str:
    """Per base model: the leaderboard (best value per column bold, CIs small) and the paired comparisons, as
    booktabs tables with the same columns as every other format."""
    out = [f"% sftbench leaderboard: {tex(report.suite)} (needs \\usepackage{{booktabs}})"]
    for t in report.tables:
        headers, body, _ = main_table(t, report.settings.sort_by, report.settings.points_per_usd)
        scored = "; ".join(tex(group_text(g)) for g in t.groups)
        out += _tex_tabular(headers, body, f"{tex(t.base_model)}: {scored}. 95\\% bootstrap CIs in brackets.")
        if t.reference and t.comparisons:
            headers, body = comparison_table(t, report.settings.sort_by, mde_by_column(report, t))
            out += _tex_tabular(headers, body, f"Paired comparisons against {tex(t.reference)} (points): differences "
                                f"with per-comparison (unadjusted) 95\\% CIs; verdicts from Holm-adjusted p-values "
                                f"($\\alpha={report.settings.alpha:g}$).")
    return "\n".join(out)
