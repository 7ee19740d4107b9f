"""sftbench's own lm-eval tasks: the Open LLM Leaderboard v1 six (hub datasets at pinned revisions) and the
built-in world's multiple-choice task, with their shot counts, headline metrics and hub file layouts.

The task configs themselves are the YAMLs in `suites/openllm_tasks/`; this module knows what the runner needs
around them: which YAML, which dataset (repo, revision, config folder, splits) and the leaderboard's settings.
Revisions are commits of the hub dataset repos in their parquet layout (`<config>/<split>-00000-of-00001.parquet`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, model_validator

TASKS_DIR = Path(__file__).parent / "tasks"
TASK_PREFIX = "sftbench_"  # our lm-eval task names never collide with lm-eval's own
LOCAL_DATA_SETTING = "evaluation.openllm.local_data"  # the suite setting named in error messages


class TaskSpec(BaseModel):
    """One OpenLLM column of a suite: one of sftbench's tasks (CATALOG) or any lm-eval task or group by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$", description="column name; one of CATALOG or an lm-eval task")
    task: str | None = Field(None, description="lm-eval task/group to run (pass-through); default: `name` when "
                             "it is not one of sftbench's tasks")
    num_fewshot: NonNegativeInt | None = Field(None, description="default: the leaderboard's for sftbench's tasks, "
                                               "the task's own for pass-through ones")
    primary: str | None = Field(None, description="headline metric ('acc_norm', 'exact_match,strict-match'); "
                                "default: the catalog's, else the first reported")
    local_data: str | None = Field(None, description="directory with a copy of the task's hub dataset files")
    options: dict[str, Any] = Field(default_factory=dict, description="mmlu: {subjects: [...]}; world_mc: {n, "
                                    "n_fewshot_pool, seed}")

    @property
    def is_catalog(self) -> bool:
        return self.task is None and self.name in CATALOG


@dataclass(frozen=True)
class HubData:
    """Where a task's data lives on the hub and in a local copy of the repo (`<copy>/<subdir>/<split>-*.parquet`)."""
    repo: str
    revision: str
    config: str | None       # dataset_name passed to datasets.load_dataset
    subdir: str              # folder of that config in the repo
    eval_split: str
    fewshot_split: str | None
    other_splits: tuple[str, ...] = ()

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for s in (self.eval_split, self.fewshot_split, *self.other_splits) if s))


@dataclass(frozen=True)
class CatalogTask:
    name: str
    template: str            # YAML in TASKS_DIR
    num_fewshot: int
    primary: str
    data: HubData | None     # None: generated at run time (world_mc)
    about: str

    @property
    def lm_task(self) -> str:
        return TASK_PREFIX + self.name


MMLU_SUBJECTS: tuple[str, ...] = (
    "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge", "college_biology",
    "college_chemistry", "college_computer_science", "college_mathematics", "college_medicine", "college_physics",
    "computer_security", "conceptual_physics", "econometrics", "electrical_engineering", "elementary_mathematics",
    "formal_logic", "global_facts", "high_school_biology", "high_school_chemistry",
    "high_school_computer_science", "high_school_european_history", "high_school_geography",
    "high_school_government_and_politics", "high_school_macroeconomics", "high_school_mathematics",
    "high_school_microeconomics", "high_school_physics", "high_school_psychology", "high_school_statistics",
    "high_school_us_history", "high_school_world_history", "human_aging", "human_sexuality", "international_law",
    "jurisprudence", "logical_fallacies", "machine_learning", "management", "marketing", "medical_genetics",
    "miscellaneous", "moral_disputes", "moral_scenarios", "nutrition", "philosophy", "prehistory",
    "professional_accounting", "professional_law", "professional_medicine", "professional_psychology",
    "public_relations", "security_studies", "sociology", "us_foreign_policy", "virology", "world_religions",
)
MMLU_REVISION = "c30699e8356da336a370243923dbaf21066bb9fe"


def mmlu_data(subject: str) -> HubData:
    return HubData("cais/mmlu", MMLU_REVISION, subject, subject, "test", "dev", ("validation",))


CATALOG: dict[str, CatalogTask] = {t.name: t for t in (
    CatalogTask("arc_challenge", "arc_challenge.yaml", 25, "acc_norm",
                HubData("allenai/ai2_arc", "210d026faf9955653af8916fad021475a3f00453", "ARC-Challenge",
                        "ARC-Challenge", "test", "train", ("validation",)),
                "ARC-Challenge, 25-shot, acc_norm"),
    CatalogTask("hellaswag", "hellaswag.yaml", 10, "acc_norm",
                HubData("Rowan/hellaswag", "218ec52e09a7e7462a5400043bb9a69a41d06b76", None, "data",
                        "validation", "train"),
                "HellaSwag, 10-shot, acc_norm"),
    CatalogTask("mmlu", "_mmlu_template.yaml", 5, "acc", mmlu_data("abstract_algebra"),
                "MMLU, 5-shot, acc averaged over subjects with equal weight"),
    CatalogTask("truthfulqa_mc2", "truthfulqa_mc2.yaml", 0, "acc",
                HubData("truthfulqa/truthful_qa", "741b8276f2d1982aa3d5b832d3ee81ed3b896490", "multiple_choice",
                        "multiple_choice", "validation", None),
                "TruthfulQA MC2, 0-shot"),
    CatalogTask("winogrande", "winogrande.yaml", 5, "acc",
                HubData("allenai/winogrande", "01e74176c63542e6b0bcb004dcdea22d94fb67b5", "winogrande_xl",
                        "winogrande_xl", "validation", "train"),
                "Winogrande (XL), 5-shot, acc"),
    CatalogTask("gsm8k", "gsm8k.yaml", 5, "exact_match,strict-match",
                HubData("openai/gsm8k", "e53f048856ff4f594e959d75785d2c2d37b678ee", "main", "main", "test",
                        "train"),
                "GSM8K, 5-shot, exact match (strict and flexible)"),
    CatalogTask("world_mc", "world_mc.yaml", 0, "acc_norm", None,
                "the built-in world's multiple choice (held-out tasks, 4 options), acc_norm"),
)}

