"""The base of every typed config section: unknown fields are errors, so a typo in a suite is caught."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
