"""Every column's paired test, simulated (AlpacaEval's own: test_calibration.py): under the null its false-positive
rate stays at alpha (within Monte-Carlo error); under a planted effect of the size `sftbench power` predicts, it
detects it ~80% of the time. MT-Bench-like 1-10 grades by question and turn, WildBench-like task shares (WB-Score
task macro and WB-Reward), binary OpenLLM items with unequally weighted subjects, and TOST at the margin."""

from __future__ import annotations

import dataclasses
import zlib
from typing import Callable

import numpy as np
import pytest

from sftbench.judges.wildbench import TASK_GROUPS, wb_score_items
from sftbench.leaderboard.power import designs
from sftbench.leaderboard.results import Column, Evaluated, ResultsTable, Run
from sftbench.leaderboard.stats import Settings, compute

pytestmark = pytest.mark.slow
SIMS = 300
ALPHA = 0.05
MC = 2 * np.sqrt(ALPHA * (1 - ALPHA) / SIMS)   # two Monte-Carlo standard errors of a rate of alpha
FAST = Settings(n_bootstrap=60, n_bootstrap_lc=0, n_permutations=400, reference="d0", alpha=ALPHA)
Scores = Callable[[np.random.Generator, float, int], dict[str, list[float | None]]]  # (rng, effect, seed) -> scores


@dataclasses.dataclass
class Kind:
    benchmark: str
    unit: str
    units: list[str]
    columns: list[Column]
    scores: Scores
    seeds: int = 3


def table(kind: Kind, rng: np.random.Generator, effect: float) -> ResultsTable:
    runs = []
    for dataset, shift in (("d0", 0.0), ("d1", effect)):
        for seed in range(kind.seeds):
            scores = kind.scores(rng, shift, seed)
            ev = Evaluated(kind.benchmark, kind.benchmark, {"judge": "sim"}, kind.unit, kind.units, scores,
                           {c.key: None for c in kind.columns}, kind.columns)
            runs.append(Run(dataset, seed, "base", {kind.benchmark: ev}))
    return ResultsTable("sim", runs)


def comparison(kind: Kind, rng: np.random.Generator, effect: float, column: str, settings: Settings = FAST):
    (c,) = [c for c in compute(table(kind, rng, effect), settings).tables[0].comparisons if c.metric == column]
    return c


# -- the kinds ---------------------------------------------------------------------------------------------------

def mt_bench() -> Kind:
    difficulty = np.random.default_rng(7).normal(0, 1.2, 160)

    def scores(rng, shift, seed):
        checkpoint = rng.normal(0, 0.25)  # a training seed's own quality
        grades = np.clip(np.round(6 + difficulty + shift + checkpoint + rng.normal(0, 1.0, 160)), 1, 10)
        return {"score": grades.tolist()}
    return Kind("mt_bench", "question_turn", [f"{q}:{t}" for q in range(80) for t in (1, 2)],
                [Column("score", "MT-Bench", "mean", score="score", lower=1, upper=10, decimals=2)], scores)


def wildbench() -> Kind:
    """Grades 1-10 turned into task-macro shares by the judge layer's own `wb_score_items`, with ~3% unparsed;
    pairwise rewards in {-100, -50, 0, 50, 100}."""
    n = 200
    setup = np.random.default_rng(8)
    tags = list(TASK_GROUPS)
    categories = {f"t{i}": sorted({TASK_GROUPS[t] for t in setup.choice(tags, 2)}) for i in range(n)}
    difficulty = setup.normal(0, 1.5, n)

    def scores(rng, shift, seed):
        checkpoint = rng.normal(0, 0.2)
        grades = np.clip(np.round(6 + difficulty + shift + checkpoint + rng.normal(0, 1.2, n)), 1, 10)
        records = [{"session_id": f"t{i}", "score": None if rng.random() < 0.03 else float(g), "failed": False,
                    "model_output": "an answer"} for i, g in enumerate(grades)]
        latent = difficulty + shift * 2 + checkpoint + rng.normal(0, 1.0, n)
        reward = np.select([latent > 1.5, latent > 0.5, latent > -0.5, latent > -1.5], [100, 50, 0, -50], -100)
        shares = wb_score_items(records, categories)
        return {"WB_score": [shares[f"t{i}"] for i in range(n)], "WB_reward": reward.astype(float).tolist()}
    return Kind("wildbench", "task", [f"t{i}" for i in range(n)],
                [Column("WB_score", "WB-Score", "mean", score="WB_score", lower=-100, upper=100),
                 Column("WB_reward", "WB-Reward", "mean", score="WB_reward", lower=-100, upper=100)], scores)


def openllm(seeds: int) -> Kind:
    """Binary items of two subjects of 60 and 240 items weighing equally (MMLU-style): each item's score is
    scaled by weight x items, as the OpenLLM plugin does, so the plain mean is the subject-balanced accuracy."""
    n_a, n_b = 60, 240
    weights = np.array([0.5 / n_a] * n_a + [0.5 / n_b] * n_b) * (n_a + n_b)
    easiness = np.random.default_rng(9).normal(0, 1.5, n_a + n_b)

    def scores(rng, shift, seed):
        p = 1 / (1 + np.exp(-(easiness + shift + rng.normal(0, 0.05))))
        correct = (rng.random(n_a + n_b) < p).astype(float)
        return {"acc": (correct * weights).tolist()}
    return Kind("openllm", "item", [f"i{i}" for i in range(n_a + n_b)],
                [Column("acc", "accuracy %", "mean", score="acc", scale=100.0, lower=0, upper=100)], scores, seeds)


