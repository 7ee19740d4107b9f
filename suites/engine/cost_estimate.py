"""Before any paid call: how many LLM calls the steps still to run will make, and what they may cost."""

from __future__ import annotations

from typing import Any

from sftbench.datasets_builders.registry import expected_calls, parse_params
from sftbench.suites.engine.plan import Plan
from sftbench.suites.evaluations import registered
from sftbench.suites.engine.roles import llm_config

# Rough characters of filled-in content per call (rows, outputs), on top of each role's prompt template.
CONTENT_CHARS = {"teacher": 200, "rater": 600, "judge": 1500}


def pending_calls(plan: Plan) -> dict[str, int]:
    """LLM calls per role that the not-yet-cached steps will make (parse re-asks excluded)."""
    suite, calls = plan.suite, {"teacher": 0, "rater": 0, "judge": 0}
    specs = {d.name: d for d in suite.datasets}
    sections = [(plugin, suite.evaluation_section(plugin.name)) for plugin in registered()]
    for step in plan.steps:
        if plan.store.is_done(step.key):
            continue
        found: dict[str, int] = {}
        if step.key.kind == "build":
            spec = specs[step.key.name]
            found = expected_calls(spec.builder, parse_params(spec.builder, spec.params), pool_size(suite))
        for plugin, section in sections:
            if section is not None:
                for role, n in plugin.expected_calls(suite, section, step).items():
                    found[role] = found.get(role, 0) + n
        for role, n in found.items():
            calls[role] = calls.get(role, 0) + n
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
