"""Before any paid call: how many LLM calls the steps still to run will make, and what they may cost."""

from __future__ import annotations

import math
from typing import Any

from sftbench.datasets_builders.registry import expected_calls, parse_params
from sftbench.suites.engine.plan import Plan
from sftbench.suites.engine.roles import llm_config

# Rough characters of filled-in content per call (rows, outputs), on top of each role's prompt template.
CONTENT_CHARS = {"teacher": 200, "rater": 600, "judge": 1500}
ALPACA_EVAL_PROMPTS, MT_BENCH_QUESTIONS, WILDBENCH_TASKS = 805, 80, 1024


def pending_calls(plan: Plan) -> dict[str, int]:
    """LLM calls per role that the not-yet-cached steps will make (parse re-asks excluded)."""
    suite, calls = plan.suite, {"teacher": 0, "rater": 0, "judge": 0}
    specs = {d.name: d for d in suite.datasets}
    n_eval = suite.world.eval_prompts
    for step in plan.steps:
        if plan.store.is_done(step.key):
            continue
        kind = step.key.kind
        if kind == "build":
            spec = specs[step.key.name]
            pool_rows = pool_size(suite)
            for role, n in expected_calls(spec.builder, parse_params(spec.builder, spec.params), pool_rows).items():
                calls[role] = calls.get(role, 0) + n
        elif kind == "lctable":
            calls["judge"] += 2 * n_eval
        else:
            calls["judge"] += judge_calls(suite, kind)
    return calls


def pool_size(suite: Any) -> int:
    """Rows in the suite's pool, known before it is loaded: the world's size, or a hub release's row count
    (a local copy or an unknown release: 0, so builders that call an LLM per pool row are under-counted)."""
    from sftbench.datasets_builders.pools import GITHUB_SOURCES, HUB_SOURCES
    pool = suite.pool
    if pool.source == "world":
        return suite.world.pool_size
    hub = HUB_SOURCES.get(pool.source) or GITHUB_SOURCES.get(pool.source)
    return hub.rows or 0 if hub is not None and pool.path is None else 0


def judge_calls(suite: Any, kind: str) -> int:
    """Judge calls one pending evaluation step makes (upper bounds where the data decides: full sets)."""
    ev = suite.evaluation
    if kind == "judge":
        return suite.world.eval_prompts
    if kind == "aejudge":
        return ev.alpaca_eval.max_instances or ALPACA_EVAL_PROMPTS
    if kind == "mtjudge":
        return 2 * MT_BENCH_QUESTIONS
    if kind == "wbjudge":
        wb = ev.wildbench
        return (wb.max_tasks or WILDBENCH_TASKS) * (1 + len(wb.references))
    if kind == "noisefloor":
        return suite.leaderboard.noise_floor_sample
    if kind == "train":
        from sftbench.suites.engine.schema import resolved_recipe_and_template
        recipe, _ = resolved_recipe_and_template(suite, 0)
        if recipe.select == "best_heldout":
            return ev.heldout.n * math.ceil(recipe.epochs)  # one held-out judging per epoch
    return 0


def estimate(plan: Plan) -> dict[str, dict[str, Any]]:
    """Per LLM role: pending calls and worst-case USD (None when the model has no price, 0 for local models)."""
    from sftbench.judges.llm import estimate_role_usd
    out = {}
    for role, calls in pending_calls(plan).items():
        spec = getattr(plan.suite.roles, role)
        if spec.provider == "world" or calls == 0:
            continue
        cfg = llm_config(role, spec)
        usd = 0.0 if spec.provider in ("local", "llamacpp_server", "vllm_server") else \
            estimate_role_usd(role, cfg, calls, CONTENT_CHARS[role])
        out[role] = {"provider": spec.provider, "model": cfg.resolved(role).model, "calls": calls, "usd": usd}
    return out
