"""The OpenLLM stage: score a checkpoint with lm-evaluation-harness (Open LLM Leaderboard v1 settings).

`run_openllm` runs `lm_eval.simple_evaluate` on one checkpoint for a list of `TaskSpec`s: sftbench's own task
configs (`suites/openllm_tasks/`: the leaderboard's six at pinned dataset revisions, plus `world_mc`) or any
lm-eval task by name. Around lm-eval it handles what lm-eval leaves to its caller:

- one response cache per checkpoint (lm-eval's cache is keyed by request, not by model);
- a task index of only the tasks needed (overlay YAMLs in the run directory; lm-eval's 11 s index of its own
  tasks only when a pass-through task needs it);
- per-task shot counts (`simple_evaluate` takes one `num_fewshot`: one call per shot count, one model load);
- local copies of the datasets (`local_data`), and a clear error naming the task and that setting when a
  dataset cannot be loaded (before the model is loaded);
- MMLU averaged as the leaderboard did (equal weight per subject), scores with standard errors, a flat table,
  per-sample logs, and the settings (backend, batch size, chat template) recorded with the results.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import logging
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

from sftbench.suites.evaluations.openllm.catalog import (CATALOG, OPENLLM_V1, PRESETS, OpenLLMConfig, TaskSpec, check_options,
                                    preset_tasks)
from sftbench.suites.evaluations.openllm.data import Caches, LocalData, OpenLLMDataError, PreparedTask, data_error, hub_of, prepare_tasks
from sftbench.suites.evaluations.openllm.results import average, column_result, flat_table, write_samples
from sftbench.suites.engine.step import Step, StepContext, one_gpu, step_kind

__all__ = ["run_openllm", "openllm_step", "OpenLLMConfig", "TaskSpec", "preset_tasks", "flat_table",
           "OpenLLMDataError", "CATALOG", "PRESETS", "OPENLLM_V1", "checkpoint_fingerprint", "RESULTS_FILE"]

Backend = Literal["hf", "vllm"]
RESULTS_FILE = "openllm_results.json"


def run_openllm(
    checkpoint_dir: Path,
    tasks: Sequence[TaskSpec],
    out_dir: Path,
    batch_size: int | str = 8,
    device: str = "cpu",
    chat_template: bool = False,
    limit: int | float | None = None,
    threads: int = 1,
    *,
    local_data: LocalData = None,
    cache_dir: Path | None = None,
    backend: Backend = "hf",
    dtype: str | None = None,
    offline: bool | None = None,
    fewshot_as_multiturn: bool | None = None,
    include_paths: Sequence[Path] = (),
    gen_kwargs: dict[str, Any] | None = None,
    bootstrap_iters: int = 1000,
    datasets_cache: Path | None = None,
) -> dict[str, Any]:
    """Score `checkpoint_dir` on `tasks`; write results, task YAMLs and per-sample logs to `out_dir`.

    `local_data`: a root holding copies of the hub datasets (`ROOT/<org>/<name>/...` as on the hub) or
    {task name: directory}; a TaskSpec's own `local_data` wins. `cache_dir`: root of lm-eval response caches,
    one sub-directory per checkpoint fingerprint, and of the Arrow copies of local data (default
    `out_dir/lm_eval_cache`). `datasets_cache`: datasets' cache for hub downloads (None: the HF default) and,
    when given, for local data too. `offline`: True forces the Hugging Face libraries offline, None follows the
    environment. `include_paths`: extra folders of lm-eval task YAMLs for pass-through tasks.

    Returns the dict written to `out_dir/openllm_results.json`: per task metrics (value, stderr, n), the
    primary metric, shots and data provenance; the average of primary metrics; the flat `table`; the
    shot-count groups (with per-sample log paths); and the run settings.
    """
    checkpoint_dir, out_dir = Path(checkpoint_dir), Path(out_dir)
    specs = _validate(tasks)
    if not (checkpoint_dir / "config.json").is_file():
        raise FileNotFoundError(f"{checkpoint_dir}: not a model checkpoint (no config.json)")
    if backend not in ("hf", "vllm"):
        raise ValueError(f"openllm backend must be 'hf' or 'vllm', got {backend!r}")
    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = checkpoint_fingerprint(checkpoint_dir)
    dtype = dtype or ("float32" if device == "cpu" else "auto")
    cache_root = Path(cache_dir or out_dir / "lm_eval_cache")
    cache = cache_root / f"{fingerprint[:16]}-{backend}-{dtype}"
    cache.mkdir(parents=True, exist_ok=True)
    caches = Caches(datasets_cache, datasets_cache or cache_root / "datasets")
    multiturn = chat_template if fewshot_as_multiturn is None else fewshot_as_multiturn

    from sftbench.suites.models.torch_setup import setup_torch
    setup_torch(threads, 0)
    with _hf_offline(offline), _quiet_lm_eval(), _env_info_once():
        prepared = prepare_tasks(specs, out_dir / "tasks", out_dir / "data", local_data, caches)
        manager = _task_manager(prepared, out_dir / "tasks", include_paths)
        loaded = _load_tasks(prepared, manager)  # datasets load here: errors before the model loads
        lm = _load_model(checkpoint_dir, backend, device, batch_size, dtype, chat_template)
        raw, groups = _evaluate(lm, prepared, loaded, manager, cache, out_dir, limit, batch_size, device,
                                chat_template, multiturn, gen_kwargs, bootstrap_iters)

    columns = {item.spec.name: column_result(item, raw) for item in prepared}
    result: dict[str, Any] = {
        "checkpoint": str(checkpoint_dir), "checkpoint_fingerprint": fingerprint,
        "settings": {"backend": backend, "device": device, "dtype": dtype, "batch_size": batch_size,
                     "chat_template": chat_template, "chat_template_name": _template_name(checkpoint_dir)
                     if chat_template else None, "fewshot_as_multiturn": multiturn if chat_template else False,
                     "limit": limit, "threads": threads, "bootstrap_iters": bootstrap_iters,
                     "gen_kwargs": gen_kwargs, "lm_eval_version": _version("lm_eval"),
                     "response_cache": str(cache)},
        "tasks": columns, "average": average(columns), "groups": groups,
    }
    result["table"] = flat_table(result)
    result["wall_s"] = round(time.perf_counter() - start, 3)
    (out_dir / RESULTS_FILE).write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    return result


@step_kind("openllm", resources=one_gpu)
def openllm_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict[str, Any]:
    """One checkpoint's lm-eval tasks; returns the manifest stats (full results in `out/openllm_results.json`).
    lm-eval's response cache lives outside the step directory (runs/<suite>/lm_eval_cache), so a killed run
    keeps its cached responses."""
    config = OpenLLMConfig.model_validate({k: v for k, v in step.config.items() if k != "version"})
    limit = config.limit
    limit = int(limit) if limit is not None and limit >= 1 else limit
    result = run_openllm(inputs["model"], config.task_specs(), out, batch_size=config.batch_size,
                         device=config.device, chat_template=config.chat_template, limit=limit, threads=ctx.threads,
                         local_data=config.local_data, cache_dir=ctx.store.root / "lm_eval_cache",
                         backend=config.backend, offline=config.offline)
    primary = {name: {"metric": c["primary"], **c["metrics"][c["primary"]]} for name, c in result["tasks"].items()}
    return {"openllm": {"primary": primary, "average": result["average"], "wall_s": result["wall_s"],
                        "checkpoint_fingerprint": result["checkpoint_fingerprint"]}}


def _validate(tasks: Sequence[TaskSpec]) -> list[TaskSpec]:
    specs = [t if isinstance(t, TaskSpec) else TaskSpec.model_validate(t) for t in tasks]
    if not specs:
        raise ValueError("run_openllm: no tasks")
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"openllm task names must be unique; repeated: {dupes}")
    for spec in specs:
        check_options(spec)
    return specs


def checkpoint_fingerprint(checkpoint_dir: Path) -> str:
    """sha256 over the checkpoint's files (names and contents; files over 64 MiB: size, head and tail)."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(checkpoint_dir).rglob("*") if p.is_file()):
        h.update(str(path.relative_to(checkpoint_dir)).encode() + b"\0")
        size = path.stat().st_size
        with path.open("rb") as fh:
            if size <= 64 << 20:
                h.update(fh.read())
            else:
                h.update(str(size).encode() + fh.read(8 << 20))
                fh.seek(-(8 << 20), os.SEEK_END)
                h.update(fh.read())
    return h.hexdigest()


