"""Before any paid call: the LLM calls the steps still to run will make, per role and step kind, and what they may
cost. `sftbench plan` prints it; `sftbench run` prints it and gates on it (suites/engine/gate.py).

What the estimate counts (its definition; tests/suites/test_cost_gate.py checks it against the ledger):

- calls: every pending step's calls, from the builders' `expected_calls(params, pool_rows)` and every registered
  evaluation's `expected_calls(suite, spec, step)` (judging, the length-control table, the judge-noise floor,
  held-out checkpoint selection, ...). The pool's rows are known for every source: the world's size, a file's
  records (counted without loading it), a hub release's published size, a local copy's records. Parse re-asks,
  retries and answers already in the response cache are not seen (a pending step's cached answers cost nothing).
- tokens per call: the prompt counted like the ledger's reservation of a call, (template + content characters) /
  CHARS_PER_TOKEN plus the per-message overhead, with content: the teacher CONTENT_CHARS, the rater a pool row (a
  file pool's mean record size, else CONTENT_CHARS), the judge two answers of at most `generation.max_new_tokens`
  each (at least CONTENT_CHARS); the completion is the role's max_tokens (every answer as long as allowed).
- USD: at the model's price (a role's `params.prices` over the built-in list prices, ledger.PRICES_AS_OF) per
  call, at sync and at batch prices; `usd` takes each role's own mode (`batch: true`: batch prices). Local models
  cost 0; a model with no price is "unknown" (None) and named in a warning, never counted as $0.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sftbench.datasets_builders.registry import expected_calls, parse_params
from sftbench.suites.engine.plan import Plan
from sftbench.suites.evaluations import registered
from sftbench.suites.engine.roles import llm_config

ROLES = ("teacher", "rater", "judge")
# Characters of filled-in content per call (rows, outputs) on top of each role's prompt template, where nothing
# better is known (see the module docstring).
CONTENT_CHARS = {"teacher": 200, "rater": 600, "judge": 1500}
JUDGE_INSTRUCTION_CHARS = 600   # the request a judge sees besides the two answers
CHARS_PER_TOKEN = 3.0           # the ledger's reservation rule (CostLedger.chars_per_token)
FREE = ("local", "llamacpp_server", "vllm_server")


@dataclass
class Line:
    """One role's calls in one step kind."""
    role: str
    kind: str
    provider: str
    model: str
    calls: int
    prompt_tokens: int          # all calls together
    completion_tokens: int      # all calls together (max_tokens each)
    usd_sync: float | None      # None: no price for the model
    usd_batch: float | None
    batch: bool                 # the role sends its calls through a batch API

    @property
    def usd(self) -> float | None:
        """At the role's own mode."""
        return self.usd_batch if self.batch else self.usd_sync


@dataclass
class RoleTotal:
    role: str
    provider: str
    model: str
    batch: bool
    price_from: str             # "list price (gpt-4o)", "roles.judge.params.prices", "local (free)", "unknown"
    paid: bool                  # a provider that bills (not local; unknown endpoints count as billing)
    local_endpoint: bool        # an openai_compatible endpoint on this machine or a private network
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd_sync: float | None = 0.0
    usd_batch: float | None = 0.0

    @property
    def usd(self) -> float | None:
        return self.usd_batch if self.batch else self.usd_sync


