"""Named training recipes (presets) from the papers, as data files in `suites/recipes/<name>.yaml`.

A suite's `recipe:` section is either plain `suites.train.Recipe` fields or `{preset: NAME, ...overrides}`.
A preset fixes every hyper-parameter *and* the chat template; overrides replace single fields (the resolved
recipe, with the preset's name, is what the train step hashes and records).

Template precedence: `recipe.template` (an explicit override) > the preset's template > the suite's top-level
`template` > "alpaca". A suite that sets a top-level `template` different from its preset's is an error
(`resolve_template`): "equal treatment" means one explicit template, not a silent choice between two.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from sftbench.common.suggest import unknown_name_message
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sftbench.suites.models.chat_templates import get_template

PRESET_DIR = Path(__file__).parents[1] / "recipes"
DEFAULT_TEMPLATE = "alpaca"
# Where logs go and how many processes share the work, never what is trained: kept out of every step key and
# resume fingerprint (N processes train the single process's weights, to float tolerance, with the same global batch)
LOGGING_FIELDS = frozenset({"report_to", "gpus_per_run"})


class LoraSpec(BaseModel):
    """LoRA adapter settings (peft), used when `Recipe.finetune` is `lora` or `qlora`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | str = Field("all-linear", description="module names, or 'all-linear'")


class Recipe(BaseModel):
    """One training recipe, shared by every dataset in a suite (named presets: `suites.recipes`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str | None = Field(None, description="the preset this recipe came from (recorded, not used)")
    template: str | None = Field(None, description="chat template fixed by the recipe (see suites.recipes)")
    epochs: float = Field(3.0, gt=0)
    lr: float = Field(2e-3, gt=0, description="the default suits the tiny built-in model; ~1e-5 for real ones")
    lr_scheduler: str = "cosine"
    min_lr: float | None = Field(None, ge=0, description="decay to this lr instead of 0 (linear or cosine)")
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    batch_size: int = Field(16, ge=1, description="per-device micro-batch")
    grad_accum: int = Field(1, ge=1, description="ignored when global_batch_size is set")
    global_batch_size: int | None = Field(
        None, ge=1, description="examples per optimizer step over all devices; grad_accum is derived from it")
    weight_decay: float = Field(0.0, ge=0)
    adam_beta1: float = Field(0.9, ge=0, lt=1)
    adam_beta2: float = Field(0.999, ge=0, lt=1)
    adam_epsilon: float = Field(1e-8, gt=0)
    max_grad_norm: float = Field(1.0, gt=0)
    max_length: int = Field(256, ge=8, description="tokens per example (prompt + completion), longer ones truncated")
    seed: int = 0
    sampling: Literal["random", "group_by_length"] = Field(
        "group_by_length", description="group_by_length batches similar lengths together (less padding, faster)")
    system_prompt: str | None = Field(None, description="overrides the template's default system prompt")
    fused_loss: bool = Field(
        False, description="trl's fused LM-head loss (adds entropy/accuracy metrics); on CPU it costs more than "
        "a tiny model's whole forward pass, so by default the model computes its own (identical) NLL")
    neftune_alpha: float | None = Field(None, gt=0, description="NEFTune embedding noise (Long-Is-More uses 5)")
    finetune: Literal["full", "lora", "qlora"] = "full"
    lora: LoraSpec = LoraSpec()
    batching: Literal["padded", "packed"] = Field(
        "padded", description="packed: padding-free best-fit packing (whole examples, no cross-attention)")
    gradient_checkpointing: bool = False
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 on a GPU that has it, else fp32; bf16 on CPU runs under CPU autocast")
    save_steps: int | None = Field(
        None, ge=1, description="with a resume_dir: checkpoint every N optimizer steps (default: every epoch)")
    save_total_limit: int = Field(2, ge=1, description="resume checkpoints kept")
    select: Literal["last", "best_heldout"] = Field(
        "last", description="best_heldout: keep the epoch with the best held-out metric (the runner supplies it)")
    report_to: tuple[Literal["tensorboard", "wandb", "mlflow"], ...] = Field(
        (), description="send training logs to these trackers (transformers' integrations); logging only: outside "
        "step keys and resume fingerprints (LOGGING_FIELDS)")

    gpus_per_run: int = Field(1, ge=1, description="processes of one fine-tune (distributed data parallel): GPUs "
                              "on a GPU box or cluster, CPU processes (gloo) without GPUs; outside step keys")

    @field_validator("report_to", mode="before")
    @classmethod
    def _one_tracker(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value  # `report_to: wandb` means [wandb]

    @model_validator(mode="after")
    def _check(self) -> "Recipe":
        if self.min_lr is not None:
            if self.min_lr >= self.lr:
                raise ValueError(f"min_lr={self.min_lr} must be below lr={self.lr}")
            if self.lr_scheduler not in ("linear", "cosine"):
                raise ValueError(f"min_lr works with lr_scheduler linear or cosine, not {self.lr_scheduler!r}")
        if self.template is not None:
            get_template(self.template)
        if len(set(self.report_to)) != len(self.report_to):
            raise ValueError(f"report_to lists a tracker twice: {list(self.report_to)}")
        return self

    def result_fields(self) -> dict[str, Any]:
        """The fields that can change a trained model (JSON): what step keys and resume fingerprints hash."""
        return self.model_dump(mode="json", exclude=set(LOGGING_FIELDS))


@lru_cache(maxsize=None)
def _load_presets() -> dict[str, dict[str, Any]]:
    presets = {}
    for path in sorted(PRESET_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        unknown = set(data) - {"description", "paper", "template", "recipe"}
        if unknown or "recipe" not in data:
            raise ValueError(f"{path}: a recipe preset has keys description, paper, template, recipe "
                             f"(unknown: {sorted(unknown)})")
        presets[path.stem] = data
    return presets


def preset_names() -> list[str]:
    return sorted(_load_presets())


def preset_info(name: str) -> dict[str, Any]:
    """The preset's file content: description, paper, template and recipe fields."""
    presets = _load_presets()
    if name not in presets:
        raise ValueError(unknown_name_message("recipe preset", name, presets))
    return presets[name]


def recipe_fields(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """Recipe fields of a suite's `recipe:` section with its preset (if any) expanded; overrides win."""
    spec = dict(spec or {})
    name = spec.pop("preset", None)
    if name is None:
        return spec
    info = preset_info(name)
    return {**info["recipe"], "template": info.get("template"), "preset": name, **spec}


def resolve_recipe(spec: Mapping[str, Any] | None, seed: int | None = None) -> Recipe:
    """A validated Recipe from a suite's `recipe:` section (preset expanded, `seed` set when given)."""
    fields = recipe_fields(spec)
    if seed is not None:
        fields["seed"] = seed
    return Recipe.model_validate(fields)


def resolve_template(recipe: Recipe, suite_template: str | None) -> str:
    """The one chat template a suite trains and generates with (see the module docstring for precedence)."""
    if recipe.template and suite_template and suite_template != recipe.template:
        origin = f"recipe preset {recipe.preset!r}" if recipe.preset else "recipe.template"
        raise ValueError(f"template {suite_template!r} conflicts with {origin}, which uses {recipe.template!r}; "
                         f"remove the suite's top-level template or set recipe.template: {suite_template}")
    return recipe.template or suite_template or DEFAULT_TEMPLATE