def _task_manager(prepared: list[PreparedTask], tasks_dir: Path, include_paths: Sequence[Path]) -> Any:
    """lm-eval's TaskManager over our overlay YAMLs (+ extra paths); lm-eval's own tasks only when needed."""
    from lm_eval.tasks import TaskManager

    paths = [str(tasks_dir), *(str(p) for p in include_paths)]
    manager = TaskManager(include_path=paths, include_defaults=False)
    wanted = {t: item.spec.name for item in prepared for t in item.lm_tasks}
    if any(t not in manager.all_tasks for t in wanted):
        manager = TaskManager(include_path=paths, include_defaults=True)
    unknown = [t for t in wanted if t not in manager.all_tasks]
    if unknown:
        hints = {t: difflib.get_close_matches(t, manager.all_tasks, n=3) for t in unknown}
        raise ValueError("; ".join(f"openllm task '{wanted[t]}': lm-eval knows no task or group '{t}'"
                                   + (f" (close: {', '.join(hints[t])})" if hints[t] else "") for t in unknown))
    return manager


def _load_tasks(prepared: list[PreparedTask], manager: Any) -> dict[str, Any]:
    """lm-eval Task/Group objects by lm-eval name (this loads the datasets); shot counts set per task."""
    loaded = {}
    for item in prepared:
        for lm_task in item.lm_tasks:
            try:
                out = manager.load([lm_task])
            except Exception as exc:  # datasets/hub/file errors: name the task and the override
                if not item.spec.is_catalog:
                    raise OpenLLMDataError(f"openllm task '{item.spec.name}': lm-eval task '{lm_task}' failed to "
                                           f"load ({type(exc).__name__}: {exc})"[:800]) from exc
                local = item.data.get(lm_task, {}).get("dir")
                raise data_error(item.spec.name, hub_of(lm_task), Path(local) if local else None, exc) from exc
            obj = out.get("groups", {}).get(lm_task) or out["tasks"].get(lm_task)
            if obj is None:  # a tag: several unrelated tasks, no aggregate to report
                raise ValueError(f"openllm task '{item.spec.name}': '{lm_task}' is an lm-eval tag; list its tasks "
                                 f"one per column: {', '.join(sorted(out['tasks']))}")
            if item.num_fewshot is not None:
                for task in out["tasks"].values():
                    task.set_config(key="num_fewshot", value=item.num_fewshot)
            loaded[lm_task] = obj
    return loaded


