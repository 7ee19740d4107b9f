"""Build providers, clients and roles from LLMRoleConfig.

    with managed_endpoints({"teacher": t_cfg, "judge": j_cfg}) as cfgs:    # starts local servers if asked
        pool = ClientPool(ResponseCache(runs / "llm_cache.sqlite"), CostLedger(max_usd=5.0))
        judge = make_llm_role("judge", cfgs["judge"], pool.cache, pool.ledger, clients=pool)

Roles that reach the same endpoint through one ClientPool share one client, hence one concurrency limit (a role in
batch mode gets a client of its own). Per step, the runner may give the pool's batch-mode clients a scratch
directory for their batch ids (`pool.set_batch_dir(step_scratch / "llm_batches")`) and record each client's retries
(`pool.retry_summary()`); the ledger's totals carry retries, batch calls and prompt-cache savings already.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sftbench.judges.llm.cache import ResponseCache
from sftbench.judges.llm.config import LLMRoleConfig, RoleName
from sftbench.judges.llm.engine import LLMClient
from sftbench.judges.llm.ledger import MESSAGE_OVERHEAD_TOKENS, CostLedger, estimate_usd
from sftbench.judges.llm.prompts import PromptTemplate
from sftbench.judges.llm.providers import AnthropicProvider, OpenAIProvider
from sftbench.judges.llm.roles import LLMPairwiseJudge, LLMRater, LLMTeacher
from sftbench.judges.llm.chat import LLMError

ROLE_CLASSES = {"teacher": LLMTeacher, "rater": LLMRater, "judge": LLMPairwiseJudge}


def make_provider(cfg: LLMRoleConfig) -> Any:
    p = cfg.provider
    if p == "openai":
        return OpenAIProvider(cfg.base_url, cfg.key_env(), name="openai", max_tokens_field=cfg.max_tokens_field)
    if p == "anthropic":
        return AnthropicProvider(cfg.base_url, cfg.key_env(), name="anthropic", prompt_cache=cfg.prompt_cache)
    if p in ("openai_compatible", "llamacpp_server", "vllm_server"):
        if not cfg.base_url:
            raise LLMError(f"provider '{p}' has no base_url yet: start it inside "
                           "judges.llm.servers.managed_endpoints(...) (the runner does this around a run)")
        return OpenAIProvider(cfg.base_url, cfg.key_env(), name=p, key_required=False,
                              max_tokens_field=cfg.max_tokens_field)
    if p == "local":
        from sftbench.judges.llm.local import LocalTransformersProvider
        return LocalTransformersProvider(cfg.resolved_model_path(), threads=cfg.threads)
    raise LLMError(f"unknown provider {p!r}")


def make_client(cfg: LLMRoleConfig, cache: ResponseCache | None = None, ledger: CostLedger | None = None, *,
                batch_dir: str | Path | None = None, progress: bool = False) -> LLMClient:
    cfg = cfg if cfg.concurrency is not None else cfg.resolved("rater")
    return LLMClient(make_provider(cfg), cache=cache, ledger=ledger, concurrency=cfg.concurrency,
                     timeout_s=cfg.timeout_s, max_retries=cfg.max_retries, backoff_base_s=cfg.backoff_base_s,
                     breaker_failures=cfg.breaker_failures, batch=cfg.batch, batch_dir=batch_dir,
                     batch_poll_s=cfg.batch_poll_s, batch_min_requests=cfg.batch_min_requests, progress=progress)


class ClientPool:
    """One LLMClient per (provider, endpoint, key variable, batch mode): roles sharing an endpoint share its limit."""

    def __init__(self, cache: ResponseCache | None = None, ledger: CostLedger | None = None) -> None:
        self.cache, self.ledger = cache, ledger
        self._clients: dict[tuple, LLMClient] = {}
        self.batch_dir: Path | None = None
        self.coordination: Path | None = None  # a folder every process of the run sees (judges/llm/shared.py)

    def get(self, cfg: LLMRoleConfig) -> LLMClient:
        where = cfg.base_url or (str(cfg.resolved_model_path()) if cfg.provider == "local" else "")
        key = (cfg.provider, where, cfg.key_env(), cfg.batch, cfg.prompt_cache if cfg.provider == "anthropic" else None)
        if key not in self._clients:
            client = make_client(cfg, self.cache, self.ledger, batch_dir=self.batch_dir)
            if self.coordination is not None:  # several processes share this endpoint's concurrency
                from sftbench.judges.llm.shared import SharedSlots
                client.shared_slots = SharedSlots(self.coordination, "|".join(map(str, key[:3])), client.concurrency)
            self._clients[key] = client
        return self._clients[key]

    def set_batch_dir(self, batch_dir: str | Path | None) -> None:
        """Where batch-mode clients (present and future) keep their batch ids, e.g. one step's scratch directory;
        None: beside the response cache."""
        self.batch_dir = Path(batch_dir) if batch_dir is not None else None
        for client in self._clients.values():
            client.batch_dir = self.batch_dir

    def retry_summary(self) -> dict[str, dict[str, Any]]:
        """Each client's `retry_summary()`, keyed by provider and endpoint (JSON-ready, for a step manifest)."""
        out: dict[str, dict[str, Any]] = {}
        for client in self._clients.values():
            label = f"{client.provider_name} {client.endpoint}" + (" (batch)" if client.batch else "")
            out[label] = client.retry_summary()
        return out

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def make_llm_role(role: RoleName, cfg: LLMRoleConfig, cache: ResponseCache | None = None,
                  ledger: CostLedger | None = None, *, clients: ClientPool | None = None,
                  progress: bool = False) -> LLMTeacher | LLMRater | LLMPairwiseJudge:
    """A Teacher, Rater or PairwiseJudge (judges/protocols.py) backed by the model `cfg` describes."""
    if role not in ROLE_CLASSES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLE_CLASSES)}")
    cfg = cfg.resolved(role)
    if ledger is not None and cfg.prices:
        ledger.set_prices({m: p.model_dump() for m, p in cfg.prices.items()})
    if clients is not None:
        if clients.cache is not cache or clients.ledger is not ledger:
            raise ValueError("make_llm_role: the ClientPool was built with another cache/ledger")
        client = clients.get(cfg)
    else:
        client = make_client(cfg, cache, ledger)
    client.progress = client.progress or progress
    cls = ROLE_CLASSES[role]
    prompt = PromptTemplate.resolve(cfg.prompt_path, cfg.prompt_text, _default_prompt(role, cfg))
    kwargs: dict[str, Any] = dict(temperature=cfg.temperature, max_tokens=cfg.max_tokens, top_p=cfg.top_p,
                                  seed=cfg.seed, stop=cfg.stop, parse_retries=cfg.parse_retries,
                                  on_failure=cfg.on_failure, progress=progress)
    if role == "teacher":
        kwargs["mode"] = cfg.teacher_mode
    if role == "judge":
        kwargs.update(mode=cfg.judge_mode, labels=cfg.labels, top_logprobs=cfg.top_logprobs)
        if cfg.judge_mode == "text":
            kwargs["top_logprobs"] = None
        elif cfg.provider == "anthropic":
            raise LLMError("an Anthropic judge cannot read logprobs: set judge_mode: text")
    return cls(client, cfg.model, prompt, **kwargs)


