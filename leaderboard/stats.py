"""Results table -> leaderboard statistics: one table per base model, one column group per evaluation, every
column with CIs per dataset and paired comparisons against the reference dataset.

Column statistics (leaderboard/results.py `Column.statistic`):
* `mean`: the mean over seeds of each seed's mean over units (per-example scores, missing ones skipped), with a
  bootstrap CI that resamples seeds, then units (percentile interval). Unit draws are shared by every dataset of a
  table, so differences of replicates are paired.
* `lc_glm`: AlpacaEval's length-controlled win rate; every resample refits the GLM (`lc_refit`). A resample's
  duplicated prompts can land in both of the GLM's CV folds, which shifts refits a little, so its interval is the
  estimate +- z * bootstrap SE (clipped to the column's range) rather than percentiles.
* `summary`: the runs' own headline number only: mean over seeds, SE over seeds (or the run's own SE with one
  seed); no comparison.

Per comparison (dataset - reference): the paired bootstrap variance of the difference (units resampled, every
seed kept) plus, when several seeds exist anywhere in the table, the training-seed variance pooled over datasets
(the run-level noise counted once), with Satterthwaite degrees of freedom. The CI is the difference +- t *
sqrt(variance) and the p-value the matching t test, so CI and unadjusted test agree; for `mean` columns the
p-value is also at least the sign-flip permutation test's over units. Holm's adjustment runs over every
comparison of one evaluation (its datasets x columns), or with `holm_family: table` over every comparison of the
table at once, or with `leaderboard` over every comparison of every table; verdicts at `alpha`. With one seed per dataset the seed
variance is unknown and verdicts compare checkpoints, not datasets (the table says so).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable

import numpy as np
from scipy import stats

from sftbench.leaderboard import bootstrap as bs
from sftbench.leaderboard.paired import holm, satterthwaite_df, sign_flip_pvalue, t_pvalue, verdict
from sftbench.leaderboard.results import Column, Evaluated, ResultsTable, Run

SINGLE_SEED_NOTE = ("one seed per dataset: the training-seed variance is unknown, so verdicts compare these "
                    "checkpoints, not the datasets; run several seeds for dataset-level verdicts")
NO_LC_NOTE = "no bootstrap CIs or tests (n_bootstrap_lc = 0 or no length-control table)"


HOLM_FAMILIES = ("evaluation", "table", "leaderboard")


@dataclass
class Settings:
    alpha: float = 0.05
    n_bootstrap: int = 200        # resamples of `mean` columns (vectorised)
    n_bootstrap_lc: int = 50      # LC resamples: each refits the GLM once per seed (slow); 0 = no LC CIs/tests
    n_permutations: int = 10000
    seed: int = 0
    reference: str | None = None  # default: the first dataset
    sort_by: str = "lc_win_rate"  # a column key (or benchmark.key), or "name"; unknown keys: the first primary
    equivalence_margin: dict[str, float] = field(default_factory=dict)  # column (key or benchmark.key) -> ±m points
    gate: list[str] | None = None  # columns (or whole evaluations) `sftbench compare` fails on; None: all tested
    points_per_usd: bool = False   # a column: the headline gain over the reference per $ of building the dataset
    holm_family: str = "evaluation"  # Holm's family: each evaluation's comparisons, a table's, or the leaderboard's

    @classmethod
    def from_spec(cls, spec: Any = None, **overrides: Any) -> "Settings":
        """From a LeaderboardSpec (fields it lacks keep their defaults); non-None overrides win."""
        values = {f.name: getattr(spec, f.name) for f in fields(cls) if spec is not None and hasattr(spec, f.name)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class Estimate:
    estimate: float | None
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    per_seed: list[float | None] = field(default_factory=list)
    flag: int | None = None           # the column's flag count (e.g. unparsed judgments), summed over seeds


@dataclass
class Comparison:
    dataset: str
    reference: str
    benchmark: str
    metric: str
    diff: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None          # None: not tested
    p_adjusted: float | None
    test: str
    verdict: str
    noise_floor: float | None = None   # 95% band of a difference produced by re-judging alone (column units)
    se: float | None = None            # the difference's standard error and degrees of freedom (power, TOST)
    df: float | None = None
    var_units: float | None = None     # the part of se**2 from the units (prompts, items) ...
    var_seeds: float | None = None     # ... and from training seeds (None: one seed, unknown)
    df_units: float | None = None      # ... and their degrees of freedom
    df_seeds: float | None = None
    k: int | None = None               # seeds per arm and units of this comparison's design
    n: int | None = None
    margin: float | None = None        # equivalence margin (±points), when one is set for this column
    p_tost: float | None = None        # two one-sided tests against ±margin, Holm-adjusted like p_adjusted
    equivalence: str | None = None     # "equivalent within ±m", "not shown equivalent" or "different"


@dataclass
class ColumnStats:
    column: Column
    estimates: dict[str, Estimate]     # dataset -> estimate


@dataclass
class GroupStats:
    """One evaluation's columns in a table."""
    benchmark: str
    title: str
    unit: str
    n_units: int
    fingerprint: dict[str, Any]
    info: dict[str, Any]
    columns: list[ColumnStats]
    notes: list[str] = field(default_factory=list)


