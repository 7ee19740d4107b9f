"""What every builder receives and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict

from sftbench.common.rows import Row
from sftbench.judges.protocols import Rater, Teacher


class BuilderParams(BaseModel):
    """Base of every builder's parameters: unknown fields are errors, so typos in a suite are caught."""
    model_config = ConfigDict(extra="forbid")


@dataclass
class BuildContext:
    seed: int = 0
    teacher: Teacher | None = None
    rater: Rater | None = None
    curated: Sequence[Row] | None = None          # the pool source's hand-curated set (the `lima` builder's default)
    skills: Sequence[str] = ()                    # skill and query-type lists offered by the pool source
    query_types: Sequence[str] = ()
    progress: bool = False
    cache_dir: Path | None = None                 # downloads (paper prompts, released lists); None: ~/.cache/sftbench


@dataclass
class BuildResult:
    rows: list[Row]
    info: dict[str, Any] = field(default_factory=dict)     # goes into the card: fingerprints, drops, settings
    sidecars: dict[str, list[dict]] = field(default_factory=dict)  # extra JSONL files (e.g. rater scores)


def need(role: Any, name: str, builder: str) -> Any:
    if role is None:
        raise ValueError(f"builder '{builder}' needs a {name}; configure roles.{name} in the suite")
    return role
