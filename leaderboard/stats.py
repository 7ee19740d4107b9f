"""Results table -> leaderboard statistics: CIs per dataset, paired comparisons against the reference dataset.

Per dataset and metric: the mean over seeds with a bootstrap CI that resamples seeds, then prompts (percentile
interval for the win rate). Prompt draws are shared by all datasets of a table, so differences of replicates are
paired. The LC win rate's resamples refit alpaca_eval's GLM (`lc_refit`); a resample's duplicated prompts can land
in both of the GLM's CV folds, which shifts refits a little, so its interval is the estimate +- z * bootstrap SE
(clipped to [0, 100]) rather than percentiles.

Per comparison (dataset - reference): the paired bootstrap variance of the difference (prompts resampled, every
seed kept) plus, when several seeds exist anywhere in the table, the training-seed variance pooled over datasets
(the run-level noise of the win rate counted once), with Satterthwaite degrees of freedom. The CI is the
difference +- t * sqrt(variance) and the p-value the matching t test, so CI and unadjusted test agree; for the
win rate the p-value is also at least the sign-flip permutation test's over prompts. Holm's adjustment runs over
every comparison of a table (datasets x metrics); verdicts at `alpha`. With one seed per dataset the seed
variance is unknown and verdicts compare checkpoints, not datasets (the table says so).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from typing import Any, Callable

import numpy as np
from scipy import stats

from sftbench.leaderboard import bootstrap as bs
from sftbench.leaderboard.paired import holm, satterthwaite_df, sign_flip_pvalue, t_pvalue, verdict
from sftbench.leaderboard.results import METRICS, ResultsTable, Run, mean_mt_bench, mean_openllm, mean_wildbench

SINGLE_SEED_NOTE = ("one seed per dataset: the training-seed variance is unknown, so verdicts compare these "
                    "checkpoints, not the datasets; run several seeds for dataset-level verdicts")


@dataclass
class Settings:
    alpha: float = 0.05
    n_bootstrap: int = 200        # win-rate resamples (vectorised)
    n_bootstrap_lc: int = 50      # LC resamples: each refits the GLM once per seed (slow); 0 = no LC CIs/tests
    n_permutations: int = 10000
    seed: int = 0
    reference: str | None = None  # default: the first dataset
    sort_by: str = "lc_win_rate"  # row order of the tables: lc_win_rate, win_rate or name

    @classmethod
    def from_spec(cls, spec: Any = None, **overrides: Any) -> "Settings":
        """From a LeaderboardSpec (fields it lacks keep their defaults); non-None overrides win."""
        values = {f.name: getattr(spec, f.name) for f in fields(cls) if spec is not None and hasattr(spec, f.name)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class Estimate:
    estimate: float
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    per_seed: list[float] = field(default_factory=list)


@dataclass
class RowStats:
    dataset: str
    seeds: list[int]
    info: dict[str, Any]
    avg_output_chars: float
    metrics: dict[str, Estimate]
    provenance: dict[str, Any]


@dataclass
class Comparison:
    dataset: str
    reference: str
    metric: str
    diff: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None          # None: not tested
    p_adjusted: float | None
    test: str
    verdict: str
    noise_floor: float | None = None   # 95% band of a difference produced by re-judging alone (win-rate points)


@dataclass
class TableStats:
    base_model: str
    benchmark: str
    n_prompts: int
    baseline: str
    judge: dict[str, Any]
    reference: str | None
    rows: list[RowStats]
    comparisons: list[Comparison]
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    suite: str
    settings: Settings
    tables: list[TableStats]
    noise_floor: dict[str, Any] | None


@dataclass
class _Arm:
    runs: list[Run]
    scores: np.ndarray                                          # (k, n) per-prompt preference in [0, 1]
    per_run: dict[str, np.ndarray] = field(default_factory=dict)
    reps: dict[str, np.ndarray] = field(default_factory=dict)   # hierarchical (seeds, then prompts)
    fixed: dict[str, np.ndarray] = field(default_factory=dict)  # prompts only, every seed kept


def _pooled(arms: dict[str, _Arm], values: Callable[[_Arm], np.ndarray]) -> tuple[float, int]:
    """Pooled within-dataset variance across datasets with several seeds, and its degrees of freedom."""
    ss, df = 0.0, 0
    for arm in arms.values():
        v = values(arm)
        if len(v) > 1:
            ss += float(np.sum((v - v.mean(axis=0)) ** 2)) if v.ndim == 1 else float(v.var(axis=0, ddof=1).mean()
                                                                                     * (len(v) - 1))
            df += len(v) - 1
    return (ss / df if df else 0.0), df


def _arms(runs: list[Run], table: ResultsTable, s: Settings, key: str, tick: Callable[[int], None] | None) \
        -> tuple[dict[str, _Arm], bool]:
    from sftbench.leaderboard.lc_refit import LCModel
    if len({r.eval_sha256 for r in runs}) > 1:
        raise ValueError(f"table {key}: the runs were judged on different eval prompts; comparisons need one set")
    judges: dict[str, list[str]] = {}
    for r in runs:
        judges.setdefault(str(r.provenance.get("judge_sha")), []).append(f"{r.dataset}/s{r.seed}")
    if len(judges) > 1:
        raise ValueError(f"table {key}: the runs were judged by different judges (fingerprints {judges}); results "
                         "from different judges never share a table")
    n = len(runs[0].preference)
    idx = bs.prompt_draws(bs.rng_for(s.seed, "prompts", key), n, s.n_bootstrap)
    lc_ok = s.n_bootstrap_lc > 0 and all(r.anchor in table.anchors for r in runs)
    idx_lc = bs.prompt_draws(bs.rng_for(s.seed, "prompts-lc", key), n, s.n_bootstrap_lc) if lc_ok else None
    arms: dict[str, _Arm] = {}
    for name in dict.fromkeys(r.dataset for r in runs):
        mine = sorted((r for r in runs if r.dataset == name), key=lambda r: r.seed)
        arm = _Arm(mine, np.vstack([r.preference for r in mine]))
        rng = bs.rng_for(s.seed, "seeds", key, name)
        arm.per_run = {"win_rate": arm.scores.mean(axis=1) * 100,
                       "lc_win_rate": np.array([r.metrics["lc_win_rate"] for r in mine])}
        arm.reps["win_rate"] = bs.mean_replicates(arm.scores, idx, bs.seed_weights(rng, len(mine), s.n_bootstrap)) * 100
        arm.fixed["win_rate"] = bs.mean_replicates(arm.scores, idx, np.full((len(idx), len(mine)), 1 / len(mine))) * 100
        if idx_lc is not None:
            fits = [LCModel.from_arrays(r.preference, r.delta_len, table.anchors[r.anchor], r.glm).winrate
                    for r in mine]
            per_seed = bs.refit_replicates(fits, idx_lc, tick)
            arm.reps["lc_win_rate"] = (per_seed * bs.seed_weights(rng, len(mine), s.n_bootstrap_lc)).sum(axis=1)
            arm.fixed["lc_win_rate"] = per_seed.mean(axis=1)
        arms[name] = arm
    return arms, idx_lc is not None


def _estimate(arm: _Arm, metric: str, alpha: float) -> Estimate:
    per_seed = arm.per_run[metric]
    est = Estimate(float(per_seed.mean()), per_seed=[float(v) for v in per_seed])
    reps = arm.reps.get(metric)
    if reps is not None and len(reps) > 1:
        est.se = float(reps.std(ddof=1))
        if metric == "win_rate":  # a mean: percentile interval, within [0, 100] by construction
            est.ci_low, est.ci_high = (float(q) for q in np.quantile(reps, [alpha / 2, 1 - alpha / 2]))
        else:  # GLM refits: centred normal interval, clipped to the metric's range
            half = float(stats.norm.ppf(1 - alpha / 2)) * est.se
            est.ci_low, est.ci_high = max(0.0, est.estimate - half), min(100.0, est.estimate + half)
    return est


def _compare(a: _Arm, r: _Arm, metric: str, arms: dict[str, _Arm], s: Settings, rng: np.random.Generator,
             floor_sd: float | None) -> tuple[float, float | None, float | None, float | None, str, float | None]:
    """(difference, CI low, CI high, p-value, test name, judge-noise floor) of arm a minus arm r."""
    diff = float(a.per_run[metric].mean() - r.per_run[metric].mean())
    if metric not in a.fixed or metric not in r.fixed:
        return diff, None, None, None, "not tested (no resamples)", None
    n, inv_k = a.scores.shape[1], 1 / len(a.runs) + 1 / len(r.runs)
    v_prompts = float(np.var(a.fixed[metric] - r.fixed[metric], ddof=1))
    df_prompts = n - 1 if metric == "win_rate" else len(a.fixed[metric]) - 1
    seed_var, seed_df = _pooled(arms, lambda arm: arm.per_run[metric])
    parts, test = [(v_prompts, df_prompts)], "paired bootstrap t"
    if seed_df:
        if metric == "win_rate":  # the judge/sampling noise of a run is in both parts: count it once
            noise, _ = _pooled(arms, lambda arm: arm.scores * 100)
            parts = [(max(0.0, v_prompts - noise * inv_k / n), df_prompts)]
        parts.append((seed_var * inv_k, seed_df))
        test += " + seed variance"
    variance, df = sum(v for v, _ in parts), satterthwaite_df(parts)
    p = t_pvalue(diff, variance, df)
    half = float(stats.t.ppf(1 - s.alpha / 2, df) if np.isfinite(df) else stats.norm.ppf(1 - s.alpha / 2))
    half *= float(np.sqrt(variance))
    floor = None
    if metric == "win_rate":
        d = (a.scores.mean(axis=0) - r.scores.mean(axis=0)) * 100
        p, test = max(p, sign_flip_pvalue(d, s.n_permutations, rng)), "sign-flip permutation + " + test
        if floor_sd is not None:
            floor = 1.96 * float(np.sqrt(floor_sd ** 2 / 2 * inv_k / n)) * 100
    else:
        test += " (GLM refit)"
    return diff, diff - half, diff + half, p, test, floor


def _row_info(runs: list[Run]) -> dict[str, Any]:
    """The first run's dataset info, with lm-eval scores averaged over the seeds when there are any."""
    info = dict(runs[0].info)
    if any(r.info.get("openllm") for r in runs):
        info["openllm"] = mean_openllm([r.info.get("openllm") for r in runs])
    if any(r.info.get("mt_bench") for r in runs):
        info["mt_bench"] = mean_mt_bench([r.info.get("mt_bench") for r in runs])
    if any(r.info.get("wildbench") for r in runs):
        info["wildbench"] = mean_wildbench([r.info.get("wildbench") for r in runs])
    return info


