"""The suite's `evaluation.mt_bench` section."""

from __future__ import annotations


from pydantic import Field

from sftbench.common.config import LocalPath, Strict


class MTBenchSpec(Strict):
    """MT-Bench (80 two-turn questions, single-answer grading by `roles.judge`, which must be an LLM)."""
    enabled: bool = False
    data_dir: LocalPath | None = Field(None, description="local question/reference/judge-prompt files; default: the "
                                  "pinned FastChat files, downloaded and sha256-checked")
    max_new_tokens: int = Field(512, ge=1)
    batch_size: int = Field(16, ge=1)
