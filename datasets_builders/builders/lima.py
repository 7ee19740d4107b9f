"""`lima`: a hand-curated set (LIMA), single- and multi-turn: a local file, the hub release, or the pool's own.

Sources: `path` (any layout datasets_builders/formats.py reads: Alpaca, ShareGPT/FastChat `conversations`,
LIMA's list of strings, OpenAI `messages`; .json/.jsonl/.parquet, optionally .gz), `hub` (GAIR/lima, 1,030 rows
including the multi-turn ones), or the pool source's curated set (the built-in world's). Multi-turn rows keep
every turn in `messages`; `multi_turn: false` leaves them out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

from pydantic import Field

from sftbench.datasets_builders.builders.base import BuildContext, BuilderParams, BuildResult
from sftbench.common.rows import Row

SIZE_FIELD = "k"  # what `sftbench build --k` sets


class Params(BuilderParams):
    path: Path | None = Field(None, description="curated file; default: the pool source's curated set")
    source: Literal["pool", "hub"] = Field("pool", description="without path: the pool's curated set, or GAIR/lima")
    revision: str | None = Field(None, description="hub revision (source: hub)")
    multi_turn: bool = Field(True, description="keep multi-turn conversations")
    skip_bad_rows: bool = False
    k: int | None = Field(None, gt=0, description="keep the first k rows")


def is_multi_turn(row: Row) -> bool:
    return sum(m["role"] != "system" for m in row.get("messages", ())) > 2


def build(pool: Sequence[Row], params: Params, ctx: BuildContext) -> BuildResult:
    from sftbench.datasets_builders.pools import load_pool
    if params.path is not None:
        loaded = load_pool("file", params.path, skip_bad_rows=params.skip_bad_rows)
        rows, source = loaded.rows, loaded.info
    elif params.source == "hub":
        loaded = load_pool("lima", revision=params.revision, skip_bad_rows=params.skip_bad_rows,
                           cache_dir=ctx.cache_dir)
        rows, source = loaded.rows, loaded.info
    elif ctx.curated is not None:
        rows, source = list(ctx.curated), {"source": "pool-source curated set"}
    else:
        raise ValueError("builder 'lima' needs params.path (a curated file) or params.source: hub; this pool "
                         "source has no curated set")
    multi = sum(map(is_multi_turn, rows))
    dropped = {}
    if not params.multi_turn and multi:
        rows, dropped = [r for r in rows if not is_multi_turn(r)], {"multi_turn": multi}
    if params.k and len(rows) > params.k:
        dropped["beyond_k"] = len(rows) - params.k
        rows = rows[: params.k]
    return BuildResult(rows, {"source": source, "multi_turn_rows": sum(map(is_multi_turn, rows)),
                              "rows_dropped": dropped})
