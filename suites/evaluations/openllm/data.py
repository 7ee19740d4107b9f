"""Task YAMLs for one OpenLLM run: which data each of sftbench's tasks reads (pinned hub revision, a local copy
in the hub's file layout, or world questions generated into the run), written as small overlay YAMLs that
`include` the shipped ones, so lm-eval indexes only the tasks a run needs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from sftbench.suites.evaluations.openllm.catalog import (CATALOG, LOCAL_DATA_SETTING, TASK_PREFIX, TASKS_DIR, WORLD_MC_DEFAULTS, HubData,
                                    TaskSpec, mmlu_data, mmlu_subjects)

LocalData = str | Path | Mapping[str, str | Path] | None
_FORMATS = {"parquet": "parquet", "jsonl": "json", "json": "json", "csv": "csv"}  # file suffix -> datasets builder


class OpenLLMDataError(RuntimeError):
    """A task's dataset cannot be loaded; the message names the task and the local-data override."""


@dataclass
class PreparedTask:
    """One suite column resolved to lm-eval task names, shot count and data provenance."""
    spec: TaskSpec
    lm_tasks: list[str]
    num_fewshot: int | None
    primary: str | None
    data: dict[str, Any] = field(default_factory=dict)   # {lm_task: provenance}
    subjects: dict[str, str] = field(default_factory=dict)  # mmlu: lm_task -> subject


def override_hint(task: str, hub: HubData) -> str:
    return (f"Put a copy of the dataset's files in the hub's layout (e.g. `huggingface-cli download {hub.repo} "
            f"--repo-type dataset --revision {hub.revision} --local-dir DIR`, giving DIR/{hub.subdir}/"
            f"{hub.eval_split}-*.parquet; jsonl files with the same columns work too) and set "
            f"{LOCAL_DATA_SETTING}.{task}: DIR (or {LOCAL_DATA_SETTING}: ROOT with the copy in ROOT/{hub.repo}).")


def data_error(task: str, hub: HubData | None, local: Path | None, exc: BaseException) -> OpenLLMDataError:
    """The error for a dataset that failed to load, naming the task and the override setting."""
    cause = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:400]
    if hub is None:
        return OpenLLMDataError(f"openllm task '{task}': its generated data failed to load ({cause})")
    if local is not None:
        return OpenLLMDataError(f"openllm task '{task}': the local copy {local} ({LOCAL_DATA_SETTING}.{task}) "
                                f"failed to load ({cause}). It must hold {hub.repo}'s files at revision "
                                f"{hub.revision}: {hub.subdir}/<split>-*.parquet or .jsonl with the hub's columns.")
    return OpenLLMDataError(f"openllm task '{task}': cannot load dataset {hub.repo} (config {hub.config}, revision "
                            f"{hub.revision}) from the Hugging Face hub; offline or unreachable? ({cause}). "
                            + override_hint(task, hub))


def local_dir_for(spec: TaskSpec, hub: HubData, local_data: LocalData) -> Path | None:
    """The local copy for a task: its own setting, a per-task mapping, or ROOT/<repo> under a root (if present)."""
    if spec.local_data:
        return Path(spec.local_data).expanduser()
    if isinstance(local_data, Mapping):
        given = local_data.get(spec.name)
        return Path(given).expanduser() if given else None
    if local_data:
        candidate = Path(local_data).expanduser() / hub.repo
        return candidate if candidate.is_dir() else None
    return None


def _split_files(folder: Path, split: str) -> list[Path]:
    found: list[Path] = []
    for suffix in _FORMATS:
        for pattern in (f"{split}-*.{suffix}", f"{split}.{suffix}", f"{split}/*.{suffix}"):
            found += sorted(folder.glob(pattern))
    return found


def local_files(task: str, hub: HubData, local: Path, needed: tuple[str, ...]) -> tuple[str, dict[str, list[str]]]:
    """(datasets builder, {split: files}) for a local copy; a clear error when a needed split is missing."""
    if not local.is_dir():
        raise OpenLLMDataError(f"openllm task '{task}': local data directory {local} does not exist "
                               f"({LOCAL_DATA_SETTING}.{task}). " + override_hint(task, hub))
    folder = local / hub.subdir if (local / hub.subdir).is_dir() else local
    files = {split: _split_files(folder, split) for split in hub.splits}
    files = {split: paths for split, paths in files.items() if paths}
    missing = [split for split in needed if split not in files]
    if missing:
        raise OpenLLMDataError(f"openllm task '{task}': no {'/'.join(missing)} split in the local copy {folder} "
                               f"({LOCAL_DATA_SETTING}.{task}); expected files like {hub.subdir}/{missing[0]}-"
                               f"00000-of-00001.parquet (or .jsonl) as in {hub.repo} at revision {hub.revision}.")
    builders = {_FORMATS[p.suffix.lstrip(".")] for paths in files.values() for p in paths}
    if len(builders) > 1:
        raise OpenLLMDataError(f"openllm task '{task}': mixed file formats in {folder} ({sorted(builders)}); "
                               "use one format (parquet or jsonl) per task")
    return builders.pop(), {split: [str(p) for p in paths] for split, paths in files.items()}


