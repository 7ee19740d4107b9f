"""The data stages: the built-in world (pool, curated set, eval prompts, references) and one competing dataset
per `build` step, from the suite's pool with a registered builder (datasets_builders)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sftbench.common.jsonio import write_json_atomic
from sftbench.common.rows import Row, read_jsonl, write_jsonl
from sftbench.suites.engine.roles import FailureLog
from sftbench.suites.engine.step import Step, StepContext, step_kind


@step_kind("world")
def world_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict:
    from sftbench.datasets_builders import world
    spec = step.config  # WorldSpec fields + the world's version
    pool = world.make_pool(spec["pool_size"], seed=spec["seed"])
    curated = world.make_curated(spec["curated_size"], seed=spec["seed"] + 1)
    prompts = world.make_eval_prompts(spec["eval_prompts"], seed=spec["seed"] + 2,
                                      composition_frac=spec["composition_frac"])
    files = {"pool": pool, "curated": curated, "eval_prompts": prompts,
             "baseline": world.reference_outputs(prompts),
             "baseline_verbose": world.gamed_outputs(prompts, "verbose"),
             "baseline_concise": world.gamed_outputs(prompts, "concise")}
    for name, rows in files.items():
        write_jsonl(out / f"{name}.jsonl", rows)
    return {"rows": {name: len(rows) for name, rows in files.items()}}


def pool_args(pool: Any) -> dict[str, Any]:
    """A suite's `pool` section as step arguments (its content is in the step keys as `pool_inputs`)."""
    return pool.model_dump(mode="json")


def load_pool(pool: dict[str, Any], world_dir: Path) -> tuple[list[Row], dict[str, Any]]:
    """(rows, provenance) of the suite's pool: the world's, or a file / hub source at a pinned revision."""
    if pool["source"] == "world":
        rows = read_jsonl(world_dir / "pool.jsonl")
        return rows, {"source": "world", "rows": len(rows)}
    from sftbench.datasets_builders.pools import load_pool as load_source
    loaded = load_source(pool["source"], Path(pool["path"]) if pool.get("path") else None, pool.get("revision"),
                         pool.get("skip_bad_rows", False))
    return loaded.rows, loaded.info


@step_kind("build")
def build_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict:
    """One competing dataset: `args` = the dataset's spec, the pool, the suite's roles and the ones it uses."""
    from sftbench.datasets_builders import world
    from sftbench.datasets_builders.builders.base import BuildContext
    from sftbench.datasets_builders.card import make_card
    from sftbench.datasets_builders.registry import get_builder, parse_params
    a = step.args
    world_dir = inputs["world"]
    pool, pool_info = load_pool(a["pool"], world_dir)
    params = parse_params(a["builder"], a["params"])
    session = ctx.roles(a["roles"])
    roles = {r: session.get(r) for r in a["uses"]}
    native = a["pool"]["source"] == "world"  # the world's curated set and skill lists go with the world pool only
    build_ctx = BuildContext(seed=step.config["seed"], teacher=roles.get("teacher"), rater=roles.get("rater"),
                             curated=read_jsonl(world_dir / "curated.jsonl") if native else None,
                             skills=world.SKILL_NAMES if native else (),
                             query_types=world.QUERY_TYPES if native else (), progress=ctx.progress)
    failures = FailureLog(**roles)
    result = get_builder(a["builder"]).build(pool, params, build_ctx)
    failed = failures.write(out)
    if not result.rows:
        raise ValueError(f"dataset '{step.key.name}': builder '{a['builder']}' selected no rows; loosen its params")
    write_jsonl(out / "dataset.jsonl", result.rows)
    for name, rows in result.sidecars.items():
        write_jsonl(out / f"{name}.jsonl", rows)
    card = make_card(result.rows, a["builder"], params.model_dump(mode="json"), pool_info, result.info,
                     step.config["seed"])
    if warnings := build_warnings(a["builder"], params, len(result.rows), {**pool_info, "rows": len(pool)}):
        for message in warnings:
            warn(f"dataset '{step.key.name}': {message}")
        card["warnings"] = warnings
    write_json_atomic(out / "card.json", card)
    return {"card": {k: card[k] for k in ("size", "content_sha256")}, "llm_failures": failed,
            "fingerprints": {name: role.fingerprint for name, role in roles.items()}}


def size_shortfall(builder: str, params: Any, selected: int, pool_rows: int) -> str | None:
    """A warning when a builder was asked for more rows than it could select (k larger than the pool, a strict
    threshold): said on the terminal and recorded in the card."""
    from sftbench.datasets_builders.registry import get_builder
    field = getattr(get_builder(builder), "SIZE_FIELD", None)
    wanted = getattr(params, field, None) if field else None
    if not isinstance(wanted, int) or selected >= wanted:
        return None
    return (f"builder '{builder}' was asked for {field}={wanted} rows but selected {selected} (the pool has "
            f"{pool_rows} rows); the dataset is smaller than asked")


def build_warnings(builder: str, params: Any, selected: int, pool_info: dict[str, Any]) -> list[str]:
    """What a build should say about its input and output: rows left out of the pool and why, a size shortfall."""
    where = pool_info.get("path") or pool_info.get("source", "the pool")
    out = []
    if pool_info.get("dropped_empty_rows"):
        n = pool_info["dropped_empty_rows"]
        out.append(f"{where}: left out {n} row{'s' * (n != 1)} with an empty instruction or response")
    if pool_info.get("skipped_bad_rows"):
        n = pool_info["skipped_bad_rows"]
        out.append(f"{where}: skipped {n} malformed row{'s' * (n != 1)} (--skip-bad-rows / pool.skip_bad_rows), e.g. "
                   f"{'; '.join(pool_info.get('skipped_examples', [])[:2])}")
    shortfall = size_shortfall(builder, params, selected, pool_info.get("rows") or 0)
    return out + ([shortfall] if shortfall else [])


def warn(message: str) -> None:
    import sys
    print(f"warning: {message}", file=sys.stderr)


def pool_texts(pool: dict[str, Any], world_dir: Path) -> list[str]:
    from sftbench.datasets_builders.world import pool_text
    return list(pool_text(load_pool(pool, world_dir)[0]))
