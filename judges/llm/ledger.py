"""The cost ledger: tokens and USD per call, totals for step manifests, estimates for `plan`, a hard budget.

Prices are USD per 1M tokens (input, output), looked up by exact model name, then by the longest matching
prefix ("gpt-4o-mini-2024-07-18" -> "gpt-4o-mini"). Local providers cost nothing. The budget is enforced
before sending: a call is refused (BudgetExceeded) if what is spent, plus what in-flight calls may still
cost, plus this call's pessimistic estimate (prompt chars / chars_per_token + max_tokens) would pass max_usd.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from sftbench.judges.llm.chat import BudgetExceeded, ChatRequest, LLMError

FREE_PROVIDERS = frozenset({"local", "llamacpp_server", "vllm_server"})
MESSAGE_OVERHEAD_TOKENS = 8  # chat formatting tokens per message, for estimates


@dataclass(frozen=True)
class ModelPrice:
    input_per_m: float   # USD per 1M prompt tokens
    output_per_m: float  # USD per 1M completion tokens

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m) / 1e6


# List prices in USD per 1M tokens as published by OpenAI and Anthropic (standard tier, 2025). Override per suite.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gpt-4o": ModelPrice(2.50, 10.00), "gpt-4o-2024-05-13": ModelPrice(5.00, 15.00),
    "gpt-4o-mini": ModelPrice(0.15, 0.60),
    "gpt-4.1": ModelPrice(2.00, 8.00), "gpt-4.1-mini": ModelPrice(0.40, 1.60), "gpt-4.1-nano": ModelPrice(0.10, 0.40),
    "gpt-4-turbo": ModelPrice(10.00, 30.00), "gpt-4-1106-preview": ModelPrice(10.00, 30.00),
    "gpt-4-0125-preview": ModelPrice(10.00, 30.00), "gpt-4": ModelPrice(30.00, 60.00),
    "gpt-3.5-turbo": ModelPrice(0.50, 1.50),
    "o1": ModelPrice(15.00, 60.00), "o1-mini": ModelPrice(1.10, 4.40), "o3": ModelPrice(2.00, 8.00),
    "o3-mini": ModelPrice(1.10, 4.40), "o4-mini": ModelPrice(1.10, 4.40),
    "claude-3-haiku": ModelPrice(0.25, 1.25), "claude-3-5-haiku": ModelPrice(0.80, 4.00),
    "claude-3-5-sonnet": ModelPrice(3.00, 15.00), "claude-3-7-sonnet": ModelPrice(3.00, 15.00),
    "claude-sonnet-4": ModelPrice(3.00, 15.00), "claude-3-opus": ModelPrice(15.00, 75.00),
    "claude-opus-4": ModelPrice(15.00, 75.00),
}


def as_price(value: ModelPrice | Mapping[str, float] | tuple[float, float]) -> ModelPrice:
    if isinstance(value, ModelPrice):
        return value
    if isinstance(value, Mapping):
        return ModelPrice(float(value["input_per_m"]), float(value["output_per_m"]))
    return ModelPrice(float(value[0]), float(value[1]))


def lookup_price(model: str, prices: Mapping[str, ModelPrice]) -> ModelPrice | None:
    if model in prices:
        return prices[model]
    matches = [name for name in prices if model.startswith(name)]
    return prices[max(matches, key=len)] if matches else None


def estimate_prompt_tokens(request: ChatRequest, chars_per_token: float = 3.0) -> int:
    return math.ceil(request.prompt_chars() / chars_per_token) + MESSAGE_OVERHEAD_TOKENS * len(request.messages)


def estimate_usd(model: str, calls: int, prompt_tokens: int, completion_tokens: int, provider: str = "openai",
                 prices: Mapping[str, Any] | None = None) -> float | None:
    """USD for `calls` calls of about `prompt_tokens` + `completion_tokens` each; None if the model has no price."""
    if provider in FREE_PROVIDERS:
        return 0.0
    table = {**DEFAULT_PRICES, **{k: as_price(v) for k, v in (prices or {}).items()}}
    price = lookup_price(model, table)
    return None if price is None else calls * price.cost(prompt_tokens, completion_tokens)


class CostLedger:
    """Thread-safe tokens/USD accounting shared by every role of a step; `totals()` goes into the manifest."""

    def __init__(self, prices: Mapping[str, Any] | None = None, max_usd: float | None = None,
                 chars_per_token: float = 3.0) -> None:
        self.prices = {**DEFAULT_PRICES, **{k: as_price(v) for k, v in (prices or {}).items()}}
        self.max_usd, self.chars_per_token = max_usd, chars_per_token
        self._lock = threading.Lock()
        self._reserved = 0.0
        self.usd = 0.0
        self.calls = self.cached_calls = self.unpriced_calls = 0
        self.prompt_tokens = self.completion_tokens = 0
        self.by_model: dict[str, dict[str, float]] = {}

    def set_prices(self, overrides: Mapping[str, Any]) -> None:
        with self._lock:
            self.prices.update({k: as_price(v) for k, v in overrides.items()})

    def price(self, provider: str, model: str) -> ModelPrice | None:
        return ModelPrice(0.0, 0.0) if provider in FREE_PROVIDERS else lookup_price(model, self.prices)

    def estimate(self, provider: str, request: ChatRequest) -> float | None:
        price = self.price(provider, request.model)
        if price is None:
            return None
        return price.cost(estimate_prompt_tokens(request, self.chars_per_token), request.max_tokens)

    def reserve(self, provider: str, request: ChatRequest) -> float:
        """Book this call's pessimistic cost before sending; raises BudgetExceeded if it could pass max_usd."""
        estimate = self.estimate(provider, request)
        with self._lock:
            if self.max_usd is None:
                return estimate or 0.0
            if estimate is None:
                raise LLMError(f"no price for model {request.model!r} ({provider}), so the budget max_usd="
                               f"{self.max_usd} cannot be enforced; add it to the role's `prices`")
            if self.usd + self._reserved + estimate > self.max_usd:
                raise BudgetExceeded(
                    f"budget max_usd={self.max_usd:.4f} would be exceeded: spent {self.usd:.4f}, in flight up to "
                    f"{self._reserved:.4f}, this call up to {estimate:.4f} ({request.model}); finished answers "
                    "stay cached, re-run with a larger budget to continue")
            self._reserved += estimate
            return estimate

    def release(self, reservation: float) -> None:
        with self._lock:
            self._reserved = max(0.0, self._reserved - reservation)

    def record(self, provider: str, model: str, prompt_tokens: int, completion_tokens: int,
               reservation: float = 0.0) -> float:
        """Account one answered call; returns its USD. Releases the call's reservation."""
        price = self.price(provider, model)
        usd = price.cost(prompt_tokens, completion_tokens) if price is not None else 0.0
        with self._lock:
            self._reserved = max(0.0, self._reserved - reservation)
            self.calls += 1
            self.unpriced_calls += price is None
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.usd += usd
            entry = self.by_model.setdefault(model, {"calls": 0, "cached_calls": 0, "prompt_tokens": 0,
                                                     "completion_tokens": 0, "usd": 0.0})
            entry["calls"] += 1
            entry["prompt_tokens"] += prompt_tokens
            entry["completion_tokens"] += completion_tokens
            entry["usd"] += usd
        return usd

    def record_cached(self, provider: str, model: str) -> None:
        with self._lock:
            self.cached_calls += 1
            entry = self.by_model.setdefault(model, {"calls": 0, "cached_calls": 0, "prompt_tokens": 0,
                                                     "completion_tokens": 0, "usd": 0.0})
            entry["cached_calls"] += 1

    def totals(self) -> dict[str, Any]:
        """JSON-ready totals for a step manifest (cache hits are counted apart and cost nothing)."""
        with self._lock:
            return {"calls": self.calls, "cached_calls": self.cached_calls, "unpriced_calls": self.unpriced_calls,
                    "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                    "usd": round(self.usd, 10), "max_usd": self.max_usd,
                    "by_model": {m: {**v, "usd": round(v["usd"], 10)} for m, v in sorted(self.by_model.items())}}

    def totals_since(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        """Totals of what happened after `snapshot` (an earlier `totals()`): one step's share of a run's ledger."""
        now = self.totals()
        keys = ("calls", "cached_calls", "unpriced_calls", "prompt_tokens", "completion_tokens", "usd")
        out = {k: now[k] - snapshot.get(k, 0) for k in keys}
        out["usd"] = round(out["usd"], 10)
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


__all__ = ["CostLedger", "ModelPrice", "DEFAULT_PRICES", "FREE_PROVIDERS", "estimate_usd", "lookup_price",
           "estimate_prompt_tokens"]
