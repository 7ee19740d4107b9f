"""The cost ledger: tokens and USD per call, totals for step manifests, estimates for `plan`, a hard budget.

Prices are USD per 1M tokens (input, output, cached input, cache writes) plus a batch discount, looked up by exact
model name, then by the longest matching prefix ("gpt-4o-mini-2024-07-18" -> "gpt-4o-mini"). Local providers cost
nothing. A call's cost prices its prompt tokens read from the provider's prompt cache and written to it apart from
the others, and takes the model's batch discount when it went through a batch API; the totals show what caching and
batching saved against list price.

The budget is enforced before sending: a call is refused (BudgetExceeded) if what is spent, plus the upper bound of
calls that may have been billed without an answer (timed out, connection dropped, unreadable body), plus what
in-flight calls may still cost, plus this call's pessimistic estimate (prompt chars / chars_per_token + max_tokens)
would pass max_usd. The ledger also counts the client's retries by kind, so a step's manifest shows them.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from sftbench.judges.llm.chat import BudgetExceeded, ChatRequest, LLMError

FREE_PROVIDERS = frozenset({"local", "llamacpp_server", "vllm_server"})
MESSAGE_OVERHEAD_TOKENS = 8  # chat formatting tokens per message, for estimates
log = logging.getLogger("sftbench.llm")


@dataclass(frozen=True)
class ModelPrice:
    input_per_m: float                       # USD per 1M prompt tokens
    output_per_m: float                      # USD per 1M completion tokens
    cached_input_per_m: float | None = None  # prompt tokens read from the prompt cache (None: 50% of input)
    cache_write_per_m: float | None = None   # prompt tokens written to the prompt cache (None: the input price)
    batch_discount: float = 0.5              # fraction off every price for calls made through a batch API

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0, cache_write_tokens: int = 0,
             batch: bool = False) -> float:
        """USD of one call; `prompt_tokens` counts all prompt tokens, cached and cache-writing ones included."""
        cached_price = self.input_per_m / 2 if self.cached_input_per_m is None else self.cached_input_per_m
        write_price = self.input_per_m if self.cache_write_per_m is None else self.cache_write_per_m
        plain = max(0, prompt_tokens - cached_tokens - cache_write_tokens)
        usd = (plain * self.input_per_m + cached_tokens * cached_price + cache_write_tokens * write_price
               + completion_tokens * self.output_per_m) / 1e6
        return usd * (1 - self.batch_discount) if batch else usd


def _openai(inp: float, out: float, cached: float | None = None) -> ModelPrice:
    """OpenAI: cached input as listed (models without prompt caching: the input price); Batch API 50% off."""
    return ModelPrice(inp, out, cached_input_per_m=inp if cached is None else cached, cache_write_per_m=inp)


def _anthropic(inp: float, out: float) -> ModelPrice:
    """Anthropic: cache reads 10% of input, 5-minute cache writes 125%; Message Batches 50% off."""
    return ModelPrice(inp, out, cached_input_per_m=round(inp * 0.1, 6), cache_write_per_m=round(inp * 1.25, 6))


# List prices in USD per 1M tokens (standard tier), as published on openai.com/api/pricing and
# docs.anthropic.com/en/docs/about-claude/pricing (as of 2025-06; not fetched at run time). Override per suite
# (a role's `params.prices`). Printed with every estimate.
PRICES_DATE = "2025-06"
PRICES_SOURCE = "openai.com/api/pricing and docs.anthropic.com/en/docs/about-claude/pricing"
PRICES_AS_OF = f"{PRICES_DATE}; list prices of {PRICES_SOURCE}"
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gpt-4o": _openai(2.50, 10.00, 1.25), "gpt-4o-2024-05-13": _openai(5.00, 15.00),
    "gpt-4o-mini": _openai(0.15, 0.60, 0.075),
    "gpt-4.1": _openai(2.00, 8.00, 0.50), "gpt-4.1-mini": _openai(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _openai(0.10, 0.40, 0.025),
    "gpt-4-turbo": _openai(10.00, 30.00), "gpt-4-1106-preview": _openai(10.00, 30.00),
    "gpt-4-0125-preview": _openai(10.00, 30.00), "gpt-4": _openai(30.00, 60.00),
    "gpt-3.5-turbo": _openai(0.50, 1.50),
    "o1": _openai(15.00, 60.00, 7.50), "o1-mini": _openai(1.10, 4.40, 0.55), "o3": _openai(2.00, 8.00, 0.50),
    "o3-mini": _openai(1.10, 4.40, 0.55), "o4-mini": _openai(1.10, 4.40, 0.275),
    "claude-3-haiku": _anthropic(0.25, 1.25), "claude-3-5-haiku": _anthropic(0.80, 4.00),
    "claude-3-5-sonnet": _anthropic(3.00, 15.00), "claude-3-7-sonnet": _anthropic(3.00, 15.00),
    "claude-sonnet-4": _anthropic(3.00, 15.00), "claude-3-opus": _anthropic(15.00, 75.00),
    "claude-opus-4": _anthropic(15.00, 75.00),
}


def as_price(value: ModelPrice | Mapping[str, Any] | tuple[float, ...]) -> ModelPrice:
    """A ModelPrice from itself, a mapping (PriceSpec fields; absent or None optional fields take the defaults) or a
    tuple (input_per_m, output_per_m[, cached_input_per_m[, cache_write_per_m[, batch_discount]]])."""
    if isinstance(value, ModelPrice):
        return value
    if isinstance(value, Mapping):
        optional = {k: float(value[k]) for k in ("cached_input_per_m", "cache_write_per_m", "batch_discount")
                    if value.get(k) is not None}
        return ModelPrice(float(value["input_per_m"]), float(value["output_per_m"]), **optional)
    return ModelPrice(*(float(v) for v in value))


def lookup_price(model: str, prices: Mapping[str, ModelPrice]) -> ModelPrice | None:
    if model in prices:
        return prices[model]
    matches = [name for name in prices if model.startswith(name)]
    return prices[max(matches, key=len)] if matches else None


def estimate_prompt_tokens(request: ChatRequest, chars_per_token: float = 3.0) -> int:
    return math.ceil(request.prompt_chars() / chars_per_token) + MESSAGE_OVERHEAD_TOKENS * len(request.messages)


def estimate_usd(model: str, calls: int, prompt_tokens: int, completion_tokens: int, provider: str = "openai",
                 prices: Mapping[str, Any] | None = None, *, cached_prompt_tokens: int = 0, cache_write_tokens: int = 0,
                 batch: bool = False) -> float | None:
    """USD for `calls` calls of about `prompt_tokens` + `completion_tokens` each (of the prompt tokens,
    `cached_prompt_tokens` read from and `cache_write_tokens` written to the prompt cache; `batch`: at the batch
    discount); None if the model has no price."""
    if provider in FREE_PROVIDERS:
        return 0.0
    table = {**DEFAULT_PRICES, **{k: as_price(v) for k, v in (prices or {}).items()}}
    price = lookup_price(model, table)
    return None if price is None else calls * price.cost(prompt_tokens, completion_tokens, cached_prompt_tokens,
                                                         cache_write_tokens, batch)


_ENTRY_KEYS = ("calls", "cached_calls", "batch_calls", "possibly_billed_calls", "prompt_tokens", "completion_tokens",
               "cached_prompt_tokens", "cache_write_tokens", "usd")


class CostLedger:
    """Thread-safe tokens/USD accounting shared by every role of a step; `totals()` goes into the manifest."""

    def __init__(self, prices: Mapping[str, Any] | None = None, max_usd: float | None = None,
                 chars_per_token: float = 3.0) -> None:
        self.prices = {**DEFAULT_PRICES, **{k: as_price(v) for k, v in (prices or {}).items()}}
        self.max_usd, self.chars_per_token = max_usd, chars_per_token
        self._lock = threading.Lock()
        self._reserved = 0.0
        self.usd = 0.0
        self.calls = self.cached_calls = self.unpriced_calls = self.batch_calls = 0
        self.prompt_tokens = self.completion_tokens = 0
        self.cached_prompt_tokens = self.cache_write_tokens = 0
        self.usd_list = 0.0         # what the answered calls cost at list price (no prompt cache, no batch)
        self.usd_no_batch = 0.0     # ... with the prompt cache's prices but no batch discount
        self.possibly_billed_calls = 0
        self.possibly_billed_usd = 0.0  # upper bound of what attempts abandoned without an answer may have cost
        self.retries: dict[str, int] = {}
        self.by_model: dict[str, dict[str, float]] = {}
        self._warned: set[str] = set()
        self.shared: Any = None  # a SharedBudget (judges/llm/shared.py) when several processes share one budget

    def set_prices(self, overrides: Mapping[str, Any]) -> None:
        with self._lock:
            self.prices.update({k: as_price(v) for k, v in overrides.items()})

    def price(self, provider: str, model: str) -> ModelPrice | None:
        return ModelPrice(0.0, 0.0) if provider in FREE_PROVIDERS else lookup_price(model, self.prices)

    def estimate(self, provider: str, request: ChatRequest, batch: bool = False) -> float | None:
        """A pessimistic USD bound of one call: estimated prompt tokens at the input price plus max_tokens."""
        price = self.price(provider, request.model)
        if price is None:
            return None
        return price.cost(estimate_prompt_tokens(request, self.chars_per_token), request.max_tokens, batch=batch)

    def reserve(self, provider: str, request: ChatRequest, batch: bool = False) -> float:
        """Book this call's pessimistic cost before sending; raises BudgetExceeded if it could pass max_usd."""
        estimate = self.estimate(provider, request, batch)
        with self._lock:
            if self.max_usd is None:
                return estimate or 0.0
            if estimate is None:
                raise LLMError(f"no price for model {request.model!r} ({provider}), so the budget max_usd="
                               f"{self.max_usd} cannot be enforced; add it to the role's `prices`")
            spent = self.usd + self.possibly_billed_usd
            if spent + self._reserved + estimate > self.max_usd:
                maybe = f" (of which up to {self.possibly_billed_usd:.4f} for abandoned attempts)" \
                    if self.possibly_billed_usd else ""
                raise BudgetExceeded(
                    f"budget max_usd={self.max_usd:.4f} would be exceeded: spent {spent:.4f}{maybe}, in flight up "
                    f"to {self._reserved:.4f}, this call up to {estimate:.4f} ({request.model}); finished answers "
                    "stay cached, re-run with a larger budget to continue")
            if self.shared is not None:  # the run's budget across every process that shares it
                booked, spent_all, inflight_all = self.shared.reserve(estimate)
                if not booked:
                    raise BudgetExceeded(
                        f"budget max_usd={self.max_usd:.4f} would be exceeded: the run's processes together spent "
                        f"{spent_all:.4f}, in flight up to {inflight_all:.4f}, this call up to {estimate:.4f} "
                        f"({request.model}); finished answers stay cached, re-run with a larger budget to continue")
            self._reserved += estimate
            return estimate

    def release(self, reservation: float) -> None:
        with self._lock:
            self._reserved = max(0.0, self._reserved - reservation)
        if self.shared is not None and reservation:
            self.shared.settle(reservation)

    def _entry(self, model: str) -> dict[str, float]:
        return self.by_model.setdefault(model, {k: 0.0 if k == "usd" else 0 for k in _ENTRY_KEYS})

    def record(self, provider: str, model: str, prompt_tokens: int, completion_tokens: int,
               reservation: float = 0.0, *, cached_prompt_tokens: int = 0, cache_write_tokens: int = 0,
               batch: bool = False) -> float:
        """Account one answered call; returns its USD. Releases the call's reservation."""
        price = self.price(provider, model)
        usd = list_usd = no_batch_usd = 0.0
        if price is None:
            self._warn_unpriced(provider, model)
        else:
            usd = price.cost(prompt_tokens, completion_tokens, cached_prompt_tokens, cache_write_tokens, batch)
            list_usd = price.cost(prompt_tokens, completion_tokens)
            no_batch_usd = price.cost(prompt_tokens, completion_tokens, cached_prompt_tokens, cache_write_tokens)
        if self.shared is not None:
            self.shared.settle(reservation, usd)
        with self._lock:
            self._reserved = max(0.0, self._reserved - reservation)
            self.calls += 1
            self.batch_calls += batch
            self.unpriced_calls += price is None
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.cached_prompt_tokens += cached_prompt_tokens
            self.cache_write_tokens += cache_write_tokens
            self.usd += usd
            self.usd_list += list_usd
            self.usd_no_batch += no_batch_usd
            entry = self._entry(model)
            entry["calls"] += 1
            entry["batch_calls"] += batch
            entry["prompt_tokens"] += prompt_tokens
            entry["completion_tokens"] += completion_tokens
            entry["cached_prompt_tokens"] += cached_prompt_tokens
            entry["cache_write_tokens"] += cache_write_tokens
            entry["usd"] += usd
        return usd

    def _warn_unpriced(self, provider: str, model: str) -> None:
        """Name a model with no price once per ledger: its calls are counted as unpriced, never as $0."""
        with self._lock:
            if model in self._warned:
                return
            self._warned.add(model)
        log.warning("no price for model %r (%s): its calls are recorded as unpriced (`unpriced_calls`), not as $0; "
                    "give the role's params.prices (USD per 1M tokens; built-in list prices as of %s)", model,
                    provider, PRICES_DATE)

    def record_cached(self, provider: str, model: str) -> None:
        with self._lock:
            self.cached_calls += 1
            self._entry(model)["cached_calls"] += 1

    def record_possibly_billed(self, provider: str, request: ChatRequest) -> float:
        """An attempt abandoned after the request went out (timeout, dropped connection, unreadable answer): the
        provider may bill it. Adds its pessimistic cost (prompt estimate + max_tokens) to the upper bound."""
        estimate = self.estimate(provider, request) or 0.0
        if self.shared is not None:
            self.shared.settle(0.0, estimate)
        with self._lock:
            self.possibly_billed_calls += 1
            self.possibly_billed_usd += estimate
            self._entry(request.model)["possibly_billed_calls"] += 1
        return estimate

    def record_retry(self, kind: str) -> None:
        with self._lock:
            self.retries[kind] = self.retries.get(kind, 0) + 1

    def totals(self) -> dict[str, Any]:
        """JSON-ready totals for a step manifest (cache hits are counted apart and cost nothing).

        `usd` is what answered calls cost; `usd_upper_bound` adds what attempts abandoned without an answer may
        have cost (`possibly_billed_calls`); `usd_saved_prompt_cache` and `usd_saved_batch` compare with list price
        (a negative cache saving means cache writes cost more than reads saved); `retries` counts retried attempts,
        `retries_<kind>` by kind (429, 5xx, other_4xx, timeout, connection, unreadable)."""
        with self._lock:
            out: dict[str, Any] = {
                "calls": self.calls, "cached_calls": self.cached_calls, "unpriced_calls": self.unpriced_calls,
                "batch_calls": self.batch_calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "cached_prompt_tokens": self.cached_prompt_tokens,
                "cache_write_tokens": self.cache_write_tokens, "usd": round(self.usd, 10),
                "usd_saved_prompt_cache": round(self.usd_list - self.usd_no_batch, 10),
                "usd_saved_batch": round(self.usd_no_batch - self.usd, 10),
                "possibly_billed_calls": self.possibly_billed_calls,
                "usd_upper_bound": round(self.usd + self.possibly_billed_usd, 10),
                "retries": sum(self.retries.values()),
                **{f"retries_{k}": v for k, v in sorted(self.retries.items())},
                "max_usd": self.max_usd,
                "by_model": {m: {**v, "usd": round(v["usd"], 10)} for m, v in sorted(self.by_model.items())}}
        return out

    def totals_since(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        """Totals of what happened after `snapshot` (an earlier `totals()`): one step's share of a run's ledger."""
        now = self.totals()
        out: dict[str, Any] = {}
        for k, v in now.items():
            if k in ("max_usd", "by_model"):
                continue
            delta = v - snapshot.get(k, 0)
            if k.startswith("retries_") and not delta:
                continue
            out[k] = round(delta, 10) if isinstance(delta, float) else delta
        out["max_usd"] = now["max_usd"]
        out["by_model"] = {}
        for model, entry in now["by_model"].items():
            before = snapshot.get("by_model", {}).get(model, {})
            delta = {k: entry[k] - before.get(k, 0) for k in entry}
            if any(delta.values()):
                out["by_model"][model] = {**delta, "usd": round(delta["usd"], 10)}
        return out

    def export(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.totals(), indent=2, sort_keys=True) + "\n")


__all__ = ["CostLedger", "ModelPrice", "DEFAULT_PRICES", "PRICES_AS_OF", "PRICES_DATE", "PRICES_SOURCE",
           "FREE_PROVIDERS", "estimate_usd", "lookup_price", "estimate_prompt_tokens"]
