"""Plots with matplotlib, in the table's row order: bars with 95% CIs for every column of every evaluation, and the
length-bias picture (primary score vs average output length) for evaluations that report output lengths. SVG for
the HTML page (text kept as text), PDF for LaTeX; both deterministic (no dates, fixed ids)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from sftbench.leaderboard.stats import ColumnStats, GroupStats, TableStats
from sftbench.leaderboard.table_rows import sorted_rows

LENGTH_KEY = "avg_output_chars"  # a column of this key makes an evaluation's length-bias plot


@dataclass
class Figures:
    svg: str
    pdf: bytes


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    plt.rcParams.update({"svg.hashsalt": "sftbench", "svg.fonttype": "none", "font.size": 9,
                         "pdf.fonttype": 42, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _save(fig) -> Figures:
    plt = _plt()
    svg, pdf = io.StringIO(), io.BytesIO()
    fig.savefig(svg, format="svg", bbox_inches="tight", metadata={"Date": None})
    fig.savefig(pdf, format="pdf", bbox_inches="tight", metadata={"CreationDate": None, "ModDate": None})
    plt.close(fig)
    return Figures(svg.getvalue(), pdf.getvalue())


def _bar_columns(t: TableStats) -> list[tuple[GroupStats, ColumnStats]]:
    return [(g, cs) for g in t.groups for cs in g.columns if cs.column.key != LENGTH_KEY]


def bars_plot(t: TableStats, sort_by: str) -> Figures | None:
    """One panel per column: a horizontal bar per dataset (table order, top first) with its 95% CI or ± SE."""
    cols = _bar_columns(t)
    if not cols:
        return None
    plt = _plt()
    names = [r.dataset for r in sorted_rows(t, sort_by)]
    fig, axes = plt.subplots(1, len(cols), figsize=(2.6 * len(cols) + 1.2, 0.35 * len(names) + 1.6), sharey=True,
                             squeeze=False, layout="constrained")
    for ax, (g, cs) in zip(axes[0], cols):
        ys = list(range(len(names)))[::-1]
        values, lo, hi = [], [], []
        for name in names:
            e = cs.estimates.get(name)
            v = e.estimate if e is not None and e.estimate is not None else float("nan")
            values.append(v)
            if e is not None and e.ci_low is not None and e.ci_high is not None:
                lo.append(v - e.ci_low)
                hi.append(e.ci_high - v)
            elif e is not None and e.se is not None:
                lo.append(e.se)
                hi.append(e.se)
            else:
                lo.append(0.0)
                hi.append(0.0)
        bars = ax.barh(ys, values, xerr=[lo, hi], color="#1f6feb" if cs.column.primary else "#9aa0a6",
                       error_kw={"ecolor": "#111", "capsize": 3, "lw": 1})
        for bar, name in zip(bars, names):
            bar.set_gid(f"bar-{g.benchmark}-{cs.column.key}-{name}")
        ax.set_yticks(ys, names)
        ax.set_title(f"{g.title}\n{cs.column.label}", fontsize=9)
    fig.suptitle(f"{t.base_model}: estimates with 95% CIs (summary columns: ± SE)", fontsize=10)
    return _save(fig)


def length_plot(t: TableStats, sort_by: str) -> Figures | None:
    """Primary score vs average output length per dataset, the evaluation's other per-example columns drawn hollow
    and joined to it: a long vertical drop is a win bought by length. Datasets are told apart by colour and the
    legend (table order), so no label can overlap another."""
    found = next(((g, cs) for g in t.groups for cs in g.columns if cs.column.key == LENGTH_KEY), None)
    if found is None:
        return None
    g, lengths = found
    primary = next((cs for cs in g.columns if cs.column.primary), None)
    others = [cs for cs in g.columns if cs is not primary and cs.column.key != LENGTH_KEY
              and cs.column.statistic != "summary"]
    if primary is None:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    colours = plt.get_cmap("tab10")
    for i, name in enumerate(r.dataset for r in sorted_rows(t, sort_by)):
        x = lengths.estimates[name].estimate
        e = primary.estimates.get(name)
        if x is None or e is None or e.estimate is None:
            continue
        colour = colours(i % 10)
        for cs in others:
            o = cs.estimates.get(name)
            if o is not None and o.estimate is not None:
                ax.plot([x, x], [o.estimate, e.estimate], ls=":", color=colour, lw=1)
                ax.plot([x], [o.estimate], "o", mfc="white", color=colour, gid=f"point-{cs.column.key}-{name}")
        err = [[e.estimate - e.ci_low], [e.ci_high - e.estimate]] if e.ci_low is not None else None
        marker, _, _ = ax.errorbar([x], [e.estimate], yerr=err, fmt="o", color=colour, capsize=3, label=name)
        marker.set_gid(f"point-{primary.column.key}-{name}")
    ax.set_xlabel("average output length (characters)")
    ax.set_ylabel(f"{primary.column.label} (filled){' / ' + others[0].column.label + ' (hollow)' if others else ''}")
    ax.set_title(f"Length bias: {g.title}", fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False, fontsize=8)
    return _save(fig)
