"""A finished plan -> the leaderboard's results table: per checkpoint, the dataset's card and training provenance,
and what every enabled evaluation measured (each plugin's `result`), plus the evaluations' suite-wide results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sftbench.common.jsonio import read_json
from sftbench.leaderboard.results import ResultsTable, Run, fingerprint_sha
from sftbench.suites.engine.plan import Plan, enabled_evaluations
from sftbench.suites.engine.schema import BASE_ROW
from sftbench.suites.engine.step import gpus_used
from sftbench.suites.engine.store import StepKey


def collect_results(plan: Plan, exports: Path | None = None) -> ResultsTable:
    """The results table; with `exports`, also every evaluation's outputs in its own tools' format there."""
    store, base = plan.store, plan.base
    base_model = f"{base.name}@{base.hash}" if base is not None else "unknown"
    evaluations = enabled_evaluations(plan.suite)
    table = ResultsTable(plan.suite.name, [])
    contamination = {dataset: _contamination(plan, dataset) for dataset in plan.built}  # once per dataset
    for (dataset, seed), keys in plan.results.items():
        card = read_json(store.path(plan.training_data[dataset]) / "card.json")  # of the rows it trained on
        train_key = plan.trained[(dataset, seed)]
        train = store.manifest(train_key)
        recipe = train["config"]["recipe"]
        run = Run(dataset, seed, base_model, {}, info={"builder": card["builder"], "size": card["size"],
                                                       "train_resp_words": card["response_length"]["mean_words"],
                                                       **_costs(plan, plan.built[dataset], train_key, train, keys),
                                                       **contamination[dataset]},
                  provenance={"card_sha256": card["content_sha256"], "builder": card["builder"], "recipe": recipe,
                              # recipe_sha leaves the seed out: the same recipe for every seed
                              "recipe_sha": fingerprint_sha({k: v for k, v in recipe.items() if k != "seed"}),
                              "template": train["config"].get("template"),
                              "base_model": {"name": base.name if base else None,
                                             "step": base.dirname if base else None,
                                             "revision": (base.config.get("revision") if base else None)
                                             or (base.hash if base else None)},
                              "steps": {"build": plan.built[dataset].dirname, "train": train_key.dirname,
                                        **({"decontaminated": plan.training_data[dataset].dirname}
                                           if plan.training_data[dataset] != plan.built[dataset] else {})},
                              "git_revision": train.get("git_revision")})
        for plugin, spec in evaluations:
            if plugin.name not in keys:
                continue
            step = plan.step(keys[plugin.name])
            evaluated = plugin.result(store, step, spec)
            run.evaluations[plugin.name] = evaluated
            table.anchors.update(plugin.anchors(store, step))
            if exports is not None:
                plugin.export(store, step, spec, exports / evaluated.benchmark)
        table.runs.append(run)
    if plan.untuned:
        table.runs.append(_untuned_run(plan, base_model, evaluations, table, exports))
    for plugin, spec in evaluations:
        if plugin.name in plan.finals:
            found = plugin.suite_result(store, plan.step(plan.finals[plugin.name]))
            if found is not None:
                table.noise_floors[found[0]] = found[1]
    single_fingerprints(table)
    return table


def _contamination(plan: Plan, dataset: str) -> dict[str, Any]:
    """The dataset's overlap with the suite's evaluation prompts (None: not checked): rows flagged, and per
    evaluation the exact and 13-gram counts; with decontaminate, what was dropped before training."""
    if dataset not in plan.checked:
        return {}
    from sftbench.suites.data.contamination_step import REPORT
    report = read_json(plan.store.path(plan.checked[dataset]) / REPORT)
    decontaminated = plan.checked[dataset] == plan.training_data[dataset]
    return {"contaminated_rows": 0 if decontaminated else report["contaminated_rows"],
            "decontaminated_rows": report["contaminated_rows"] if decontaminated else None,
            "contamination": {name: {k: v for k, v in entry.items() if not k.endswith("_rows")}
                              for name, entry in report["by_eval"].items()}}


def _costs(plan: Plan, build: StepKey, train_key: StepKey, train: dict, results: dict[str, StepKey]) \
        -> dict[str, float | None]:
    """What one checkpoint cost: the LLM $ of building its dataset (teacher, rater, refine calls; the same for every
    seed), the training's wall and GPU hours, and the LLM $ of its own evaluation steps (judging, answers; not the
    suite-wide ones such as the length-control table). None where no LLM was priced (world roles, local models)."""
    run_name = train_key.name
    def usd(manifest: dict) -> float | None:
        cost = manifest.get("llm_cost") or {}
        used = cost.get("calls") or cost.get("cached_calls")
        return float(cost.get("usd") or 0.0) if used else None  # None: no LLM call at all

    hours = float(train.get("wall_time_s") or 0.0) / 3600
    gpus = gpus_used(plan.step(train_key), train)
    evaluated: set[str] = set()
    todo = [plan.step(k) for k in results.values()]
    eval_usd: float | None = None
    while todo:
        step = todo.pop()
        if step.key.dirname in evaluated or step.key.name != run_name:  # suite-wide steps are nobody's own
            continue
        evaluated.add(step.key.dirname)
        spent = usd(plan.store.manifest(step.key))
        if spent is not None:
            eval_usd = (eval_usd or 0.0) + spent
        todo += [plan.step_by_dir(d) for d in step.deps.values() if plan.step_by_dir(d) is not None]
    return {"build_usd": usd(plan.store.manifest(build)), "train_hours": hours, "train_gpu_hours": hours * gpus,
            "eval_usd": eval_usd}


def _untuned_run(plan: Plan, base_model: str, evaluations: list, table: ResultsTable, exports: Path | None) -> Run:
    """`evaluation.include_base`: the base model's row (its own untuned checkpoint, seed 0)."""
    run = Run(BASE_ROW, 0, base_model, {}, info={"builder": "none (untuned base model)", "size": 0},
              provenance={"base_model": {"name": plan.base.name if plan.base else None,
                                         "step": plan.base.dirname if plan.base else None}, "untuned": True,
                          "template": plan.suite.template, "steps": {}})
    for plugin, spec in evaluations:
        if plugin.name in plan.untuned:
            step = plan.step(plan.untuned[plugin.name])
            run.evaluations[plugin.name] = plugin.result(plan.store, step, spec)
            table.anchors.update(plugin.anchors(plan.store, step))
            if exports is not None:
                plugin.export(plan.store, step, spec, exports / run.evaluations[plugin.name].benchmark)
    return run


def single_fingerprints(table: ResultsTable) -> None:
    """Results with different fingerprints (judges, lm-eval versions) never share a leaderboard column."""
    seen: dict[str, dict[str, list[str]]] = {}
    for run in table.runs:
        for name, ev in run.evaluations.items():
            key = json.dumps(ev.fingerprint, sort_keys=True, default=str)
            seen.setdefault(ev.benchmark, {}).setdefault(key, []).append(ev.steps.get("judge") or
                                                                            f"{run.dataset}-s{run.seed}")
    for benchmark, fingerprints in seen.items():
        if len(fingerprints) > 1:
            detail = "; ".join(f"{fp} <- {', '.join(dirs)}" for fp, dirs in fingerprints.items())
            raise ValueError(f"{benchmark}: results have different judge fingerprints (or harness versions) and cannot "
                             "share a leaderboard "
                             f"column (did the judge's server report another model?): {detail}. Delete the stale "
                             "steps under the runs directory, or run with a pinned judge, and run again")


__all__ = ["collect_results", "single_fingerprints"]
