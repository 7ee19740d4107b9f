"""What an evaluation plugin declares. One plugin, one folder (or one module), one `register(...)` call.

A plugin names its typed suite section (`evaluation.<name>`), plans its steps (suite-wide ones, then per
checkpoint, then after every checkpoint), turns a finished result step into an `Evaluated` (per-example scores,
headline numbers, the pairing unit, its leaderboard columns, the fingerprint of whoever scored it), and counts the
LLM calls its pending steps will make. The planner, executor, cost estimate, results, statistics and renderers
only loop over registered plugins; none of them names one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
from pydantic import BaseModel

from sftbench.leaderboard.results import Column, Evaluated
from sftbench.suites.engine.store import StepKey, Store

if TYPE_CHECKING:
    from sftbench.suites.engine.plan import PlanBuilder
    from sftbench.suites.engine.step import Step

Problem = tuple[tuple, str]  # (location in the suite file, message)


@dataclass(frozen=True)
class Checkpoint:
    """One fine-tuned checkpoint the plugin evaluates."""
    dataset: str
    seed: int
    run_name: str   # "<dataset>-s<seed>": the name part of its steps' directories
    train: StepKey


@dataclass
class TrainSelection:
    """What a plugin adds to train steps that select their epoch by its metric (recipe.select)."""
    config: dict[str, Any]                  # added to the train step's config (hashed)
    inputs: dict[str, Any]                  # added to its input hashes
    deps: dict[str, StepKey] = field(default_factory=dict)  # steps its metric reads (besides base and data)
    factory: str = ""                       # "module:function" building the metric inside the step
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class PromptSource:
    """Where an evaluation's prompts are, for the contamination check: the steps holding them (by input name),
    what identifies them (hashed into the check's key), and run arguments for `eval_prompts`."""
    deps: dict[str, StepKey] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)


class Evaluation:
    """Base class: set the class attributes, override what the evaluation does, then `register(Plugin())`."""

    name: ClassVar[str]                      # its key under the suite's `evaluation:` section
    spec: ClassVar[type[BaseModel]]          # the typed section
    order: ClassVar[int] = 100               # where its steps go in the plan (lower first)
    unit: ClassVar[str] = "example"          # what its paired comparisons pair on
    kinds: ClassVar[tuple[str, ...]] = ()    # the step kinds it plans

    def default(self) -> BaseModel | None:
        """The section when the suite leaves it out (None: off)."""
        return self.spec()

    def enabled(self, spec: Any) -> bool:
        return spec is not None and bool(getattr(spec, "enabled", True))

    def check(self, suite: Any, spec: Any) -> list[Problem]:
        """Rules across sections (e.g. an LLM judge is required); run by `sftbench validate`."""
        return []

    def prepare(self, b: PlanBuilder, spec: Any) -> Any:
        """Suite-wide steps planned before any checkpoint (eval data); returns what later calls need."""
        return None

    def add_checkpoint(self, b: PlanBuilder, spec: Any, shared: Any, ckpt: Checkpoint) -> StepKey | None:
        """The steps evaluating one checkpoint; returns the step `result` reads."""
        return None

    def finish(self, b: PlanBuilder, spec: Any, shared: Any, results: dict[tuple[str, int], StepKey]) \
            -> StepKey | None:
        """Steps after every checkpoint was evaluated (e.g. the judge-noise floor); returns the step
        `suite_result` reads."""
        return None

    def train_selection(self, b: PlanBuilder, spec: Any, recipe: Any, dataset: StepKey) -> TrainSelection | None:
        """For `recipe.select` values this plugin serves: what the train step needs to pick an epoch."""
        return None

    def prompt_source(self, b: PlanBuilder, spec: Any, shared: Any) -> PromptSource | None:
        """Where its evaluation prompts are (None: nothing a training set could contain)."""
        return None

    def eval_prompts(self, spec: Any, inputs: dict[str, Path], args: dict[str, Any]) -> list[str]:
        """Its evaluation prompts (every user turn), inside the contamination step: `inputs` are the directories
        of `prompt_source`'s steps."""
        return []

    def result(self, store: Store, step: Step, spec: Any) -> Evaluated:
        """The leaderboard's view of one finished result step."""
        raise NotImplementedError

    def anchors(self, store: Store, step: Step) -> dict[str, pd.DataFrame]:
        """Tables the result's statistics need beside it, by the sha its `info["anchor"]` names (df_gamed)."""
        return {}

    def export(self, store: Store, step: Step, spec: Any, dest: Path) -> list[Path]:
        """Write one checkpoint's outputs in the format the benchmark's own tools read, under `dest`."""
        return []

    def suite_result(self, store: Store, step: Step) -> tuple[str, dict[str, Any]] | None:
        """(benchmark, summary) of the step `finish` planned, e.g. its judge-noise floor."""
        return None

    def expected_calls(self, suite: Any, spec: Any, step: Step) -> dict[str, int]:
        """LLM calls per role that one pending step (of any kind) makes for this evaluation."""
        return {}

    def preflight(self, suite: Any, spec: Any, pending: set[str]) -> None:
        """Refuse early what this machine lacks for the pending step kinds (a package, a backend)."""


__all__ = ["Checkpoint", "Column", "Evaluated", "Evaluation", "Problem", "PromptSource", "TrainSelection"]
