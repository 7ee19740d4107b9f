"""The LLM roles a suite configures (teacher, rater, judge): identities for step hashes, and live roles for a run.

World roles are built directly. LLM roles (judges/llm) share one SQLite response cache and one cost ledger per
suite; managed local servers are started on first use of any role that needs one and stopped when the run ends,
so a fully cached run starts no server.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sftbench.common.rows import write_jsonl

ROLE_NAMES = ("teacher", "rater", "judge")
MANAGED = ("llamacpp_server", "vllm_server")


class RoleSpec(BaseModel):
    """`world`: the built-in world's stand-in; otherwise an LLM client (judges/llm), `params` = LLMRoleConfig."""
    model_config = ConfigDict(extra="forbid")
    provider: Literal["world", "openai", "openai_compatible", "anthropic", "local", "llamacpp_server",
                      "vllm_server"] = "world"
    params: dict[str, Any] = Field(default_factory=dict)


class RolesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    teacher: RoleSpec = RoleSpec()
    rater: RoleSpec = RoleSpec()
    judge: RoleSpec = RoleSpec()

    def providers(self) -> dict[str, str]:
        """Role -> provider ("world" or an LLM provider)."""
        return {name: getattr(self, name).provider for name in type(self).model_fields}


def _world_role(role: str, spec: RoleSpec) -> Any:
    from sftbench.datasets_builders import world
    cls = {"teacher": world.WorldTeacher, "rater": world.WorldRater, "judge": world.WorldVerifierJudge}[role]
    try:
        return cls(**spec.params)
    except TypeError as exc:
        raise ValueError(f"roles.{role}.params: {exc}; see {cls.__name__} for accepted parameters") from None


def llm_config(role: str, spec: RoleSpec) -> Any:
    """The LLMRoleConfig of an LLM role; errors raise ValidationError (located by the schema)."""
    from sftbench.judges.llm import LLMRoleConfig
    return LLMRoleConfig(provider=spec.provider, **spec.params)


def role_errors(roles: RolesSpec) -> list[tuple[tuple, str]]:
    problems: list[tuple[tuple, str]] = []
    for role in ROLE_NAMES:
        spec = getattr(roles, role)
        try:
            _world_role(role, spec) if spec.provider == "world" else llm_config(role, spec)
        except ValidationError as exc:
            problems += [(("roles", role, "params", *e["loc"]), e["msg"]) for e in exc.errors()]
        except ValueError as exc:
            problems.append((("roles", role, "params"), str(exc).split(": ", 1)[-1]))
    return problems


def role_identity(role: str, spec: RoleSpec) -> dict:
    """What decides a role's answers (for step hashes), known before any server starts."""
    if spec.provider == "world":
        return _world_role(role, spec).fingerprint
    return llm_config(role, spec).identity(role)


class RoleSession:
    """Live roles for one run. Use as a context manager; `get(name)` builds a role on first use."""

    def __init__(self, roles: RolesSpec, store_root: Path, max_usd: float | None = None, progress: bool = False,
                 coordination: Path | None = None):
        """`coordination`: a folder shared by every process of the run; then each endpoint's concurrency and the
        budget hold for all of them together (judges/llm/shared.py)."""
        self.specs = {name: getattr(roles, name) for name in ROLE_NAMES}
        self.root, self.max_usd, self.progress = Path(store_root), max_usd, progress
        self._roles: dict[str, Any] = {}
        self._stack = ExitStack()
        self._pool: Any = None
        self._live: dict[str, Any] | None = None
        self.ledger: Any = None
        if any(s.provider != "world" for s in self.specs.values()):
            from sftbench.judges.llm import ClientPool, CostLedger, ResponseCache
            self.root.mkdir(parents=True, exist_ok=True)
            prices: dict[str, Any] = {}  # every role's price overrides, also for clients made outside make_llm_role
            for name, spec in self.specs.items():
                if spec.provider != "world":
                    prices.update({m: p.model_dump() for m, p in llm_config(name, spec).prices.items()})
            self.ledger = CostLedger(prices=prices, max_usd=max_usd)
            self._pool = ClientPool(ResponseCache(self.root / "llm_cache.sqlite"), self.ledger)
            if coordination is not None:
                from sftbench.judges.llm.shared import SharedBudget
                self._pool.coordination = Path(coordination)
                if max_usd is not None:
                    self.ledger.shared = SharedBudget(Path(coordination) / "budget.json", max_usd)

    def __enter__(self) -> "RoleSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            self._pool.close()
        self._stack.close()

    def _llm_configs(self) -> dict[str, Any]:
        """Every LLM role's config, with managed servers started together (roles on one model share a server)."""
        if self._live is None:
            from sftbench.judges.llm import managed_endpoints
            cfgs = {n: llm_config(n, s) for n, s in self.specs.items() if s.provider != "world"}
            self._live = self._stack.enter_context(managed_endpoints(cfgs, log_dir=self.root / "servers"))
        return self._live

    def get(self, name: str) -> Any:
        if name not in self._roles:
            spec = self.specs[name]
            if spec.provider == "world":
                self._roles[name] = _world_role(name, spec)
            else:
                from sftbench.judges.llm import make_llm_role
                self._roles[name] = make_llm_role(name, self._llm_configs()[name], self._pool.cache, self.ledger,
                                                  clients=self._pool, progress=self.progress)
        return self._roles[name]

    def get_uncached(self, name: str) -> Any:
        """A role that never answers from the response cache (the judge-noise floor re-judges for real)."""
        spec = self.specs[name]
        if spec.provider == "world":
            return self.get(name)
        from sftbench.judges.llm import make_llm_role
        return make_llm_role(name, self._llm_configs()[name], None, self.ledger, progress=self.progress)

    def llm_client(self, name: str, purpose: str, uncached: bool = False) -> tuple[Any, Any]:
        """(live config, client) of an LLM role, for benchmarks that prompt it with their own templates: the
        shared client, or with `uncached` a client of its own that never answers from the response cache (the
        judge-noise floor re-judges for real)."""
        if self.specs[name].provider == "world":
            raise ValueError(f"{purpose} needs an LLM {name}: set roles.{name} to an LLM provider (the world's "
                             f"stand-in only judges world prompts)")
        cfg = self._llm_configs()[name]
        if uncached:
            from sftbench.judges.llm.factory import make_client
            client = make_client(cfg, None, self.ledger)
            self._stack.callback(client.close)
            return cfg, client
        return cfg, self._pool.get(cfg)

    def cost_snapshot(self) -> dict | None:
        return self.ledger.totals() if self.ledger is not None else None

    def cost_since(self, snapshot: dict | None) -> dict | None:
        return self.ledger.totals_since(snapshot) if self.ledger is not None and snapshot is not None else None


class FailureLog:
    """Collects the parse failures (with raw answers) that LLM roles record during one step into its directory."""

    def __init__(self, **roles: Any):
        self.roles = roles
        self.start = {name: len(getattr(role, "failures", ())) for name, role in roles.items()}

    def write(self, out: Path) -> dict[str, int]:
        counts = {}
        for name, role in self.roles.items():
            new = list(getattr(role, "failures", ()))[self.start[name]:]
            if new:
                write_jsonl(out / f"failures-{name}.jsonl", new)
                counts[name] = len(new)
        return counts
