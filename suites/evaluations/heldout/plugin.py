"""Held-out epoch selection as an evaluation plugin: it adds no checkpoint steps and no columns; it serves
`recipe.select: best_heldout`, whose train steps score every epoch's checkpoint on held-out prompts (metric.py)."""

from __future__ import annotations

import math
from typing import Any

from sftbench.suites.engine.step import Step
from sftbench.suites.engine.store import StepKey
from sftbench.suites.evaluations.heldout import metric
from sftbench.suites.evaluations.heldout.spec import HeldoutSpec
from sftbench.suites.evaluations.protocol import Evaluation, Problem, TrainSelection

SELECT = "best_heldout"


class Heldout(Evaluation):
    name = "heldout"
    spec = HeldoutSpec
    order = 90

    def enabled(self, spec: Any) -> bool:
        return False  # nothing per checkpoint: train steps ask for it through recipe.select

    def check(self, suite: Any, spec: HeldoutSpec) -> list[Problem]:
        """heldout.source 'sidecar' needs every dataset's builder to write a `heldout` sidecar."""
        if suite.recipe.select != SELECT or spec.source != "sidecar":
            return []
        from pydantic import ValidationError

        from sftbench.datasets_builders.registry import sidecars
        for i, ds in enumerate(suite.datasets):
            try:
                if "heldout" in sidecars(ds.builder, ds.params):
                    continue
            except ValidationError:
                continue  # bad params: reported with the dataset
            fix = "set its params.heldout (e.g. 100)" if ds.builder == "skillmix" else "its builder writes no held-out set"
            return [(("datasets", i), f"recipe.select best_heldout with evaluation.heldout.source 'sidecar' needs a "
                     f"held-out sidecar from every dataset, but dataset '{ds.name}' ({ds.builder}) has none: {fix}; "
                     "or use evaluation.heldout.source 'world' or 'file'")]
        return []

    def train_selection(self, b: Any, spec: HeldoutSpec, recipe: Any, dataset: StepKey) -> TrainSelection | None:
        if recipe.select != SELECT:
            return None
        cfg = metric.config(b.suite, spec)
        return TrainSelection(
            config={"heldout": cfg, "judge": b.role_ids["judge"]}, inputs=metric.inputs(spec, b.world.hash),
            deps={"world": b.world}, factory=f"{metric.__name__}:metric_from_step",
            params={"heldout": spec.model_dump(mode="json"), "world": b.suite.world.model_dump(mode="json"),
                    "config": cfg, "roles": b.roles_args})

    def expected_calls(self, suite: Any, spec: HeldoutSpec, step: Step) -> dict[str, int]:
        if step.key.kind == "train" and suite.recipe.select == SELECT:
            return {"judge": spec.n * math.ceil(suite.recipe.epochs)}  # one held-out judging per epoch
        return {}
