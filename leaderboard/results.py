"""The results table of a suite: per checkpoint (dataset x base model x seed), what every evaluation measured, with
its per-example scores, the unit they pair on, its leaderboard columns and the fingerprint of whoever scored it.

This is the contract between the runner's evaluation plugins and the leaderboard: the runner writes it as
`runs/<suite>/results.json` (schema `sftbench.results`), and `leaderboard.json` embeds it, so statistics and
every format are computed from this file alone, with no knowledge of steps, models or judges.

Inputs accepted by `load_results`: a suite run directory (with results.json), `runs/` holding exactly one suite,
results.json itself, or a leaderboard.json written by sftbench (schema `sftbench.leaderboard`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
import pandas as pd

SCHEMA = "sftbench.leaderboard"
RESULTS_SCHEMA, RESULTS_VERSION = "sftbench.results", 2
Statistic = Literal["mean", "lc_glm", "summary"]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint_sha(obj: Any) -> str:
    return sha256_text(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str))[:12]


@dataclass(frozen=True)
class Column:
    """One leaderboard column an evaluation fills.

    statistic: `mean`: the mean over units of the per-example score `score`, times `scale` (bootstrap CIs over
    seeds and units, paired tests on the shared units); `lc_glm`: AlpacaEval's length-controlled win rate, the run's
    `headline[key]`, with resamples that refit the GLM on `preference` and `delta_len`; `summary`: the runs'
    `headline[key]` only (mean over seeds, SE over seeds or the run's own `headline[key + "_se"]`; no test).
    """
    key: str
    label: str
    statistic: Statistic = "mean"
    score: str | None = None
    scale: float = 1.0
    lower: float | None = None
    upper: float | None = None
    decimals: int = 1
    noise_floor: bool = False   # the evaluation's judge-noise floor bounds differences in this column
    primary: bool = False       # its evaluation's headline column (plots, default sort)
    flag: str | None = None     # a headline count shown beside the value when non-zero, e.g. n_unparsed

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Column":
        return cls(**d)


@dataclass
class Evaluated:
    """What one evaluation measured on one checkpoint."""
    benchmark: str                       # the table's column group and pairing family, e.g. alpaca_eval_2
    title: str                           # shown above its columns, e.g. "AlpacaEval 2.0"
    fingerprint: dict[str, Any]          # who scored it: judge, annotator, lm-eval version and task config ...
    unit: str                            # what paired comparisons pair on: prompt, question_turn, task, item
    units: list[str]                     # unit ids, aligned with every score array
    scores: dict[str, list[float | None]]
    headline: dict[str, float | None]    # the run's own numbers (summary columns, LC point estimates, counts)
    columns: list[Column]
    info: dict[str, Any] = field(default_factory=dict)   # baseline, avg_output_chars, anchor, glm, n_failed ...
    steps: dict[str, str] = field(default_factory=dict)  # step directories it came from

    @property
    def fingerprint_sha(self) -> str:
        return fingerprint_sha(self.fingerprint)

    def array(self, score: str) -> np.ndarray:
        return np.array([np.nan if v is None else float(v) for v in self.scores[score]], float)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Evaluated":
        return cls(**{**d, "columns": [Column.from_json(c) for c in d["columns"]]})


@dataclass
class Run:
    """One checkpoint: a dataset fine-tuned on a base model with one seed, and its evaluations."""
    dataset: str
    seed: int
    base_model: str
    evaluations: dict[str, Evaluated]
    info: dict[str, Any] = field(default_factory=dict)        # builder, size, train_resp_words
    provenance: dict[str, Any] = field(default_factory=dict)  # card, recipe, template, base model, steps, git

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "seed": self.seed, "base_model": self.base_model, "info": self.info,
                "provenance": self.provenance,
                "evaluations": {k: e.to_json() for k, e in self.evaluations.items()}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Run":
        return cls(d["dataset"], int(d["seed"]), d["base_model"],
                   {k: Evaluated.from_json(e) for k, e in d["evaluations"].items()}, d.get("info", {}),
                   d.get("provenance", {}))


@dataclass
class ResultsTable:
    suite: str
    runs: list[Run]
    anchors: dict[str, pd.DataFrame] = field(default_factory=dict)   # length-control tables (df_gamed) by sha
    noise_floors: dict[str, dict[str, Any]] = field(default_factory=dict)  # benchmark -> re-judging summary
    source: str = ""

    def datasets(self) -> list[str]:
        return list(dict.fromkeys(r.dataset for r in self.runs))

    def base_models(self) -> Iterator[tuple[str, list[Run]]]:
        """Runs per base model: one leaderboard table each."""
        for base in dict.fromkeys(r.base_model for r in self.runs):
            yield base, [r for r in self.runs if r.base_model == base]

    def to_frame(self) -> pd.DataFrame:
        """The long results table: one row per dataset x base model x seed x benchmark x headline number."""
        rows = [{"dataset": r.dataset, "base_model": r.base_model, "seed": r.seed, "benchmark": e.benchmark,
                 "metric": m, "value": v, "card_sha256": r.provenance.get("card_sha256"),
                 "fingerprint": e.fingerprint_sha}
                for r in self.runs for e in r.evaluations.values() for m, v in e.headline.items()]
        return pd.DataFrame(rows)

    def to_json(self) -> dict[str, Any]:
        return {"schema": RESULTS_SCHEMA, "version": RESULTS_VERSION, "suite": self.suite,
                "runs": [r.to_json() for r in self.runs], "noise_floors": self.noise_floors,
                "anchors": {k: v.to_dict(orient="list") for k, v in self.anchors.items()}}

    @classmethod
    def from_json(cls, d: dict[str, Any], source: str = "") -> "ResultsTable":
        if not isinstance(d, dict) or d.get("schema") != RESULTS_SCHEMA or d.get("version") != RESULTS_VERSION:
            raise ValueError(f"{source or 'results'}: not sftbench results version {RESULTS_VERSION} (written by an "
                             "older sftbench?); run `sftbench run` on the suite again: every finished step is "
                             "cached, so only results.json is rewritten")
        return cls(d["suite"], [Run.from_json(r) for r in d["runs"]],
                   {k: pd.DataFrame(v) for k, v in (d.get("anchors") or {}).items()}, d.get("noise_floors") or {},
                   source)


def load_results(path: str | Path) -> ResultsTable:
    """A results table from a suite run directory, `runs/` with one suite, results.json, or leaderboard.json."""
    path = Path(path)
    if path.is_dir():
        if (path / "results.json").is_file():
            return load_results(path / "results.json")
        suites = sorted(p.parent for p in path.glob("*/results.json"))
        if len(suites) == 1:
            return load_results(suites[0] / "results.json")
        if (path / "leaderboard.json").is_file():
            return load_results(path / "leaderboard.json")
        hint = f"it holds several suites: {[p.name for p in suites]}; name one" if suites else \
            "no results.json found (finish `sftbench run` first)"
        raise FileNotFoundError(f"{path}: not a suite run directory; {hint}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such results directory or file")
    from sftbench.common.jsonio import read_json
    doc = read_json(path)
    if isinstance(doc, dict) and doc.get("schema") == SCHEMA and "results" in doc:
        return ResultsTable.from_json(doc["results"], source=str(path))
    source = str(path.parent) if path.name == "results.json" else str(path)
    if isinstance(doc, dict) and doc.get("schema") == RESULTS_SCHEMA:
        return ResultsTable.from_json(doc, source=source)
    if isinstance(doc, list):
        return ResultsTable.from_json({}, source=str(path))  # the list-shaped results.json of sftbench < 0.2
    raise ValueError(f"{path}: neither sftbench results ({RESULTS_SCHEMA!r}) nor an sftbench leaderboard.json "
                     f"(schema {SCHEMA!r} with embedded results)")
