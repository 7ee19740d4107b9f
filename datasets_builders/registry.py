"""Builders by name. A new builder is one module in `builders/` plus one line here (imported lazily).

A builder module has `Params`, `build(pool, params, ctx)` and `SIZE_FIELD`, and optionally `ROLES` or `roles(params)`,
`prompts`, `sidecars`, `expected_calls`, and `llm_only(params, world_pool)` (the features only an LLM role serves,
datasets_builders/native.py; `role_problems` reads it).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Mapping

from pydantic import ValidationError

from sftbench.datasets_builders.builders.base import BuilderParams
from sftbench.common.suggest import unknown_name_message

BUILDERS: dict[str, str] = {
    "random": "sftbench.datasets_builders.builders.random_k",
    "full": "sftbench.datasets_builders.builders.full",
    "longest": "sftbench.datasets_builders.builders.longest",
    "alpagasus": "sftbench.datasets_builders.builders.alpagasus",
    "lima": "sftbench.datasets_builders.builders.lima",
    "skillmix": "sftbench.datasets_builders.builders.skillmix",
    "file": "sftbench.datasets_builders.builders.file",
}


class UnknownBuilder(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def get_builder(name: str) -> ModuleType:
    if name not in BUILDERS:
        raise UnknownBuilder(unknown_name_message("builder", name, BUILDERS))
    return importlib.import_module(BUILDERS[name])


def parse_params(name: str, params: dict[str, Any]) -> BuilderParams:
    """Validate a builder's parameters; raises pydantic's ValidationError naming the bad field."""
    return get_builder(name).Params.model_validate(params)


def _parsed(module: ModuleType, params: dict[str, Any] | BuilderParams) -> BuilderParams:
    return params if isinstance(params, BuilderParams) else module.Params.model_validate(params)


def roles_used(name: str, params: dict[str, Any] | BuilderParams | None = None) -> tuple[str, ...]:
    """The LLM roles (teacher, rater) a builder calls: its `roles(params)` when given params, else its ROLES."""
    module = get_builder(name)
    if params is not None and hasattr(module, "roles"):
        return tuple(module.roles(_parsed(module, params)))
    return tuple(getattr(module, "ROLES", ()))


def prompt_ids(name: str, params: dict[str, Any] | BuilderParams,
               providers: Mapping[str, str] | None = None) -> dict[str, str]:
    """Prompt name -> its identity (sha256, or the pinned commit before a first download) for step hashes. With
    `providers` (role -> provider), a build whose every role is the world's reads no prompt: {} (what such a build
    cannot serve without one, `role_problems` refuses)."""
    from sftbench.judges.prompt_registry import prompt_identity
    module = get_builder(name)
    parsed = _parsed(module, params)
    if providers is not None and _all_native(roles_used(name, parsed), providers):
        return {}
    return {str(p): prompt_identity(p) for p in getattr(module, "prompts", lambda _: [])(parsed)}


def _all_native(roles: tuple[str, ...], providers: Mapping[str, str]) -> bool:
    from sftbench.datasets_builders.native import NATIVE_PROVIDER
    return all(providers.get(role, NATIVE_PROVIDER) == NATIVE_PROVIDER for role in roles)


def sidecars(name: str, params: dict[str, Any] | BuilderParams) -> tuple[str, ...]:
    """Names of the extra JSONL files (`<name>.jsonl` next to dataset.jsonl) a build writes: its `sidecars(params)`."""
    module = get_builder(name)
    return tuple(getattr(module, "sidecars", lambda _: ())(_parsed(module, params)))


def expected_calls(name: str, params: dict[str, Any] | BuilderParams, pool_rows: int) -> dict[str, int]:
    """LLM calls per role a build makes at most (for `sftbench plan` estimates); {} for builders that call none."""
    module = get_builder(name)
    if not hasattr(module, "expected_calls"):
        return {}
    return dict(module.expected_calls(_parsed(module, params), pool_rows))


def role_problems(builder: str, params: dict[str, Any] | BuilderParams, providers: Mapping[str, str],
                  pool: str = "world") -> list[str]:
    """Why the roles configured (role -> provider, e.g. {"teacher": "world"}; a role left out is the world's) cannot
    serve this build, each message naming the params field at fault and the fix; [] when they can. `pool` is the
    suite's pool source. Reads params and names only: no download, no role built, no heavy import. Invalid params
    give [] (the schema reports them)."""
    from sftbench.datasets_builders.native import NATIVE_PROVIDER
    module = get_builder(builder)
    if not hasattr(module, "llm_only"):
        return []
    try:
        parsed = _parsed(module, params)
    except ValidationError:
        return []
    used = roles_used(builder, parsed)
    return [p.message() for p in module.llm_only(parsed, world_pool=pool == "world")
            if p.role in used and providers.get(p.role, NATIVE_PROVIDER) == NATIVE_PROVIDER]


def describe() -> dict[str, str]:
    """Builder name -> first line of its docstring, for `sftbench ls`."""
    return {name: (get_builder(name).__doc__ or "").strip().splitlines()[0] for name in BUILDERS}


__all__ = ["BUILDERS", "get_builder", "parse_params", "roles_used", "prompt_ids", "expected_calls", "sidecars",
           "role_problems", "describe", "UnknownBuilder", "ValidationError"]
