"""WildBench v2 data: judge templates (GitHub, pinned commit), tasks and reference outputs (hub, or local files).

Templates: github.com/allenai/WildBench `evaluation/eval_template.{score,pairwise}.v2.md` at a pinned commit, or
a local folder holding them (e.g. ../shared/data/wildbench/evaluation). Tasks (the 1,024 conversations with
their checklists and task tags) exist only on the Hugging Face hub (`allenai/WildBench`, config `v2`, split
`test`); offline, give a local JSON/JSONL/parquet file with the same fields. The reference models' outputs for
WB-Reward come from `allenai/WildBench-V2-Model-Outputs` (one config per model), or local files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sftbench.common.downloads import (DataUnavailable, PinnedFile, fetch, is_offline, reachable, read_json_or_jsonl,
                                 read_text)

WB_REPO, WB_COMMIT = "allenai/WildBench", "d6b8dcaf377d173d031980f97c16e1a82618c03d"
TEMPLATE_OVERRIDE = "wildbench templates_dir (a folder with eval_template.score.v2.md / eval_template.pairwise.v2.md)"
TEMPLATES = {
    "score": PinnedFile("WildBench WB-Score judge template v2", WB_REPO, WB_COMMIT,
                        "evaluation/eval_template.score.v2.md",
                        "c5984ae77b009f8dad0e8e37093348345f4e8d3099ce812bd7799ef7b73f005f", TEMPLATE_OVERRIDE),
    "pairwise": PinnedFile("WildBench WB-Reward judge template v2", WB_REPO, WB_COMMIT,
                           "evaluation/eval_template.pairwise.v2.md",
                           "ccd57bd8c4c73f4f83cf8963ef3c2697c1c7b9e907ead91e0d0512cca4ae7a11", TEMPLATE_OVERRIDE),
}
HUB_TASKS = "allenai/WildBench"
HUB_TASKS_CONFIG, HUB_TASKS_SPLIT = "v2", "test"
HUB_OUTPUTS = "allenai/WildBench-V2-Model-Outputs"
# Hub commits as pinned by HELM's WildBench scenario (stanford-crfm/helm, wildbench_scenario.py): the v2 tasks and
# the reference models' outputs. Manifests also record the dataset fingerprint `datasets` reports.
HUB_REVISION = "7c05c1b4550282b2ed6a2e6ac5db069f1e07df5c"
OUTPUTS_REVISION = "d6755bc68220df853c0825a733430f73f5af2501"
# leaderboard/data_dir/_create_tables.py: fine-grained task tags -> the five reported task groups
TASK_GROUPS = {
    "Information seeking": "Information/Advice seeking", "Creative Writing": "Creative Tasks",
    "Coding & Debugging": "Coding & Debugging", "Reasoning": "Planning & Reasoning", "Editing": "Creative Tasks",
    "Math": "Math & Data Analysis", "Planning": "Planning & Reasoning", "Brainstorming": "Creative Tasks",
    "Role playing": "Creative Tasks", "Advice seeking": "Information/Advice seeking",
    "Data Analysis": "Math & Data Analysis", "Others": "Creative Tasks",
}
TASK_WEIGHTS = {"Creative Tasks": 0.5, "Planning & Reasoning": 1.25, "Math & Data Analysis": 1.0,
                "Information/Advice seeking": 0.75, "Coding & Debugging": 1.25}
REFERENCE_MODELS = {"gpt4t": "gpt-4-turbo-2024-04-09", "haiku": "claude-3-haiku-20240307",
                    "llama": "Llama-2-70b-chat-hf"}
TASK_FIELDS = ("session_id", "conversation_input", "checklist")


def load_template(kind: str, templates_dir: str | Path | None = None) -> str:
    if kind not in TEMPLATES:
        raise ValueError(f"unknown WildBench template {kind!r}; known: {sorted(TEMPLATES)}")
    pinned = TEMPLATES[kind]
    local = None
    if templates_dir is not None:
        local = Path(templates_dir) / Path(pinned.path).name
        if not local.is_file():
            raise FileNotFoundError(f"WildBench templates_dir {templates_dir} has no {local.name}")
    return read_text(fetch(pinned, local))


def _hub_rows(repo: str, config: str, split: str, revision: str, override: str) -> list[dict[str, Any]]:
    where = f"the Hugging Face hub dataset {repo} (config {config}, split {split}, revision {revision})"
    if is_offline():
        raise DataUnavailable(f"{where} is needed and sftbench is offline: give a local file with {override}")
    if not reachable("https://huggingface.co"):
        raise DataUnavailable(f"{where} cannot be reached (offline?): give a local file with {override}")
    import datasets
    try:
        ds = datasets.load_dataset(repo, config, split=split, revision=revision)
    except Exception as exc:  # noqa: BLE001 - any hub failure becomes the same actionable error
        raise DataUnavailable(f"could not load {where} ({type(exc).__name__}: {str(exc)[:200]}); "
                              f"give a local file with {override}") from None
    return [dict(r) for r in ds]


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pandas as pd
        return pd.read_parquet(path).to_dict(orient="records")
    rows = read_json_or_jsonl(path)
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a JSON list or JSONL records")
    return rows


def load_tasks(path: str | Path | None = None, revision: str = HUB_REVISION) -> list[dict[str, Any]]:
    """WildBench v2 tasks: {session_id, conversation_input, checklist, primary_tag, secondary_tags, ...}."""
    rows = (_read_rows(Path(path)) if path is not None else
            _hub_rows(HUB_TASKS, HUB_TASKS_CONFIG, HUB_TASKS_SPLIT, revision, "wildbench tasks_path"))
    where = str(path or HUB_TASKS)
    for i, row in enumerate(rows):
        if "session_id" not in row and "id" in row:
            row["session_id"] = row["id"]
        missing = [f for f in TASK_FIELDS if f not in row]
        if missing:
            raise ValueError(f"{where}: task {i} lacks {missing} (expected WildBench v2 fields {TASK_FIELDS})")
        row["conversation_input"] = [dict(m) for m in row["conversation_input"]]
        row["checklist"] = list(row["checklist"])
    return rows


def load_reference_outputs(model: str, path: str | Path | None = None,
                           revision: str = OUTPUTS_REVISION) -> dict[str, str]:
    """session_id -> the reference model's output (its first output when the hub stores a list)."""
    name = REFERENCE_MODELS.get(model, model)
    rows = (_read_rows(Path(path)) if path is not None else
            _hub_rows(HUB_OUTPUTS, name, "train", revision, f"a local outputs file for reference model {name}"))
    out = {}
    for row in rows:
        output = row["output"][0] if isinstance(row.get("output"), (list, tuple)) else row.get("output", "")
        out[str(row["session_id"])] = output or ""
    return out


def task_categories(task: dict[str, Any]) -> list[str]:
    """The task groups of a task (primary + secondary tags mapped to the five groups), as the leaderboard does."""
    tags = [task.get("primary_tag")] + list(task.get("secondary_tags") or [])
    return sorted({TASK_GROUPS[t] for t in tags if t in TASK_GROUPS})


def history_and_query(task: dict[str, Any]) -> tuple[str, str]:
    """Upstream's `compose_eval_item`: earlier turns as 'USER: ...' / 'ASSISTANT: ...' blocks, and the last query."""
    conv = task["conversation_input"]
    history = ""
    for turn in conv[:-1]:
        if turn["role"] == "user":
            history += "USER: " + turn["content"] + "\n\n"
        elif turn["role"] == "assistant":
            history += "ASSISTANT: " + turn["content"] + "\n\n"
    return history, conv[-1]["content"]


__all__ = ["load_template", "load_tasks", "load_reference_outputs", "task_categories", "history_and_query",
           "TASK_GROUPS", "TASK_WEIGHTS", "REFERENCE_MODELS", "TEMPLATES", "HUB_REVISION", "OUTPUTS_REVISION"]
