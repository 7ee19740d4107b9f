"""Execute a plan: run every step not already in the store, then write the leaderboard."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable

from rich.console import Console

from sftbench.suites.engine import steps
from sftbench.suites.engine.plan import RESUME_DIR, Plan
from sftbench.suites.engine.store import write_json_atomic

console = Console(stderr=True)


def status(plan: Plan) -> list[tuple[str, str, bool]]:
    """(directory, label, done) for every step."""
    return [(s.key.dirname, s.label, plan.store.is_done(s.key)) for s in plan.steps]


def preflight(plan: Plan) -> None:
    """What the steps still to run need from this machine (QLoRA's bitsandbytes, a vLLM backend for generation
    or OpenLLM), checked before the first step rather than hours in. Packages are checked, not their hardware
    build: a CUDA vLLM on a machine without a GPU still fails when it starts."""
    pending = {s.key.kind for s in plan.steps if not plan.store.is_done(s.key)}
    if "train" in pending:
        from sftbench.suites.engine.schema import resolved_recipe_and_template
        from sftbench.suites.models.train import check_runtime
        check_runtime(resolved_recipe_and_template(plan.suite, plan.suite.seeds[0])[0])
    if pending & {"generate", "mtanswers", "wbanswers"}:
        from sftbench.suites.models.generate import resolve_backend
        resolve_backend(plan.suite.generation.backend)
    if "openllm" in pending and plan.suite.evaluation.openllm is not None:
        from sftbench.suites.evaluations.openllm.run import check_backend
        check_backend(plan.suite.evaluation.openllm.backend)


def execute(plan: Plan, say: Callable[[str], None] = console.print) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    preflight(plan)
    removed = plan.store.clean_partial()
    if removed:
        say(f"[yellow]removed {len(removed)} unfinished step(s) from an interrupted run[/]")
    total = len(plan.steps)
    with plan.session as session:
        for i, step in enumerate(plan.steps, start=1):
            prefix = f"[{i:>2}/{total}] {step.label}"
            if plan.store.is_done(step.key):
                say(f"{prefix} [dim]cached[/]")
                continue
            start = time.time()
            with plan.store.writing(step.key, seed=step.seed) as (out, extra):
                snapshot = session.cost_snapshot()
                stats = step.run(out, extra)
                if stats:
                    extra.update(stats)
                cost = session.cost_since(snapshot)
                if cost is not None:
                    extra["llm_cost"] = cost
            shutil.rmtree(plan.store.root / RESUME_DIR / step.key.dirname, ignore_errors=True)
            say(f"{prefix} [green]done[/] ({time.time() - start:.1f}s)")


def collect_results(plan: Plan) -> list[dict]:
    records = []
    for (dataset, seed), key in plan.judged.items():
        metrics = steps.read_json(plan.store.path(key) / "metrics.json")
        card = steps.read_json(plan.store.path(plan.built[dataset]) / "card.json")
        record = {"dataset": dataset, "builder": card["builder"], "seed": seed, "size": card["size"],
                  "train_mean_words": card["response_length"]["mean_words"],
                  "card_sha256": card["content_sha256"], "judge_step": key.dirname, **metrics}
        if (dataset, seed) in plan.openllm:
            record["openllm"] = openllm_scores(plan.store.path(plan.openllm[(dataset, seed)]))
        if (dataset, seed) in plan.mt_bench:
            from sftbench.suites.evaluations.mt_bench.steps import summary
            record["mt_bench"] = summary(plan.store.path(plan.mt_bench[(dataset, seed)]))
        if (dataset, seed) in plan.wildbench:
            from sftbench.suites.evaluations.wildbench import steps as wildbench_steps
            record["wildbench"] = wildbench_steps.summary(plan.store.path(plan.wildbench[(dataset, seed)]))
        records.append(record)
    return records


def openllm_scores(step_dir: Path) -> dict:
    """Headline lm-eval numbers of one checkpoint: {task: {metric, value, stderr, n}} plus the average."""
    results = steps.read_json(step_dir / "openllm_results.json")
    return {row["task"]: {k: row.get(k) for k in ("metric", "value", "stderr", "n")}
            for row in results["table"] if row.get("primary") or row["task"] == "average"}


def single_judge_fingerprint(plan: Plan) -> dict:
    """The judge fingerprint shared by every judged result; different fingerprints never share a column."""
    seen: dict[str, list[str]] = {}
    fingerprint: dict = {}
    for key in plan.judged.values():
        manifest = steps.read_json(plan.store.path(key) / "manifest.json")
        fingerprint = manifest.get("judge_fingerprint", manifest["config"]["judge"])
        seen.setdefault(json.dumps(fingerprint, sort_keys=True), []).append(key.dirname)
    if len(seen) > 1:
        detail = "; ".join(f"{fp} <- {', '.join(dirs)}" for fp, dirs in seen.items())
        raise ValueError(f"judged results have different judge fingerprints and cannot share a leaderboard column "
                         f"(did the judge's server report another model?): {detail}. Delete the stale judge steps "
                         "under the runs directory, or run with a pinned judge, and run again")
    return fingerprint


def write_leaderboard(plan: Plan) -> tuple[str, Path]:
    """Results -> runs/<suite>/results.json, then every leaderboard format (leaderboard/report.py)."""
    from sftbench.leaderboard.report import write_reports
    from sftbench.leaderboard.stats import Settings
    records = collect_results(plan)
    single_judge_fingerprint(plan)
    root = plan.store.root
    write_json_atomic(root / "results.json", records)
    _, md = write_reports(root, Settings.from_spec(plan.suite.leaderboard), progress=True)
    return md, root
