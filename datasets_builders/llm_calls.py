"""Builders that run their own prompts (paper prompts, multi-turn conversations) through an LLM role's client.

The role's LLMClient brings the response cache, retries, concurrency limit and cost ledger; `LLMCalls` builds
requests with the role's model and decoding (overridable per call), runs many of them concurrently, and counts
calls, cache hits, tokens and USD for the dataset card.
"""

from __future__ import annotations

import threading
from typing import Any, Awaitable, Sequence

from sftbench.judges.llm.chat import ChatRequest, ChatResponse, Message
from sftbench.judges.llm.engine import gather_with_progress, run_sync


class LLMCalls:
    """Direct calls through `role.client` (an LLMTeacher/LLMRater/...); raises if the role is not an LLM."""

    def __init__(self, role: Any, role_name: str, builder: str, feature: str) -> None:
        if role is None or not hasattr(role, "client"):
            raise ValueError(f"builder '{builder}': {feature} needs an LLM {role_name}: set roles.{role_name}.provider "
                             "to an LLM provider (the world's stand-in cannot follow free-form prompts)")
        self.role, self.client, self.model = role, role.client, role.model
        self.defaults = {k: v for k, v in role.request_params.items() if k in ("temperature", "max_tokens", "top_p",
                                                                                 "stop")}
        self.base_seed = role.seed
        self.calls = self.cached = self.prompt_tokens = self.completion_tokens = 0
        self.usd = 0.0
        self._lock = threading.Lock()

    def request(self, messages: Sequence[Message], seed: int | None = None, **decoding: Any) -> ChatRequest:
        params = {**self.defaults, **{k: v for k, v in decoding.items() if v is not None}}
        call_seed = None if self.base_seed is None and seed is None else (self.base_seed or 0) + (seed or 0)
        return ChatRequest(messages=tuple(messages), model=self.model, seed=call_seed, **params)

    async def ask(self, request: ChatRequest) -> ChatResponse:
        response = await self.client.achat(request)
        usd = 0.0
        ledger = getattr(self.client, "ledger", None)
        if ledger is not None and not response.cached:
            price = ledger.price(self.client.provider_name, response.model or request.model)
            usd = price.cost(response.prompt_tokens, response.completion_tokens) if price else 0.0
        with self._lock:
            self.calls += 1
            self.cached += response.cached
            if not response.cached:
                self.prompt_tokens += response.prompt_tokens
                self.completion_tokens += response.completion_tokens
                self.usd += usd
        return response

    def run(self, coros: Sequence[Awaitable[Any]], desc: str, progress: bool = False) -> list[Any]:
        """Run coroutines concurrently (every one finishes, so answers are cached) and raise the first error."""
        results = run_sync(gather_with_progress(list(coros), progress, desc))
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    def stats(self) -> dict[str, Any]:
        return {"calls": self.calls, "cached_calls": self.cached, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "usd": round(self.usd, 6)}

    def fingerprint(self) -> dict[str, Any]:
        """The role's identity without its own prompt: the builder's prompts are recorded separately."""
        fp = {k: v for k, v in self.role.fingerprint.items() if k not in ("prompt_sha256", "parser_version", "role")}
        return {**fp, "decoding": {**fp.get("decoding", {}), **{k: v for k, v in self.defaults.items() if v}}}


def merge_stats(*stats: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in stats:
        for key, value in s.items():
            out[key] = round(out.get(key, 0) + value, 6) if isinstance(value, float) else out.get(key, 0) + value
    return out


__all__ = ["LLMCalls", "merge_stats"]