@dataclass
class RowStats:
    dataset: str
    seeds: list[int]
    info: dict[str, Any]
    provenance: dict[str, Any]


@dataclass
class TableStats:
    base_model: str
    reference: str | None
    rows: list[RowStats]
    groups: list[GroupStats]
    comparisons: list[Comparison]
    notes: list[str] = field(default_factory=list)
    base: str | None = None            # the untuned base model's row (evaluation.include_base), never compared ...
    base_deltas: list[Comparison] = field(default_factory=list)  # ... but every dataset's Δ vs it (unadjusted)


@dataclass
class Report:
    suite: str
    settings: Settings
    tables: list[TableStats]
    noise_floors: dict[str, dict[str, Any]]


@dataclass
class _Arm:
    """One dataset's runs of one evaluation: per-example score matrices and bootstrap replicates per column."""
    evs: list[Evaluated]
    rng: np.random.Generator
    per_run: dict[str, np.ndarray] = field(default_factory=dict)
    reps: dict[str, np.ndarray] = field(default_factory=dict)   # hierarchical (seeds, then units)
    fixed: dict[str, np.ndarray] = field(default_factory=dict)  # units only, every seed kept
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # (k, n) per column, scaled


def _pooled(arms: dict[str, _Arm], values: Callable[[_Arm], np.ndarray]) -> tuple[float, int]:
    """Pooled within-dataset variance across datasets with several seeds, and its degrees of freedom."""
    ss, df = 0.0, 0
    for arm in arms.values():
        v = values(arm)
        if len(v) > 1:
            ss += float(np.sum((v - v.mean(axis=0)) ** 2)) if v.ndim == 1 else \
                float(_mean(_var(v, axis=0, ddof=1)) * (len(v) - 1))
            df += len(v) - 1
    return (ss / df if df else 0.0), df


def _row_means(m: np.ndarray) -> np.ndarray:
    return m.mean(axis=1) if not np.isnan(m).any() else np.nanmean(m, axis=1)


# NaN-aware reductions that take numpy's plain path when nothing is missing (the same digits as before)
def _mean(v: np.ndarray) -> float:
    return float(v.mean() if not np.isnan(v).any() else np.nanmean(v))