@dataclass
class Estimate:
    lines: list[Line] = field(default_factory=list)
    roles: dict[str, RoleTotal] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    pool_rows: int | None = None

    @property
    def calls(self) -> int:
        return sum(r.calls for r in self.roles.values())

    def _sum(self, attr: str) -> float:
        return sum(getattr(r, attr) or 0.0 for r in self.roles.values())

    @property
    def usd(self) -> float:
        """The worst case of the priced roles, each at its own mode (unpriced roles are listed in `unpriced`)."""
        return self._sum("usd")

    @property
    def usd_sync(self) -> float:
        return self._sum("usd_sync")

    @property
    def usd_batch(self) -> float:
        return self._sum("usd_batch")

    @property
    def prompt_tokens(self) -> int:
        return sum(r.prompt_tokens for r in self.roles.values())

    @property
    def completion_tokens(self) -> int:
        return sum(r.completion_tokens for r in self.roles.values())

    @property
    def unpriced(self) -> list[str]:
        return [name for name, r in self.roles.items() if r.usd is None]

    @property
    def paid(self) -> bool:
        """Any pending call to a provider that may bill."""
        return any(r.paid and r.calls for r in self.roles.values())

    def by_kind(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for line in self.lines:
            entry = out.setdefault(line.kind, {"calls": 0, "usd": 0.0, "unpriced": False})
            entry["calls"] += line.calls
            if line.usd is None:
                entry["unpriced"] = True
            else:
                entry["usd"] += line.usd
        return out

    def per_role(self) -> dict[str, dict[str, Any]]:
        """{role: {provider, model, calls, usd}}: the shape `sftbench plan` printed before per-kind lines existed."""
        return {n: {"provider": r.provider, "model": r.model, "calls": r.calls, "usd": r.usd}
                for n, r in self.roles.items()}


def pending_by_kind(plan: Plan) -> dict[tuple[str, str], int]:
    """LLM calls per (role, step kind) that the steps not yet in the store will make."""
    suite, out = plan.suite, {}
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
            if n:
                out[(role, step.key.kind)] = out.get((role, step.key.kind), 0) + n
    return out


def pending_calls(plan: Plan) -> dict[str, int]:
    """LLM calls per role that the not-yet-cached steps will make (parse re-asks excluded)."""
    calls = dict.fromkeys(ROLES, 0)
    for (role, _), n in pending_by_kind(plan).items():
        calls[role] = calls.get(role, 0) + n
    return calls


def pool_rows(suite: Any) -> int | None:
    """Rows in the suite's pool, known before it is loaded (None: unknown): the world's size, a file's or a local
    copy's records (counted, not loaded: datasets_builders/pools.py count_rows), a release's published size."""
    from sftbench.datasets_builders.pools import GITHUB_SOURCES, HUB_SOURCES
    pool = suite.pool
    if pool.source == "world":
        return suite.world.pool_size
    if pool.path is not None and pool.source not in GITHUB_SOURCES:  # a GitHub copy is sha-pinned: its size is known
        return _file_stats(str(pool.path))[0]
    release = HUB_SOURCES.get(pool.source) or GITHUB_SOURCES.get(pool.source)
    return None if release is None else release.rows


def pool_size(suite: Any) -> int:
    """`pool_rows`, with 0 for unknown (kept for callers that need a number)."""
    return pool_rows(suite) or 0


def pool_row_chars(suite: Any) -> int | None:
    """Mean characters of a pool record for a file pool or a local copy (its JSON keys included: an upper bound)."""
    if suite.pool.source == "world" or suite.pool.path is None:
        return None
    rows, size = _file_stats(str(suite.pool.path))
    return -(-size // rows) if rows else None


def _file_stats(path: str) -> tuple[int, int]:
    p = Path(path).expanduser()
    stat = p.stat()
    return _counted(str(p.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _counted(path: str, mtime_ns: int, size: int) -> tuple[int, int]:
    from sftbench.datasets_builders.pools import count_rows
    return tuple(count_rows(path))  # type: ignore[return-value]


def _llm_builds(plan: Plan) -> list[str]:
    """Pending build steps whose builder calls an LLM role (not the world's stand-in)."""
    from sftbench.datasets_builders.registry import roles_used
    specs = {d.name: d for d in plan.suite.datasets}
    out = []
    for step in plan.steps:
        if step.key.kind == "build" and not plan.store.is_done(step.key):
            spec = specs[step.key.name]
            used = roles_used(spec.builder, parse_params(spec.builder, spec.params).model_dump(mode="json"))
            if any(getattr(plan.suite.roles, r).provider != "world" for r in used):
                out.append(f"build {spec.name}")
    return out


def content_chars(plan: Plan, role: str, kind: str) -> int:
    """Characters of filled-in content per call of `role` in a step of `kind` (see the module docstring)."""
    if role == "rater" and kind == "build":
        return pool_row_chars(plan.suite) or CONTENT_CHARS["rater"]
    if role == "judge":
        answers = 2 * int(plan.suite.generation.max_new_tokens * CHARS_PER_TOKEN)
        return max(CONTENT_CHARS["judge"], JUDGE_INSTRUCTION_CHARS + answers)
    return CONTENT_CHARS[role]


def prompt_tokens_per_call(role: str, cfg: Any, content: int) -> int:
    """The prompt of one call, as judges.llm.factory.estimate_role_usd counts it: the role's template plus
    `content` characters at CHARS_PER_TOKEN, plus the chat overhead of a system and a user message."""
    from sftbench.judges.llm.factory import _default_prompt
    from sftbench.judges.llm.ledger import MESSAGE_OVERHEAD_TOKENS
    from sftbench.judges.llm.prompts import PromptTemplate
    prompt = PromptTemplate.resolve(cfg.prompt_path, cfg.prompt_text, _default_prompt(role, cfg))
    return int((len(prompt.text) + content) / CHARS_PER_TOKEN) + 2 * MESSAGE_OVERHEAD_TOKENS


def price_source(role: str, cfg: Any) -> str:
    """Where a role's price comes from: the suite's `prices`, the built-in list, free (local), or unknown."""
    from sftbench.judges.llm.ledger import DEFAULT_PRICES, PRICES_DATE
    if cfg.provider in FREE:
        return "local (free)"
    table = {**DEFAULT_PRICES, **cfg.prices}
    match = cfg.model if cfg.model in table else max((m for m in table if cfg.model.startswith(m)), key=len,
                                                       default=None)
    if match is None:
        return "unknown"
    if match in cfg.prices:
        return f"roles.{role}.params.prices"
    return f"list price of {match} (as of {PRICES_DATE})"


def is_local_endpoint(url: str | None) -> bool:
    """An endpoint on this machine or a private network (a self-hosted server, most likely not billing)."""
    host = urlparse(url or "").hostname or ""
    if host in ("localhost", "") or host.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def estimate(plan: Plan) -> Estimate:
    """The estimate of the pending steps' LLM calls (see the module docstring); world roles are not listed."""
    from sftbench.judges.llm.ledger import estimate_usd
    suite = plan.suite
    out = Estimate(pool_rows=pool_rows(suite))
    if out.pool_rows is None and _llm_builds(plan):
        out.warnings.append(f"the size of pool '{suite.pool.source}' is not known before download: the LLM calls "
                            f"of {', '.join(_llm_builds(plan))} per pool row are not counted; give the pool's `path` "
                            "(a local copy) to count them")
    pending = pending_by_kind(plan)
    for role, kind in sorted(pending, key=lambda rk: (ROLES.index(rk[0]) if rk[0] in ROLES else len(ROLES), rk[1])):
        calls = pending[(role, kind)]
        spec = getattr(suite.roles, role, None)
        if spec is None or spec.provider == "world":
            continue
        cfg = llm_config(role, spec).resolved(role)
        if role not in out.roles:
            source = price_source(role, cfg)
            local = spec.provider == "openai_compatible" and is_local_endpoint(cfg.base_url)
            out.roles[role] = RoleTotal(role, spec.provider, str(cfg.model), cfg.batch, source,
                                        paid=spec.provider not in FREE, local_endpoint=local)
        prompt = prompt_tokens_per_call(role, cfg, content_chars(plan, role, kind))
        prices = {m: p.model_dump() for m, p in cfg.prices.items()}
        usd = {mode: estimate_usd(str(cfg.model), calls, prompt, cfg.max_tokens, provider=cfg.provider, prices=prices,
                                  batch=mode) for mode in (False, True)}
        line = Line(role, kind, spec.provider, str(cfg.model), calls, calls * prompt, calls * cfg.max_tokens,
                    usd[False], usd[True], cfg.batch)
        out.lines.append(line)
        total = out.roles[role]
        total.calls += calls
        total.prompt_tokens += line.prompt_tokens
        total.completion_tokens += line.completion_tokens
        total.usd_sync = _add(total.usd_sync, line.usd_sync)
        total.usd_batch = _add(total.usd_batch, line.usd_batch)
    for name, total in out.roles.items():
        if total.usd is None:
            where = " (an endpoint on this machine or network: if it bills, give its price)" \
                if total.local_endpoint else ""
            out.warnings.append(f"no price known for model '{total.model}' (roles.{name}, {total.provider}){where}: "
                                f"its {total.calls} calls are not in the total; add roles.{name}.params.prices: "
                                f"{{'{total.model}': {{input_per_m: ..., output_per_m: ...}}}} (USD per 1M tokens)")
    return out
