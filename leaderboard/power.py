"""Power before spending: from a pilot run's comparisons, the minimum detectable effect (MDE) of the current
design, and the seeds and units (prompts, questions, items) a target effect needs.

A comparison's variance is the sum its test used (leaderboard/stats.py): a part from the units, which shrinks with
more units and, as far as it is judge and sampling noise, with more seeds, and a part from training seeds, which
shrinks with more seeds only. For k' seeds per arm and n' units, against the pilot's k and n:

    var(k', n') = var_units * (n / n') * (k / k') + var_seeds * (k / k')

with the degrees of freedom of each part scaled the same way (Welch-Satterthwaite for the sum). The MDE is the
difference a two-sided t test at level a detects with probability 1 - beta, from the noncentral t distribution:
with few seeds the seed part has few degrees of freedom, and the MDE grows accordingly. Verdicts are Holm-adjusted
over each evaluation's m comparisons (or the table's or the leaderboard's: `holm_family`), so the design is judged
at Holm's first step, a = alpha / m: a conservative bound. With one seed per arm the seed variance is unknown and
left out (the MDE is then optimistic: the report says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from sftbench.leaderboard.paired import satterthwaite_df
from sftbench.leaderboard.stats import Comparison, Report, TableStats

POWER = 0.8


@dataclass
class Design:
    benchmark: str
    column: str
    label: str
    k: int                      # seeds per arm
    n: int                      # units
    var_units: float
    var_seeds: float | None
    alpha: float                # per comparison (Holm's first step)
    df_units: float = float("inf")
    df_seeds: float | None = None
    base_model: str = ""

    def variance(self, k: int, n: int) -> tuple[float, float]:
        """(variance, Satterthwaite df) of a comparison with k seeds per arm and n units."""
        units_df = self.df_units * (n - 1) / (self.n - 1) if self.n > 1 and np.isfinite(self.df_units) \
            and self.df_units == self.n - 1 else self.df_units
        # With several pilot seeds the units' part is the unit x dataset interaction (the runs' noise was moved
        # to the seeds' part, stats._compare): more seeds do not shrink it. With one seed it cannot be split,
        # and more seeds are assumed to average it down (optimistic; the MDE note says so).
        seeds_shrink_units = (self.k / k) if self.var_seeds is None else 1.0
        parts = [(self.var_units * (self.n / n) * seeds_shrink_units, units_df)]
        if self.var_seeds is not None and self.df_seeds and self.k > 1:
            parts.append((self.var_seeds * (self.k / k), self.df_seeds * (k - 1) / (self.k - 1)))
        return sum(v for v, _ in parts), satterthwaite_df(parts)

    def power(self, effect: float, k: int | None = None, n: int | None = None) -> float:
        """Probability that a two-sided t test at level alpha detects a true difference of `effect`."""
        var, df = self.variance(k or self.k, n or self.n)
        if var <= 0:
            return 1.0 if effect else self.alpha
        ncp = effect / np.sqrt(var)
        if not np.isfinite(df) or df > 1e6:
            c = stats.norm.ppf(1 - self.alpha / 2)
            return float(stats.norm.sf(c - ncp) + stats.norm.cdf(-c - ncp))
        c = stats.t.ppf(1 - self.alpha / 2, df)
        p = float(stats.nct.sf(c, df, ncp) + stats.nct.cdf(-c, df, ncp))
        return p if np.isfinite(p) else 1.0  # far in the tail, where scipy's nct gives up

    def mde(self, k: int | None = None, n: int | None = None, power: float = POWER) -> float:
        k, n = k or self.k, n or self.n
        var, _ = self.variance(k, n)
        if var <= 0:
            return 0.0
        se, high = float(np.sqrt(var)), float(np.sqrt(var))
        while self.power(high, k, n) < power and high < 1e3 * se:
            high *= 2
        if self.power(high, k, n) < power:  # e.g. a tiny alpha with df near 1: nothing this side of 1000 SEs
            return float("inf")
        return float(optimize.brentq(lambda e: self.power(e, k, n) - power, 0.0, high, xtol=1e-6 * se))

    def needed(self, target: float, max_seeds: int = 20, max_factor: int = 64) -> list[tuple[int, int]]:
        """(seeds, units) designs that reach `target` with the fewest runs first: more seeds at today's units,
        more units at today's seeds, and the cheapest mixes."""
        found: dict[int, int] = {}
        # with seed variance in the pilot, one seed per arm could not estimate it: verdicts would compare checkpoints
        for k in range(2 if self.var_seeds is not None else 1, max_seeds + 1):
            for factor in (1, 2, 4, 8, 16, 32, max_factor):
                if self.mde(k, self.n * factor) <= target:
                    found.setdefault(k, self.n * factor)
                    break
        return sorted(found.items())[:6]


def designs(report: Report, table: TableStats | None = None) -> list[Design]:
    """One design per tested column of every table, or of `table` (its comparisons' variances averaged)."""
    out = []
    for t in report.tables if table is None else [table]:
        labels = {(g.benchmark, cs.column.key): cs.column.label for g in t.groups for cs in g.columns}
        by_column: dict[tuple[str, str], list[Comparison]] = {}
        for c in t.comparisons:
            if c.var_units is not None and c.k and c.n:
                by_column.setdefault((c.benchmark, c.metric), []).append(c)
        for (benchmark, key), comps in by_column.items():
            seeds = [c.var_seeds for c in comps if c.var_seeds is not None]
            out.append(Design(benchmark, key, labels.get((benchmark, key), key), min(c.k for c in comps),
                              min(c.n for c in comps), float(np.mean([c.var_units for c in comps])),
                              float(np.mean(seeds)) if seeds else None,
                              report.settings.alpha / _family_size(report, t, benchmark),
                              min(c.df_units if c.df_units is not None else float("inf") for c in comps),
                              min((c.df_seeds for c in comps if c.df_seeds), default=None), t.base_model))
    return out


def _family_size(report: Report, t: TableStats, benchmark: str) -> int:
    """The m of Holm's family a comparison of `benchmark` in table `t` belongs to (`holm_family`)."""
    family = report.settings.holm_family
    tables = report.tables if family == "leaderboard" else [t]
    return max(1, sum(1 for tt in tables for c in tt.comparisons
                      if c.var_units is not None and (family != "evaluation" or c.benchmark == benchmark)))


def mde_note(report: Report) -> str | None:
    found = designs(report)
    if not found:
        return None
    several = len({d.base_model for d in found}) > 1  # then each MDE names its base model's table
    parts = ", ".join(f"{f'[{d.base_model}] ' if several else ''}{d.benchmark} {d.label} {d.mde():.1f}"
                      for d in found)
    unknown = " (one seed: the seed variance is unknown, so these are optimistic)" if any(
        d.var_seeds is None for d in found) else ""
    return (f"Minimum detectable effect of this design (80% power, Holm's first step): {parts}{unknown}; "
            "`sftbench power` says what a smaller one needs")
