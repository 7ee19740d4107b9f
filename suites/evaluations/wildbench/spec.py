"""The suite's `evaluation.wildbench` section."""

from __future__ import annotations


from pydantic import Field
from sftbench.judges.wildbench.reward import DEFAULT_K

from sftbench.common.config import LocalPath, Strict


class WildBenchSpec(Strict):
    """WildBench v2 (real-user tasks, checklist-guided grading by `roles.judge`, which must be an LLM): WB-Score,
    plus WB-Reward against each reference model in `references`."""
    enabled: bool = False
    tasks_path: LocalPath | None = Field(None, description="local tasks file (JSON/JSONL/parquet, hub fields); default: "
                                    "the pinned hub dataset allenai/WildBench (v2, test)")
    templates_dir: LocalPath | None = Field(None, description="folder with eval_template.{score,pairwise}.v2.md; "
                                       "default: the pinned GitHub files, downloaded and sha256-checked")
    references: dict[str, LocalPath | None] = Field(default_factory=dict, description="reference model (gpt4t, haiku, "
                                               "llama or a hub outputs config) -> local outputs file (null: the "
                                               "hub's); empty: WB-Score only")
    K: int = Field(DEFAULT_K, ge=-1, description="WB-Reward length penalty in characters; -1 = none")
    max_tasks: int | None = Field(None, ge=1, description="only the first N tasks in file order (cheap runs)")
    max_new_tokens: int = Field(1024, ge=1)
    batch_size: int = Field(8, ge=1)
