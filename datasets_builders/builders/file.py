"""`file`: a user's own dataset, taken as it is (the regression-testing use case); the pool is not used.

Any layout datasets_builders/formats.py reads (Alpaca, ShareGPT/FastChat, OpenAI `messages`; .json/.jsonl/
.parquet, optionally .gz); every row is validated, and `skip_bad_rows` leaves bad ones out (counted in the card).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from pydantic import Field

from sftbench.datasets_builders.builders.base import BuildContext, BuilderParams, BuildResult
from sftbench.common.rows import Row

SIZE_FIELD = "k"  # what `sftbench build --k` sets


class Params(BuilderParams):
    path: Path = Field(description="the dataset file")
    skip_bad_rows: bool = False
    k: int | None = Field(None, gt=0, description="keep the first k rows")


def build(pool: Sequence[Row], params: Params, ctx: BuildContext) -> BuildResult:
    from sftbench.datasets_builders.formats import load_rows
    loaded = load_rows(params.path, skip_bad_rows=params.skip_bad_rows)
    rows = loaded.rows[: params.k] if params.k else loaded.rows
    dropped = {"beyond_k": len(loaded.rows) - len(rows)} if len(rows) < len(loaded.rows) else {}
    return BuildResult(rows, {"source": loaded.info(), "rows_dropped": dropped})