def _default_prompt(role: RoleName, cfg: LLMRoleConfig) -> str:
    if role == "teacher" and cfg.teacher_mode == "two_turn":
        return LLMTeacher.two_turn_prompt
    return ROLE_CLASSES[role].default_prompt


def estimate_role_usd(role: RoleName, cfg: LLMRoleConfig, calls: int, content_chars_per_call: int,
                      chars_per_token: float = 3.0) -> float | None:
    """Worst-case USD of `calls` calls of this role, for `sftbench plan` (None: the model has no price).

    A call's prompt is the role's template plus `content_chars_per_call` characters of filled-in content
    (rows, outputs); its completion is the role's max_tokens; parse re-asks are not included; a role in batch mode
    is priced at the batch discount (prompt-cache savings are not counted: they depend on timing).
    """
    cfg = cfg.resolved(role)
    prompt = PromptTemplate.resolve(cfg.prompt_path, cfg.prompt_text, _default_prompt(role, cfg))
    prompt_tokens = int((len(prompt.text) + content_chars_per_call) / chars_per_token) + 2 * MESSAGE_OVERHEAD_TOKENS
    prices = {m: p.model_dump() for m, p in cfg.prices.items()}
    return estimate_usd(cfg.model, calls, prompt_tokens, cfg.max_tokens, provider=cfg.provider, prices=prices,
                        batch=cfg.batch)


__all__ = ["make_llm_role", "estimate_role_usd", "make_client", "make_provider", "ClientPool", "ROLE_CLASSES"]
