"""`full`: the whole pool, optionally capped at `max_rows` (a seeded sample, kept in pool order)."""

from __future__ import annotations

import random
from typing import Sequence

from pydantic import Field

from sftbench.datasets_builders.builders.base import BuildContext, BuilderParams, BuildResult
from sftbench.common.rows import Row


SIZE_FIELD = "max_rows"  # what `sftbench build --k` sets


class Params(BuilderParams):
    max_rows: int | None = Field(None, gt=0, description="cap for quick runs; None keeps every row")


def build(pool: Sequence[Row], params: Params, ctx: BuildContext) -> BuildResult:
    if params.max_rows is None or params.max_rows >= len(pool):
        return BuildResult(list(pool), {"capped": False})
    chosen = sorted(random.Random(ctx.seed).sample(range(len(pool)), params.max_rows))
    return BuildResult([pool[i] for i in chosen], {"capped": True, "pool_rows": len(pool)})