KINDS = {"mt_bench": (mt_bench, "score"), "wb_score": (wildbench, "WB_score"), "wb_reward": (wildbench, "WB_reward"),
         "openllm_1_seed": (lambda: openllm(1), "acc"), "openllm_3_seeds": (lambda: openllm(3), "acc")}


@pytest.mark.parametrize("name", list(KINDS))
def test_false_positive_rate_under_the_null_is_at_most_alpha(name):
    make, column = KINDS[name]
    kind, rng = make(), np.random.default_rng(zlib.crc32(name.encode()))
    rejections = [comparison(kind, rng, 0.0, column).verdict != "no detectable difference" for _ in range(SIMS)]
    assert np.mean(rejections) <= ALPHA + MC, (name, np.mean(rejections))


def predicted_mde(kind: Kind, column: str, rng: np.random.Generator, pilots: int = 200) -> tuple[float, object]:
    """The MDE of the design whose variance parts are averaged over many null pilots (one pilot's are estimates)."""
    found = [d for _ in range(pilots) for d in designs(compute(table(kind, rng, 0.0), FAST)) if d.column == column]
    seeds = [d.var_seeds for d in found if d.var_seeds is not None]
    design = dataclasses.replace(found[0], var_units=float(np.mean([d.var_units for d in found])),
                                 var_seeds=float(np.mean(seeds)) if seeds else None)
    return design.mde(), design


@pytest.mark.parametrize("name,to_shift", [("mt_bench", 1.0), ("openllm_1_seed", None)])
def test_power_at_the_predicted_mde_is_80_percent_within_5_points(name, to_shift):
    """The planted effect is in the column's own units: MT-Bench grade points directly; OpenLLM's accuracy points
    found by bisection on the logit shift that moves the expected subject-balanced accuracy by the MDE."""
    make, column = KINDS[name]
    kind, rng = make(), np.random.default_rng(11)
    mde, _ = predicted_mde(kind, column, rng)
    if to_shift is not None:
        shift = mde * to_shift
    else:
        easiness = np.random.default_rng(9).normal(0, 1.5, 300)
        w = np.array([0.5 / 60] * 60 + [0.5 / 240] * 240)
        acc = lambda s: float(np.sum(w / (1 + np.exp(-(easiness + s)))) * 100)  # noqa: E731
        lo, hi = 0.0, 3.0
        for _ in range(50):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if acc(mid) - acc(0.0) < mde else (lo, mid)
        shift = lo
    hits = [comparison(kind, rng, shift, column).verdict == "better" for _ in range(SIMS)]
    assert abs(np.mean(hits) - 0.80) <= 0.05 + MC / 2, (name, mde, np.mean(hits))


def test_tost_at_the_margin_declares_equivalence_at_most_alpha_of_the_time():
    """True difference exactly at the margin: "equivalent" is a false claim, made at most alpha of the time; well
    inside the margin, it is made nearly always."""
    kind, rng = mt_bench(), np.random.default_rng(12)
    margin = 0.4
    settings = dataclasses.replace(FAST, equivalence_margin={"score": margin})
    at_margin = [comparison(kind, rng, margin, "score", settings).equivalence for _ in range(SIMS)]
    assert np.mean([e is not None and e.startswith("equivalent") for e in at_margin]) <= ALPHA + MC
    inside = [comparison(kind, rng, 0.0, "score", dataclasses.replace(settings, equivalence_margin={"score": 2.0}))
              .equivalence for _ in range(60)]
    assert np.mean([e.startswith("equivalent") for e in inside]) >= 0.9


def test_delta_vs_the_untuned_base_covers_at_its_level():
    """Δ vs base: the base model has no training seed, so only the dataset's seeds add seed variance. Its 95% CI
    covers the true difference ~95% of the time (counting the base's seed variance too made it ~2x too wide)."""
    kind = mt_bench()
    kind.seeds = 4
    rng = np.random.default_rng(2026)
    covered, widths = [], []
    for _ in range(SIMS):
        runs = []
        for dataset, seeds, untuned in (("d0", 4, False), ("d1", 4, False), ("base", 1, True)):
            for seed in range(seeds):
                scores = kind.scores(rng, 0.0, seed) if not untuned else {"score": np.clip(np.round(
                    6 + np.random.default_rng(7).normal(0, 1.2, 160) + rng.normal(0, 1.0, 160)), 1, 10).tolist()}
                ev = Evaluated(kind.benchmark, kind.benchmark, {"judge": "sim"}, kind.unit, kind.units, scores,
                               {c.key: None for c in kind.columns}, kind.columns)
                runs.append(Run(dataset, seed, "base", {kind.benchmark: ev}, provenance={"untuned": untuned}))
        (t,) = compute(ResultsTable("sim", runs), FAST).tables
        (c,) = [c for c in t.base_deltas if c.dataset == "d1"]
        covered.append(c.ci_low <= 0.0 <= c.ci_high)  # true Δ: 0 (the base's mean equals the datasets')
        widths.append(c.ci_high - c.ci_low)
    rate = float(np.mean(covered))
    assert 0.92 <= rate <= 0.985, (rate, np.mean(widths))  # ±2.5 Monte-Carlo SEs; the old intervals: 0.993
