"""`sftbench build`: one builder on one pool, outside any suite.

The pool is `world` (the built-in world), a hub source name (`alpaca`, `evol_instruct_70k`, `lima`, `ism_sda`),
a GitHub-pinned release (`ism_sda_1k`, `ism_sda_heldout`), `NAME=PATH` (a local copy of one), or a local file in any layout datasets_builders/formats.py reads. The dataset
goes to OUT (JSONL), sidecars (e.g. rater scores) to OUT.<name>.jsonl, and the card to OUT.card.json.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from sftbench.datasets_builders.builders.base import BuildContext
from sftbench.datasets_builders.card import make_card
from sftbench.datasets_builders.registry import get_builder, parse_params, prompt_ids, roles_used
from sftbench.common.rows import Row, write_jsonl
from sftbench.suites.data.steps import build_warnings, warn
from sftbench.suites.engine.roles import RoleSession, RolesSpec

OUT_FIELDS = ("instruction", "input", "output", "messages")


def load_roles_file(path: str | Path) -> RolesSpec:
    """A YAML file shaped like a suite's `roles:` section (teacher / rater / judge)."""
    from pydantic import ValidationError
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ValueError(f"{where}: --roles is not a YAML roles file ({getattr(exc, 'problem', exc)}); give a file "
                         "with a suite-style `roles:` section") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: --roles must be a YAML mapping with a `roles:` section")
    try:
        return RolesSpec.model_validate(data.get("roles", data))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{path}: roles.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def _pool(pool: str, skip_bad_rows: bool, cache_dir: Path | None) -> tuple[list[Row], dict[str, Any], dict]:
    """(rows, card info, BuildContext extras) of the --pool argument."""
    if pool == "world":
        from sftbench.datasets_builders import world
        rows = world.make_pool(20000, seed=0)
        extras = {"curated": world.make_curated(1000, seed=1), "skills": world.SKILL_NAMES,
                  "query_types": world.QUERY_TYPES}
        return rows, {"source": "world", "rows": len(rows)}, extras
    from sftbench.datasets_builders.pools import pool_from_arg
    loaded = pool_from_arg(pool, skip_bad_rows=skip_bad_rows, cache_dir=cache_dir)
    return loaded.rows, loaded.info, {}


def build_to_file(builder: str, pool: str, out: Path, k: int | None, params: dict[str, Any], seed: int = 0,
                  roles: RolesSpec | None = None, skip_bad_rows: bool = False,
                  cache_dir: Path | None = None, progress: bool = True) -> dict:
    """Build one dataset into `out` (+ `out`.card.json); roles default to the world's stand-ins."""
    out = Path(out)
    if out.is_dir():
        raise IsADirectoryError(f"--out {out} is a directory; give the dataset's file path, e.g. {out / 'dataset.jsonl'}")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out {out}: the folder {out.parent} does not exist; create it first")
    module = get_builder(builder)
    if k is not None:
        params = {**params, module.SIZE_FIELD: k}
    parsed = parse_params(builder, params)
    rows, pool_info, extras = _pool(pool, skip_bad_rows, cache_dir)
    out = Path(out)
    with RoleSession(roles or RolesSpec(), out.parent, progress=progress) as session:
        live = {r: session.get(r) for r in roles_used(builder, parsed)}
        before = session.cost_snapshot()
        ctx = BuildContext(seed=seed, teacher=live.get("teacher"), rater=live.get("rater"), progress=progress,
                           cache_dir=cache_dir, **extras)
        result = module.build(rows, parsed, ctx)
        cost = session.cost_since(before)
    if not result.rows:
        raise ValueError(f"builder '{builder}' selected no rows from {pool}; loosen its params")
    card = make_card(result.rows, builder, parsed.model_dump(mode="json"), pool_info, result.info, seed)
    card["prompt_ids"] = prompt_ids(builder, parsed, (roles or RolesSpec()).providers())
    if cost is not None:
        card["llm_cost"] = cost
    if warnings := build_warnings(builder, parsed, len(result.rows), {**pool_info, "rows": len(rows)}):
        for message in warnings:
            warn(message)
        card["warnings"] = warnings
    _write_together(out, [{f: r[f] for f in OUT_FIELDS if f in r} for r in result.rows], result.sidecars, card)
    return card


def _write_together(out: Path, rows: list[Row], sidecars: dict[str, list[dict]], card: dict) -> None:
    """The dataset, its sidecars and its card, each written to a temporary name first and renamed only when all
    are complete: a failure leaves none of them (and no half-written file) behind."""
    files = {out: rows, **{out.with_name(f"{out.name}.{name}.jsonl"): side for name, side in sidecars.items()}}
    tmp = {path: path.with_name(f".{path.name}.{os.getpid()}.tmp") for path in [*files, _card_path(out)]}
    try:
        for path, content in files.items():
            write_jsonl(tmp[path], content)
        tmp[_card_path(out)].write_text(json.dumps(card, indent=2, default=str) + "\n")
        for path in files:  # the card last: a dataset with a card is a complete one
            os.replace(tmp[path], path)
        os.replace(tmp[_card_path(out)], _card_path(out))
    finally:
        for t in tmp.values():
            t.unlink(missing_ok=True)


def _card_path(out: Path) -> Path:
    return Path(f"{out}.card.json")