def _var(v: np.ndarray, **kw: Any) -> Any:
    if not np.isnan(v).any():
        return v.var(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices (units a column does not cover)
        return np.nanvar(v, **kw)


def _group(benchmark: str, runs: list[tuple[Run, Evaluated]], table: ResultsTable, s: Settings, key: str,
           tick: Callable[[int], None] | None) -> tuple[GroupStats, dict[str, _Arm], bool]:
    first = runs[0][1]
    prints = {}
    for run, ev in runs:
        prints.setdefault(ev.fingerprint_sha, []).append(f"{run.dataset}/s{run.seed}")
    if len(prints) > 1:
        raise ValueError(f"table {key}: the runs were scored by different judges or harness versions (fingerprints "
                         f"{prints}); results from different fingerprints never share a table")
    per_example = [c for c in first.columns if c.statistic != "summary"]
    if per_example and len({tuple(ev.units) for _, ev in runs}) > 1:
        raise ValueError(f"table {key}: the runs were judged on different eval prompts; comparisons need one set")
    n = len(first.units)
    idx = bs.prompt_draws(bs.rng_for(s.seed, "prompts", key), n, s.n_bootstrap) if n else None
    lc_ok = s.n_bootstrap_lc > 0 and all(ev.info.get("anchor") in table.anchors for _, ev in runs)
    idx_lc = bs.prompt_draws(bs.rng_for(s.seed, "prompts-lc", key), n, s.n_bootstrap_lc) if lc_ok and n else None
    arms: dict[str, _Arm] = {}
    for name in dict.fromkeys(r.dataset for r, _ in runs):
        mine = sorted(((r, ev) for r, ev in runs if r.dataset == name), key=lambda t: t[0].seed)
        arm = _Arm([ev for _, ev in mine], bs.rng_for(s.seed, "seeds", key, name))
        k = len(mine)
        for col in first.columns:
            if col.statistic == "summary":
                arm.per_run[col.key] = np.array([np.nan if ev.headline.get(col.key) is None else
                                                 float(ev.headline[col.key]) for ev in arm.evs])
            elif col.statistic == "mean":
                m = np.vstack([ev.array(col.score or col.key) for ev in arm.evs])
                arm.scores[col.key] = m * col.scale
                arm.per_run[col.key] = _row_means(m) * col.scale
                arm.reps[col.key] = bs.mean_replicates(m, idx, bs.seed_weights(arm.rng, k, s.n_bootstrap)) * col.scale
                arm.fixed[col.key] = bs.mean_replicates(m, idx, np.full((len(idx), k), 1 / k)) * col.scale
            else:  # lc_glm
                from sftbench.leaderboard.lc_refit import LCModel
                arm.per_run[col.key] = np.array([float(ev.headline[col.key]) for ev in arm.evs])
                if idx_lc is not None:
                    fits = [LCModel.from_arrays(ev.array(col.score or "preference"), ev.array("delta_len"),
                                                table.anchors[ev.info["anchor"]], ev.info.get("glm",
                                                "length_controlled_v1")).winrate for ev in arm.evs]
                    per_seed = bs.refit_replicates(fits, idx_lc, tick)
                    arm.reps[col.key] = (per_seed * bs.seed_weights(arm.rng, k, s.n_bootstrap_lc)).sum(axis=1)
                    arm.fixed[col.key] = per_seed.mean(axis=1)
        arms[name] = arm
    columns = [ColumnStats(col, {name: _estimate(arm, col, s.alpha) for name, arm in arms.items()})
               for col in first.columns]
    group = GroupStats(benchmark, first.title, first.unit, n, first.fingerprint, dict(first.info), columns)
    if any(c.statistic == "lc_glm" for c in first.columns) and idx_lc is None:
        group.notes.append(f"{', '.join(c.label for c in first.columns if c.statistic == 'lc_glm')}: {NO_LC_NOTE}")
    return group, arms, idx_lc is not None


def _estimate(arm: _Arm, col: Column, alpha: float) -> Estimate:
    per_seed = arm.per_run[col.key]
    valid = per_seed[~np.isnan(per_seed)]
    flag = None
    if col.flag:
        flag = int(sum(ev.headline.get(col.flag) or 0 for ev in arm.evs))
    est = Estimate(float(valid.mean()) if len(valid) else None,
                   per_seed=[None if np.isnan(v) else float(v) for v in per_seed], flag=flag)
    if col.statistic == "summary":
        if len(valid) > 1:
            est.se = float(valid.std(ddof=1) / np.sqrt(len(valid)))
        elif len(valid) == 1 and arm.evs[0].headline.get(f"{col.key}_se") is not None:
            est.se = float(arm.evs[0].headline[f"{col.key}_se"])
        return est
    reps = arm.reps.get(col.key)
    if reps is not None and len(reps) > 1 and est.estimate is not None:
        est.se = float(np.sqrt(_var(reps, ddof=1)))
        if col.statistic == "mean":  # a mean: percentile interval, within the column's range by construction
            est.ci_low, est.ci_high = (float(q) for q in np.nanquantile(reps, [alpha / 2, 1 - alpha / 2]))
        else:  # GLM refits: centred normal interval, clipped to the column's range
            half = float(stats.norm.ppf(1 - alpha / 2)) * est.se
            est.ci_low, est.ci_high = est.estimate - half, est.estimate + half
            if col.lower is not None:
                est.ci_low = max(col.lower, est.ci_low)
            if col.upper is not None:
                est.ci_high = min(col.upper, est.ci_high)
    return est


def tost_pvalue(diff: float, se: float, df: float | None, margin: float) -> float:
    """Two one-sided tests of |true difference| < margin: the larger of the two one-sided p-values."""
    if se <= 0:
        return 0.0 if abs(diff) < margin else 1.0
    dist = stats.norm if df is None or not np.isfinite(df) else stats.t(df)
    return float(max(dist.sf((diff + margin) / se), dist.cdf((diff - margin) / se)))


def margin_for(settings: Settings, benchmark: str, key: str) -> float | None:
    """The column's equivalence margin (`compute` stores every margin under benchmark.key)."""
    return (settings.equivalence_margin or {}).get(f"{benchmark}.{key}")


def table_columns(table: ResultsTable) -> tuple[set[tuple[str, str]], dict[str, str]]:
    """The (benchmark, column key) pairs the results hold, and evaluation name -> its benchmark (alpaca_eval ->
    alpaca_eval_2 when it ran on AlpacaEval 2.0), so a column can be named either way."""
    columns = {(ev.benchmark, c.key) for r in table.runs for ev in r.evaluations.values() for c in ev.columns}
    aliases = {name: ev.benchmark for r in table.runs for name, ev in r.evaluations.items()}
    return columns, aliases


def resolve_columns(names: list[str], table: ResultsTable, what: str) -> set[tuple[str, str]]:
    """The columns named by `names` (a column key, an evaluation or benchmark, or evaluation.key); a name that
    matches none is an error naming what the results hold."""
    columns, aliases = table_columns(table)
    chosen: set[tuple[str, str]] = set()
    unknown = []
    for name in names:
        head, _, key = name.partition(".")
        benchmarks = {head, aliases.get(head, head)}
        hit = {(b, k) for b, k in columns if (b in benchmarks and (not key or k == key)) or (not key and k == head)}
        if not hit:
            unknown.append(name)
        chosen |= hit
    if unknown:
        raise ValueError(f"{what}: {', '.join(map(repr, unknown))} names no column of these results; they have "
                         f"{', '.join(sorted({f'{b}.{k}' for b, k in columns}))} (or a whole evaluation: "
                         f"{', '.join(sorted(set(aliases) | {b for b, _ in columns}))})")
    return chosen


def _compare(a: _Arm, r: _Arm, col: Column, arms: dict[str, _Arm], s: Settings, rng: np.random.Generator,
             floor_sd: float | None, untrained_ref: bool = False
             ) -> tuple[float, float | None, float | None, float | None, str, float | None, float | None,
                        float | None, list[tuple[float, float]] | None]:
    """(difference, CI low, CI high, p-value, test name, judge-noise floor, SE, df, variance parts) of arm a minus
    arm r; the parts: [(units', df), (seeds', df)] as added up for the SE. `untrained_ref`: r is the untuned base
    model, which has no training seed, so only a's seeds add seed variance (and only a's run noise is moved from
    the units' part to the seeds')."""
    metric = col.key
    diff = _mean(a.per_run[metric]) - _mean(r.per_run[metric])
    if metric not in a.fixed or metric not in r.fixed:
        return diff, None, None, None, "not tested (no resamples)", None, None, None, None
    k_a, k_r = len(a.evs), len(r.evs)
    n, inv_k = _n_units(a, r, col), 1 / k_a + 1 / k_r
    inv_seeds = 1 / k_a if untrained_ref else inv_k
    v_prompts = float(_var(a.fixed[metric] - r.fixed[metric], ddof=1))
    df_prompts = n - 1 if col.statistic == "mean" else len(a.fixed[metric]) - 1
    seed_var, seed_df = _pooled(arms, lambda arm: arm.per_run[metric])
    parts, test = [(v_prompts, df_prompts)], "paired bootstrap t"
    if seed_df:
        if col.statistic == "mean":  # the judge/sampling noise of a run is in both parts: count it once
            noise, _ = _pooled(arms, lambda arm: arm.scores[metric])
            parts = [(max(0.0, v_prompts - noise * inv_seeds / n), df_prompts)]
        parts.append((seed_var * inv_seeds, seed_df))
        test += " + seed variance"
    variance, df = sum(v for v, _ in parts), satterthwaite_df(parts)
    p = t_pvalue(diff, variance, df)
    half = float(stats.t.ppf(1 - s.alpha / 2, df) if np.isfinite(df) else stats.norm.ppf(1 - s.alpha / 2))
    half *= float(np.sqrt(variance))
    floor = None
    if col.statistic == "mean":
        d = _unit_means(a.scores[metric]) - _unit_means(r.scores[metric])
        p, test = max(p, sign_flip_pvalue(d[~np.isnan(d)], s.n_permutations, rng)), "sign-flip permutation + " + test
        if col.noise_floor and floor_sd is not None:
            floor = 1.96 * float(np.sqrt(floor_sd ** 2 / 2 * inv_k / n)) * col.scale
    else:
        test += " (GLM refit)"
    finite = float(df) if np.isfinite(df) else None  # None: normal (JSON has no infinity)
    return diff, diff - half, diff + half, p, test, floor, float(np.sqrt(variance)), finite, parts


COSTS_SUMMED = ("train_hours", "train_gpu_hours", "eval_usd")  # over a dataset's seeds; build_usd is paid once


def _row_info(runs: list[Run]) -> dict[str, Any]:
    """A dataset's fields: its first run's, with what every seed cost added up."""
    info = dict(runs[0].info)
    for key in COSTS_SUMMED:
        values = [r.info.get(key) for r in runs if r.info.get(key) is not None]
        if key in info:
            info[key] = sum(values) if values else None
    return info


def _base_deltas(benchmark: str, group: GroupStats, arms: dict[str, _Arm], base: str, s: Settings,
                 floor_sd: float | None) -> list[Comparison]:
    """Every dataset's difference to the untuned base on the evaluation's primary column, with its unadjusted CI
    and p-value (what fine-tuning on it adds; not a verdict, so outside Holm's families)."""
    cs = next((c for c in group.columns if c.column.primary), group.columns[0] if group.columns else None)
    if cs is None:
        return []
    rng = bs.rng_for(s.seed, "base-deltas", benchmark)
    out = []
    for name, arm in arms.items():
        if name == base:
            continue
        if cs.column.statistic == "summary":
            diff = _mean(arm.per_run[cs.column.key]) - _mean(arms[base].per_run[cs.column.key])
            out.append(Comparison(name, base, benchmark, cs.column.key, diff, None, None, None, None,
                                  "not tested (no resamples)", ""))
            continue
        diff, lo, hi, p, test, _, se, df, _ = _compare(arm, arms[base], cs.column, arms, s, rng, floor_sd,
                                                       untrained_ref=True)
        out.append(Comparison(name, base, benchmark, cs.column.key, diff, lo, hi, p, p, test, "", se=se, df=df))
    return out


def _n_units(a: _Arm, r: _Arm, col: Column) -> int:
    """The units a comparison of this column rests on: those scored in both arms (a column may cover part of its
    evaluation's units, as an OpenLLM task does)."""
    if col.statistic != "mean":
        return len(a.evs[0].units)
    return int(np.sum(~np.isnan(_unit_means(a.scores[col.key])) & ~np.isnan(_unit_means(r.scores[col.key]))))


def _unit_means(m: np.ndarray) -> np.ndarray:
    """Per-unit mean over seeds (NaN where every seed lacks the unit)."""
    if not np.isnan(m).any():
        return m.mean(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice": that unit is NaN, as meant
        return np.nanmean(m, axis=0)


def _table(base_model: str, runs: list[Run], table: ResultsTable, s: Settings,
           tick: Callable[[int], None] | None) -> TableStats:
    datasets = list(dict.fromkeys(r.dataset for r in runs))
    base = next((r.dataset for r in runs if r.provenance.get("untuned")), None)
    reference = s.reference or next((d for d in datasets if d != base), datasets[0])
    rows = []
    for name in datasets:
        mine = sorted((r for r in runs if r.dataset == name), key=lambda r: r.seed)
        rows.append(RowStats(name, [r.seed for r in mine], _row_info(mine),
                             {**mine[0].provenance, "steps": [r.provenance.get("steps", {}) for r in mine]}))
    out = TableStats(base_model, reference if reference in datasets else None, rows, [], [], base=base)
    if max(len(r.seeds) for r in rows) == 1:
        out.notes.append(SINGLE_SEED_NOTE)
    if out.reference is None:
        out.notes.append(f"reference dataset {reference!r} is not in this table: no comparisons")
    flagged = [f"{r.dataset} ({r.info['contaminated_rows']} rows)" for r in rows if r.info.get("contaminated_rows")]
    if flagged:
        out.notes.append("contaminated: " + ", ".join(flagged) + " overlap the evaluation prompts (exact or 13-gram "
                         "matches, per evaluation in results.json): their scores may be inflated; `decontaminate: "
                         "true` on the dataset drops those rows before training")
    if base is not None:
        out.notes.append(f"{base}: the base model untuned, through the same template and decoding; Δ vs base is each "
                         "dataset's headline column minus its, paired over units with the datasets' seed variance "
                         "(95% CI and p unadjusted: what fine-tuning on the dataset adds, not a verdict)")
    benchmarks = list(dict.fromkeys(ev.benchmark for r in runs for ev in r.evaluations.values()))
    for benchmark in benchmarks:
        key = f"{base_model}|{benchmark}"
        scored = [(r, ev) for r in runs for ev in r.evaluations.values() if ev.benchmark == benchmark]
        group, arms, _ = _group(benchmark, scored, table, s, key, tick)
        out.groups.append(group)
        if base in arms:
            out.base_deltas += _base_deltas(benchmark, group, arms, base, s, floor_sd=None)
        if out.reference is None or out.reference not in arms:
            continue
        nf = table.noise_floors.get(benchmark) or {}
        floor_sd = nf.get("sd_delta") if nf.get("n") else None
        rng = bs.rng_for(s.seed, "permutations", base_model, benchmark)
        family = []
        for name, arm in arms.items():
            if name in (out.reference, base):
                continue
            for cs in group.columns:
                if cs.column.statistic == "summary":
                    continue
                diff, lo, hi, p, test, floor, se, df, parts = _compare(arm, arms[out.reference], cs.column, arms, s,
                                                                       rng, floor_sd)
                c = Comparison(name, out.reference, benchmark, cs.column.key, diff, lo, hi, p, p, test, "", floor,
                               se, df, margin=margin_for(s, benchmark, cs.column.key))
                if parts:
                    (c.var_units, c.df_units), (c.var_seeds, c.df_seeds) = parts[0], \
                        parts[1] if len(parts) > 1 else (None, None)
                    c.k, c.n = min(len(arm.evs), len(arms[out.reference].evs)), \
                        _n_units(arm, arms[out.reference], cs.column)
                if c.margin is not None and se is not None:
                    c.p_tost = tost_pvalue(diff, se, df, c.margin)
                family.append(c)
        if s.holm_family == "evaluation":
            _adjust(family, s.alpha)
        out.comparisons += family
    if s.holm_family == "table":
        _adjust(out.comparisons, s.alpha)
    return out


def _adjust(family: list[Comparison], alpha: float) -> None:
    """Holm over one family of comparisons: adjusted p-values, verdicts and TOST equivalence."""
    tested = [c for c in family if c.p_value is not None]
    for c, p_adj in zip(tested, holm([float(c.p_value) for c in tested])):
        c.p_adjusted, c.verdict = p_adj, verdict(c.diff, p_adj, alpha)
    equiv = [c for c in family if c.p_tost is not None]
    for c, p_adj in zip(equiv, holm([float(c.p_tost) for c in equiv])):
        c.p_tost = p_adj
        c.equivalence = (f"equivalent within ±{c.margin:g}" if p_adj < alpha else
                         "different" if c.verdict in ("better", "worse") else "not shown equivalent")
    for c in family:
        c.verdict = c.verdict or "not tested"


def compute(table: ResultsTable, settings: Settings | None = None, progress: bool = False) -> Report:
    """Every table of a results table (one per base model), with CIs and comparisons."""
    s = settings or Settings()
    if not 0 < s.alpha < 1:
        raise ValueError(f"alpha must be within (0, 1), got {s.alpha}")
    if s.holm_family not in HOLM_FAMILIES:
        raise ValueError(f"holm_family must be one of {', '.join(HOLM_FAMILIES)}, got {s.holm_family!r}")
    if s.n_bootstrap < 2 or s.n_bootstrap_lc == 1 or s.n_bootstrap_lc < 0:
        raise ValueError(f"n_bootstrap must be >= 2 and n_bootstrap_lc 0 or >= 2; got {s.n_bootstrap}, "
                         f"{s.n_bootstrap_lc}")
    if not table.runs:
        raise ValueError(f"{table.source or table.suite}: the results hold no runs")
    if s.reference is not None and s.reference not in table.datasets():
        raise ValueError(f"reference dataset {s.reference!r} is not in the results; datasets: {table.datasets()}")
    if s.equivalence_margin:  # named as the user likes (alias, bare key): stored by benchmark.key
        s = replace(s, equivalence_margin={f"{b}.{k}": margin for name, margin in s.equivalence_margin.items()
                                           for b, k in resolve_columns([name], table,
                                                                       "leaderboard.equivalence_margin")})
    lc_runs = sum(1 for r in table.runs for ev in r.evaluations.values()
                  if any(c.statistic == "lc_glm" for c in ev.columns) and ev.info.get("anchor") in table.anchors)
    total = s.n_bootstrap_lc * lc_runs
    from tqdm import tqdm
    show = progress and total > 0 and sys.stderr.isatty()
    with tqdm(total=total, desc="LC bootstrap (GLM refits)", disable=not show, leave=False, mininterval=0.5) as bar:
        tables = [_table(base, runs, table, s, bar.update if show else None) for base, runs in table.base_models()]
    if s.holm_family == "leaderboard":  # one family over every table (base model)
        _adjust([c for t in tables for c in t.comparisons], s.alpha)
    return Report(table.suite, s, tables, table.noise_floors)