OPENLLM_V1 = ("arc_challenge", "hellaswag", "mmlu", "truthfulqa_mc2", "winogrande", "gsm8k")
PRESETS: dict[str, tuple[str, ...]] = {"openllm_v1": OPENLLM_V1, "world": ("world_mc",)}
WORLD_MC_DEFAULTS = {"n": 200, "n_fewshot_pool": 25, "seed": 3}


def preset_tasks(name: str) -> list[TaskSpec]:
    """The TaskSpecs of a named preset ('openllm_v1': the six Open LLM Leaderboard v1 tasks; 'world')."""
    try:
        return [TaskSpec(name=task) for task in PRESETS[name]]
    except KeyError:
        raise ValueError(f"unknown OpenLLM preset {name!r}; known presets: {', '.join(PRESETS)}") from None


class OpenLLMConfig(BaseModel):
    """A suite's `evaluation.openllm` section: a preset and/or tasks, run on every fine-tuned checkpoint.

    `tasks` entries replace the preset's task of the same name (e.g. to change its shots or data) and add
    any other task (sftbench's or lm-eval's by name). `local_data`: a root with copies of the hub datasets
    (ROOT/<org>/<name>/...) or {task: directory}.
    """

    model_config = ConfigDict(extra="forbid")

    preset: Literal["openllm_v1", "world"] | None = None
    tasks: list[TaskSpec] = Field(default_factory=list)
    batch_size: PositiveInt | Literal["auto"] = 8
    limit: float | None = Field(None, gt=0, description="examples per task (an int, or a fraction below 1); "
                                "for smoke tests only")
    chat_template: bool = Field(False, description="render prompts with the checkpoint's chat template (the "
                                "Open LLM Leaderboard v1 did not)")
    device: str = "cpu"
    backend: Literal["hf", "vllm"] = "hf"
    local_data: str | dict[str, str] | None = None
    offline: bool | None = Field(None, description="True: never contact the hub; None: follow HF_HUB_OFFLINE")

    @model_validator(mode="after")
    def _some_tasks(self) -> "OpenLLMConfig":
        names = [t.name for t in self.tasks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"openllm task names must be unique; repeated: {dupes}")
        if not self.preset and not self.tasks:
            raise ValueError("evaluation.openllm needs a preset ('openllm_v1', 'world') or tasks")
        for spec in self.tasks:
            check_options(spec)
        return self

    def task_specs(self) -> list[TaskSpec]:
        """The preset's tasks (replaced by same-named `tasks` entries), then the other `tasks`."""
        own = {t.name: t for t in self.tasks}
        base = preset_tasks(self.preset) if self.preset else []
        return [own.pop(t.name, t) for t in base] + list(own.values())


def mmlu_subjects(spec: TaskSpec) -> tuple[str, ...]:
    subjects = tuple(spec.options.get("subjects") or MMLU_SUBJECTS)
    unknown = [s for s in subjects if s not in MMLU_SUBJECTS]
    if unknown:
        raise ValueError(f"openllm task '{spec.name}': unknown MMLU subjects {unknown}")
    return subjects


def check_options(spec: TaskSpec) -> None:
    """Options are task-specific; anything else is a typo worth an error."""
    allowed = {"mmlu": {"subjects"}, "world_mc": set(WORLD_MC_DEFAULTS)}.get(spec.name) if spec.is_catalog else set()
    extra = sorted(set(spec.options) - (allowed or set()))
    if extra:
        raise ValueError(f"openllm task '{spec.name}': unknown options {extra}; allowed: {sorted(allowed or [])}")
    if spec.is_catalog and spec.name == "mmlu":
        mmlu_subjects(spec)
    if spec.is_catalog and spec.name == "world_mc":
        bad = {k: v for k, v in spec.options.items() if not isinstance(v, int) or v < (0 if k == "seed" else 1)}
        if bad:
            raise ValueError(f"openllm task 'world_mc': options {bad} must be positive integers (seed: >= 0)")
    if spec.local_data and (not spec.is_catalog or CATALOG[spec.name].data is None):
        hub_tasks = ", ".join(name for name, entry in CATALOG.items() if entry.data)
        raise ValueError(f"openllm task '{spec.name}': local_data is for sftbench's hub-data tasks ({hub_tasks}); "
                         "world_mc generates its data, and a pass-through lm-eval task reads its own YAML's")
