"""Requests, responses and errors shared by every LLM provider, the cache and the roles."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Sequence

Message = dict[str, str]            # {"role": "system" | "user" | "assistant", "content": "..."}
TopLogprobs = list[tuple[str, float]]  # (token, logprob), best first, for one output position


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion. `messages` is the full conversation; every field here is part of the cache key."""
    messages: tuple[Message, ...]
    model: str
    temperature: float = 0.0
    max_tokens: int = 256
    top_p: float | None = None
    logprobs: bool = False
    top_logprobs: int | None = None   # alternatives returned per position (OpenAI allows up to 20)
    stop: tuple[str, ...] | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        msgs = tuple({"role": str(m["role"]), "content": str(m["content"])} for m in self.messages)
        if not msgs:
            raise ValueError("ChatRequest needs at least one message")
        object.__setattr__(self, "messages", msgs)
        if self.stop is not None and not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))
        if self.max_tokens < 1:
            raise ValueError(f"ChatRequest.max_tokens must be >= 1, got {self.max_tokens}")
        if self.top_logprobs is not None and not self.logprobs:
            object.__setattr__(self, "logprobs", True)

    @classmethod
    def from_prompt(cls, prompt: str, model: str, system: str | None = None, **params: Any) -> "ChatRequest":
        msgs: list[Message] = [{"role": "system", "content": system}] if system else []
        return cls(messages=tuple(msgs + [{"role": "user", "content": prompt}]), model=model, **params)

    def decoding(self) -> dict[str, Any]:
        """The decoding parameters (everything but messages and model)."""
        d = asdict(self)
        d.pop("messages"), d.pop("model")
        if d["stop"] is not None:
            d["stop"] = list(d["stop"])
        return d

    def with_(self, **changes: Any) -> "ChatRequest":
        return replace(self, **changes)

    def cache_key(self, provider: str) -> str:
        """sha256 of provider, model, decoding parameters and the full message list (canonical JSON)."""
        payload = {"provider": provider, "model": self.model, "decoding": self.decoding(),
                   "messages": [dict(m) for m in self.messages]}
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def prompt_chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)


@dataclass
class ChatResponse:
    """A completion: text, first tokens' top alternatives (when asked), token usage, the model the server reports.

    `prompt_tokens` counts every prompt token; of them, `cached_prompt_tokens` were read from the provider's prompt
    cache and `cache_write_tokens` were written to it (Anthropic), so they are priced apart.
    """
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    top_logprobs: list[TopLogprobs] | None = None
    finish_reason: str | None = None
    raw: dict[str, Any] | None = None
    cached_prompt_tokens: int = 0
    cache_write_tokens: int = 0
    cached: bool = field(default=False, compare=False)

    def first_token_logprobs(self) -> dict[str, float]:
        """{token: logprob} over the alternatives at the first output position ({} if none were returned)."""
        if not self.top_logprobs:
            return {}
        return {tok: lp for tok, lp in self.top_logprobs[0]}

    def to_json(self) -> str:
        d = asdict(self)
        d.pop("cached")
        return json.dumps(d, ensure_ascii=False)

    @classmethod
    def from_json(cls, blob: str, cached: bool = True) -> "ChatResponse":
        d = json.loads(blob)
        if d.get("top_logprobs") is not None:
            d["top_logprobs"] = [[(str(t), float(lp)) for t, lp in pos] for pos in d["top_logprobs"]]
        return cls(**d, cached=cached)


class LLMError(RuntimeError):
    """Base class of every error the LLM layer raises."""


class LLMEndpointError(LLMError):
    """A call that failed for good: names the endpoint (base URL + model) and the last status, never the key."""

    def __init__(self, endpoint: str, model: str, status: int | str | None, detail: str, attempts: int) -> None:
        self.endpoint, self.model, self.status, self.attempts, self.detail = endpoint, model, status, attempts, detail
        status_text = f"HTTP {status}" if isinstance(status, int) else (status or "error")
        super().__init__(f"LLM endpoint {endpoint} (model {model!r}) failed after {attempts} attempt(s): "
                         f"{status_text}: {detail}")


class LLMAuthError(LLMEndpointError):
    """The endpoint refused the credentials (HTTP 401/403): the client sends nothing more; names the key's variable."""

    def __init__(self, endpoint: str, model: str, status: int | str | None, detail: str, key_env: str | None) -> None:
        where = (f"check the API key in the environment variable {key_env}" if key_env
                 else "no API key was sent: set the role's api_key_env to the variable holding the key")
        super().__init__(endpoint, model, status, f"{detail} ({where}; no further request goes to this endpoint)", 1)
        self.key_env = key_env


class LLMCircuitOpen(LLMEndpointError):
    """The endpoint kept failing (consecutive calls exhausted their retries): the client stopped calling it."""


class BudgetExceeded(LLMError):
    """Refused before sending: the call could take the run's spending past its budget (max_usd)."""


class ParseFailure(LLMError):
    """An answer that stayed unparseable after every allowed retry; `raw` holds the last text."""

    def __init__(self, role: str, raw: str, reason: str) -> None:
        self.role, self.raw, self.reason = role, raw, reason
        super().__init__(f"{role}: could not parse the model's answer ({reason}); raw text: {raw[:200]!r}")


def messages_tuple(messages: Sequence[Message]) -> tuple[Message, ...]:
    return tuple({"role": m["role"], "content": m["content"]} for m in messages)


__all__ = ["ChatRequest", "ChatResponse", "Message", "TopLogprobs", "LLMError", "LLMEndpointError", "LLMAuthError",
           "LLMCircuitOpen", "BudgetExceeded", "ParseFailure", "messages_tuple"]
