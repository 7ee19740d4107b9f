"""The suite's `evaluation.heldout` section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sftbench.common.config import LocalPath, Strict


class HeldoutSpec(Strict):
    """Held-out prompts `recipe.select: best_heldout` picks the best epoch by (suites/heldout.py): `world` (fresh
    world prompts, disjoint from the eval prompts and the pool), `sidecar` (each dataset's `heldout.jsonl`, e.g.
    skillmix's `params.heldout`) or `file` (`path`: rows of instruction + output, the reference answers)."""
    source: Literal["world", "sidecar", "file"] = "world"
    path: LocalPath | None = None
    n: int = Field(100, ge=1, description="use the first n held-out prompts")
    max_new_tokens: int | None = Field(None, ge=1, description="default: generation.max_new_tokens")

    @model_validator(mode="after")
    def _path_for_file(self) -> "HeldoutSpec":
        if self.source == "file" and self.path is None:
            raise ValueError("evaluation.heldout.source 'file' needs evaluation.heldout.path (JSON/JSONL rows of "
                             "instruction + output)")
        return self
