"""The base of every typed config section: unknown fields are errors, so a typo in a suite is caught."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _must_exist(path: Path) -> Path:
    if not path.expanduser().exists():
        raise ValueError(f"{path} does not exist; give an existing local copy, or leave the field out to use the "
                         "pinned upstream source")
    return path


LocalPath = Annotated[Path, AfterValidator(_must_exist)]
"""A suite field naming a local file or folder that must exist (checked by `sftbench validate`)."""