def file_digest(paths: list[str]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(Path(path).read_bytes())
    return h.hexdigest()


def write_overlay(tasks_dir: Path, lm_task: str, template: str, overrides: dict[str, Any]) -> Path:
    """A task YAML that includes the shipped template and overrides the task name and data location."""
    body = {"include": str((TASKS_DIR / template).resolve()), "task": lm_task, **overrides}
    path = tasks_dir / f"{lm_task}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _data_overrides(spec: TaskSpec, hub: HubData, local_data: LocalData, shots: int, caches: Caches
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(YAML overrides, provenance) for a hub dataset: the pinned revision, or a local copy."""
    local = local_dir_for(spec, hub, local_data)
    if local is None:
        return ({"dataset_kwargs": {"revision": hub.revision, **caches.hub}},
                {"source": "hub", "repo": hub.repo, "config": hub.config, "revision": hub.revision})
    needed = (hub.eval_split,) + ((hub.fewshot_split,) if shots and hub.fewshot_split else ())
    builder, files = local_files(spec.name, hub, local, needed)
    all_files = [p for paths in files.values() for p in paths]
    overrides = {"dataset_path": builder, "dataset_name": None, "dataset_kwargs": {"data_files": files, **caches.local}}
    return overrides, {"source": "local", "dir": str(local), "repo": hub.repo, "revision": hub.revision,
                       "files": {s: [Path(p).name for p in ps] for s, ps in files.items()},
                       "sha256": file_digest(all_files)}


def write_world_mc(data_dir: Path, options: Mapping[str, Any]) -> dict[str, list[str]]:
    """Generate the world multiple-choice questions (deterministic) as JSONL: test (held-out) and train."""
    from sftbench.datasets_builders.world.mc_task import make_mc_questions

    opts = {**WORLD_MC_DEFAULTS, **options}
    data_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, n, side in (("test", opts["n"], "eval"), ("train", opts["n_fewshot_pool"], "train")):
        rows = make_mc_questions(int(n), seed=int(opts["seed"]), split=side)
        path = data_dir / f"{split}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:  # the task spec as a JSON string: its params differ in shape across skills
                fh.write(json.dumps({**row, "task": json.dumps(row["task"], sort_keys=True)}) + "\n")
        files[split] = [str(path)]
    return files


@dataclass(frozen=True)
class Caches:
    """datasets' cache directories: for hub downloads (None: the HF default, shared with other work) and for
    the Arrow copies of local files and generated questions (kept out of the step directory)."""
    hub_dir: Path | None = None
    local_dir: Path | None = None

    @property
    def hub(self) -> dict[str, str]:
        return {"cache_dir": str(self.hub_dir)} if self.hub_dir else {}

    @property
    def local(self) -> dict[str, str]:
        return {"cache_dir": str(self.local_dir)} if self.local_dir else {}


def prepare_tasks(specs: list[TaskSpec], tasks_dir: Path, data_dir: Path, local_data: LocalData,
                  caches: Caches = Caches()) -> list[PreparedTask]:
    """Write the overlay YAMLs of sftbench's tasks into `tasks_dir`; pass-through tasks are only named."""
    tasks_dir.mkdir(parents=True, exist_ok=True)
    prepared = []
    for spec in specs:
        if not spec.is_catalog:
            prepared.append(PreparedTask(spec, [spec.task or spec.name], spec.num_fewshot, spec.primary))
            continue
        entry = CATALOG[spec.name]
        shots = entry.num_fewshot if spec.num_fewshot is None else spec.num_fewshot
        item = PreparedTask(spec, [], shots, spec.primary or entry.primary)
        if spec.name == "world_mc":
            files = write_world_mc(data_dir / "world_mc", spec.options)
            write_overlay(tasks_dir, entry.lm_task, entry.template,
                          {"dataset_kwargs": {"data_files": files, **caches.local}})
            item.lm_tasks.append(entry.lm_task)
            item.data[entry.lm_task] = {"source": "generated", "options": {**WORLD_MC_DEFAULTS, **spec.options},
                                        "sha256": file_digest([p for ps in files.values() for p in ps])}
        elif spec.name == "mmlu":
            for subject in mmlu_subjects(spec):
                hub, lm_task = mmlu_data(subject), f"{TASK_PREFIX}mmlu_{subject}"
                overrides, provenance = _data_overrides(spec, hub, local_data, shots, caches)
                about = subject.replace("_", " ")
                write_overlay(tasks_dir, lm_task, entry.template, {
                    **({"dataset_name": subject} if provenance["source"] == "hub" else {}), **overrides,
                    "description": f"The following are multiple choice questions (with answers) about {about}.\n\n"})
                item.lm_tasks.append(lm_task)
                item.subjects[lm_task] = subject
                item.data[lm_task] = provenance
        else:
            overrides, provenance = _data_overrides(spec, entry.data, local_data, shots, caches)
            write_overlay(tasks_dir, entry.lm_task, entry.template, overrides)
            item.lm_tasks.append(entry.lm_task)
            item.data[entry.lm_task] = provenance
        prepared.append(item)
    return prepared


def hub_of(lm_task: str) -> HubData | None:
    """The hub dataset behind one of our lm-eval task names (None for generated or unknown tasks)."""
    name = lm_task.removeprefix(TASK_PREFIX)
    if name.startswith("mmlu_"):
        return mmlu_data(name.removeprefix("mmlu_"))
    entry = CATALOG.get(name)
    return entry.data if entry else None
