"""The suite's `evaluation.alpaca_eval` section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from sftbench.common.config import LocalPath, Strict
from sftbench.common.suggest import unknown_name_message


class AlpacaEvalSpec(Strict):
    """Pairwise judging against a baseline, win rate and length-controlled win rate.

    `eval_set: world`: the built-in world's held-out prompts against its reference answers, judged by any judge
    role (the embedded default). `eval_set: alpaca_eval_2`: the real AlpacaEval 2.0 set (805 instructions against
    gpt4_1106_preview) judged by `annotator` (an alpaca_eval annotator config, default
    weighted_alpaca_eval_gpt4_turbo) run over `roles.judge`, which must be an LLM."""
    enabled: bool = Field(True, description="always on: the leaderboard's rows are these pairwise judgments")
    eval_set: Literal["world", "alpaca_eval_2"] = "world"
    randomize_order: bool = Field(True, description="world eval set only (alpaca_eval configs set their own)")
    glm: Literal["length_controlled_v1", "length_controlled_noreg", "length_controlled_minimal"] = \
        "length_controlled_v1"
    annotator: str = Field("weighted_alpaca_eval_gpt4_turbo", description="alpaca_eval annotator config name")
    source: Literal["github", "hub"] = Field("github", description="where the 805 rows come from when data_path "
                                             "is not given: alpaca_eval's GitHub file at a pinned commit (sha256-"
                                             "checked) or the hub dataset tatsu-lab/alpaca_eval")
    data_path: LocalPath | None = Field(None, description="local model_outputs.json[.gz] / alpaca_eval_gpt4_baseline.json")
    df_gamed: LocalPath | None = Field(None, description="local df_gamed.csv (the LC GLM's anchor); default: the hub's")
    max_instances: int | None = Field(None, ge=5, description="first N instructions only (cheap runs; df_gamed is "
                                      "sliced to match); None = all 805")

    @field_validator("enabled")
    @classmethod
    def _always_on(cls, on: bool) -> bool:
        if not on:
            raise ValueError("cannot be turned off: the leaderboard's rows are the AlpacaEval judgments (MT-Bench, "
                             "WildBench and OpenLLM add columns to them); cut its cost with eval_set: world or "
                             "max_instances instead")
        return on

    @field_validator("annotator")
    @classmethod
    def _known_annotator(cls, name: str) -> str:
        from sftbench.judges.alpaca_eval.configs import available_annotators
        known = available_annotators()
        if name not in known:
            raise ValueError(unknown_name_message("alpaca_eval annotator config", name, known))
        return name