def _table(key: tuple[str, str], runs: list[Run], table: ResultsTable, s: Settings,
           tick: Callable[[int], None] | None) -> TableStats:
    base_model, benchmark = key
    arms, lc_ok = _arms(runs, table, s, f"{base_model}|{benchmark}", tick)
    first = runs[0]
    rows = [RowStats(name, [r.seed for r in arm.runs], _row_info(arm.runs),
                     float(np.mean([r.metrics["avg_output_chars"] for r in arm.runs])),
                     {m: _estimate(arm, m, s.alpha) for m in METRICS},
                     {**arm.runs[0].provenance, "steps": [r.provenance.get("steps", {}) for r in arm.runs]})
            for name, arm in arms.items()]
    reference = s.reference or next(iter(arms))
    out = TableStats(base_model, benchmark, len(first.preference), str(first.provenance.get("baseline")),
                     first.provenance.get("judge", {}), reference if reference in arms else None, rows, [])
    if not lc_ok:
        out.notes.append("LC win rate: no bootstrap CIs or tests (n_bootstrap_lc = 0 or no length-control table)")
    if _pooled(arms, lambda arm: arm.per_run["win_rate"])[1] == 0:
        out.notes.append(SINGLE_SEED_NOTE)
    if out.reference is None:
        out.notes.append(f"reference dataset {reference!r} is not in this table: no comparisons")
        return out
    floor_sd = (table.noise_floor or {}).get("sd_delta") if (table.noise_floor or {}).get("n") else None
    rng = bs.rng_for(s.seed, "permutations", *key)
    for name, arm in arms.items():
        if name == reference:
            continue
        for metric in METRICS:
            diff, lo, hi, p, test, floor = _compare(arm, arms[reference], metric, arms, s, rng, floor_sd)
            out.comparisons.append(Comparison(name, reference, metric, diff, lo, hi, p, p, test, "", floor))
    tested = [c for c in out.comparisons if c.p_value is not None]
    for c, p_adj in zip(tested, holm([float(c.p_value) for c in tested])):
        c.p_adjusted, c.verdict = p_adj, verdict(c.diff, p_adj, s.alpha)
    for c in out.comparisons:
        c.verdict = c.verdict or "not tested"
    return out


