"""`random`: k rows drawn uniformly without replacement (seeded), kept in pool order."""

from __future__ import annotations

import random
from typing import Sequence

from pydantic import Field

from sftbench.datasets_builders.builders.base import BuildContext, BuilderParams, BuildResult
from sftbench.common.rows import Row


SIZE_FIELD = "k"  # what `sftbench build --k` sets


class Params(BuilderParams):
    k: int = Field(1000, gt=0, description="number of rows to draw")


def build(pool: Sequence[Row], params: Params, ctx: BuildContext) -> BuildResult:
    k = min(params.k, len(pool))
    chosen = sorted(random.Random(ctx.seed).sample(range(len(pool)), k))
    return BuildResult([pool[i] for i in chosen], {"requested_k": params.k})