def check_backend(backend: Backend) -> None:
    """`vllm`: lm-eval's vLLM model class must import (it also checks vLLM's distribution by name)."""
    if backend != "vllm":
        return
    try:
        from lm_eval.models.vllm_causallms import VLLM  # noqa: F401
        import vllm  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(f"openllm backend 'vllm' needs vllm as lm-eval finds it ({exc}): "
                           "pip install -e '.[vllm]' on a GPU machine, or use backend: hf") from exc


def _load_model(checkpoint_dir: Path, backend: Backend, device: str, batch_size: int | str, dtype: str,
                chat_template: bool) -> Any:
    if backend == "vllm":
        check_backend(backend)
        from lm_eval.models.vllm_causallms import VLLM
        lm: Any = VLLM(pretrained=str(checkpoint_dir), batch_size=batch_size, dtype=dtype)
    else:
        from lm_eval.models.huggingface import HFLM
        lm = HFLM(pretrained=str(checkpoint_dir), device=device, batch_size=batch_size, dtype=dtype)
    if chat_template and not getattr(getattr(lm, "tokenizer", None), "chat_template", None):
        raise ValueError(f"{checkpoint_dir}: chat_template is on but the checkpoint's tokenizer has no chat template")
    return lm


def _evaluate(lm: Any, prepared: list[PreparedTask], loaded: dict[str, Any], manager: Any, cache: Path,
              out_dir: Path, limit: int | float | None, batch_size: int | str, device: str, chat_template: bool,
              multiturn: bool, gen_kwargs: dict | None, bootstrap_iters: int) -> tuple[dict, list[dict]]:
    """One simple_evaluate call per shot count; results merged, samples written per lm-eval task."""
    from lm_eval import simple_evaluate

    by_shots: dict[int | None, list[PreparedTask]] = defaultdict(list)
    for item in prepared:
        by_shots[item.num_fewshot].append(item)
    merged: dict[str, dict] = defaultdict(dict)
    groups = []
    column_of = {t: item.spec.name for item in prepared for t in item.lm_tasks}
    for shots, items in sorted(by_shots.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        start = time.perf_counter()
        names = [t for item in items for t in item.lm_tasks]
        raw = simple_evaluate(model=lm, tasks=[loaded[t] for t in names], num_fewshot=shots, batch_size=batch_size,
                              device=device, use_cache=str(cache / "responses"), limit=limit, log_samples=True,
                              apply_chat_template=chat_template, fewshot_as_multiturn=multiturn,
                              gen_kwargs=gen_kwargs, bootstrap_iters=bootstrap_iters, task_manager=manager)
        if raw is None:
            raise RuntimeError("lm-eval returned no results (not rank 0?)")
        samples = write_samples(raw.pop("samples", {}), column_of, out_dir / "samples")
        for key in ("results", "groups", "n-samples", "n-shot", "versions", "higher_is_better", "group_subtasks",
                    "configs"):
            merged[key].update(raw.get(key) or {})
        groups.append({"num_fewshot": shots, "tasks": [item.spec.name for item in items], "samples": samples,
                       "wall_s": round(time.perf_counter() - start, 3)})
    from lm_eval.utils import handle_non_serializable
    (out_dir / "lm_eval_results.json").write_text(
        json.dumps(merged, indent=1, default=handle_non_serializable, ensure_ascii=False) + "\n")
    return merged, groups


def _template_name(checkpoint_dir: Path) -> str | None:
    path = checkpoint_dir / "sftbench_template.json"
    return json.loads(path.read_text()).get("name") if path.is_file() else "tokenizer's own"


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(package)
    except PackageNotFoundError:
        return None


@contextlib.contextmanager
def _hf_offline(offline: bool | None) -> Iterator[None]:
    """`suites.torch_setup.hf_offline` plus the datasets library's own copy of the flag (read at import)."""
    if not offline:
        yield
        return
    import datasets.config as ds_config
    from sftbench.suites.models.torch_setup import hf_offline

    saved = {name: getattr(ds_config, name) for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
             if hasattr(ds_config, name)}
    for name in saved:
        setattr(ds_config, name, True)
    try:
        with hf_offline():
            yield
    finally:
        for name, value in saved.items():
            setattr(ds_config, name, value)


_ENV_INFO: dict[str, Any] = {}


@contextlib.contextmanager
def _env_info_once() -> Iterator[None]:
    """lm-eval collects environment info (a `pip list` subprocess, ~3 s) in every simple_evaluate call: once per
    process is enough."""
    import lm_eval.evaluator as evaluator

    original = evaluator.add_env_info

    def cached(storage: dict[str, Any]) -> None:
        if not _ENV_INFO:
            probe: dict[str, Any] = {}
            original(probe)
            _ENV_INFO.update(probe)
        storage.update(_ENV_INFO)

    evaluator.add_env_info = cached
    try:
        yield
    finally:
        evaluator.add_env_info = original


@contextlib.contextmanager
def _quiet_lm_eval() -> Iterator[None]:
    """lm-eval logs every task and setting at INFO, and each left truncation and shot override as a warning."""
    from sftbench.suites.models.torch_setup import quiet_hf

    logger = logging.getLogger("lm_eval")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with quiet_hf():
            yield
    finally:
        logger.setLevel(level)