def compute(table: ResultsTable, settings: Settings | None = None, progress: bool = False) -> Report:
    """Every table of a results table (one per base model x benchmark), with CIs and comparisons."""
    s = settings or Settings()
    if s.sort_by not in ("lc_win_rate", "win_rate", "name"):
        raise ValueError(f"sort_by must be lc_win_rate, win_rate or name, got {s.sort_by!r}")
    if not 0 < s.alpha < 1:
        raise ValueError(f"alpha must be within (0, 1), got {s.alpha}")
    if s.n_bootstrap < 2 or s.n_bootstrap_lc == 1 or s.n_bootstrap_lc < 0:
        raise ValueError(f"n_bootstrap must be >= 2 and n_bootstrap_lc 0 or >= 2; got {s.n_bootstrap}, "
                         f"{s.n_bootstrap_lc}")
    if s.reference is not None and s.reference not in table.datasets():
        raise ValueError(f"reference dataset {s.reference!r} is not in the results; datasets: {table.datasets()}")
    groups = list(table.groups())
    total = s.n_bootstrap_lc * len(table.runs) if any(r.anchor for r in table.runs) else 0
    from tqdm import tqdm
    show = progress and total > 0 and sys.stderr.isatty()
    with tqdm(total=total, desc="LC bootstrap (GLM refits)", disable=not show, leave=False, mininterval=0.5) as bar:
        tables = [_table(key, runs, table, s, bar.update if show else None) for key, runs in groups]
    return Report(table.suite, s, tables, table.noise_floor)
