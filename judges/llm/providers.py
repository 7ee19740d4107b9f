"""HTTP providers speaking the OpenAI chat-completions and Anthropic messages wire formats (aiohttp).

A provider turns a ChatRequest into one HTTP call and the reply into a ChatResponse. It never retries: it
classifies failures as TransientError (429, 408, 409, 425, 5xx, unreadable 200 bodies: the engine retries
them), AuthError (401, 403: the engine stops calling the endpoint) or PermanentError (other 4xx). Keys are
read from an environment variable at construction, sent only in headers, and scrubbed from every error text;
they are never part of a repr, a fingerprint or the cache.

Prompt caching: OpenAI caches long prompt prefixes by itself; Anthropic caches what a request marks, so with
`prompt_cache` the system prompt (the stable prefix: a judge's or rater's template) carries
`cache_control: {type: ephemeral}`. Both report cached prompt tokens in their usage fields, which land in
ChatResponse.cached_prompt_tokens / cache_write_tokens and are priced apart by the ledger.
The same `body`/`parse` serve the batch APIs (judges/llm/batch_wire.py), so batch answers equal synchronous ones.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from typing import Any

import aiohttp

from sftbench.judges.llm.chat import ChatRequest, ChatResponse, LLMError

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
KEEP_LOGPROB_POSITIONS = 8  # top alternatives are kept for the first few output tokens only


class TransientError(Exception):
    def __init__(self, status: int | str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail, self.retry_after = status, detail, retry_after


class PermanentError(Exception):
    def __init__(self, status: int | str, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


class AuthError(PermanentError):
    """401/403: the credentials were refused."""

AUTH_STATUS = frozenset({401, 403})


def read_key(env_var: str | None, required: bool, provider: str) -> str | None:
    if not env_var:
        if required:
            raise LLMError(f"{provider}: api_key_env is not set; name the environment variable holding the key")
        return None
    key = os.environ.get(env_var)
    if not key and required:
        raise LLMError(f"{provider}: environment variable {env_var} is empty or unset; export the API key there")
    return key or None


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or an HTTP date); None if absent."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class HTTPProvider:
    """Shared plumbing: session, headers, status classification, key scrubbing."""
    name = "http"
    default_base_url = ""
    key_required = True

    def __init__(self, base_url: str | None = None, api_key_env: str | None = None, name: str | None = None) -> None:
        self.name = name or self.name
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise LLMError(f"{self.name}: base_url must start with http:// or https://, got {self.base_url!r}")
        self.api_key_env = api_key_env
        self._key = read_key(api_key_env, self.key_required, self.name)

    @property
    def endpoint(self) -> str:
        return self.base_url

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"

    def make_session(self, limit: int) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(1, limit)))

    def scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def headers(self) -> dict[str, str]:
        return {}

    def _raise_for_status(self, status: int, text: str, reason: str | None, headers: Any) -> None:
        if 200 <= status < 300:
            return
        detail = self.scrub(" ".join(text.split())[:300]) or reason or ""
        if status in RETRYABLE_STATUS or status >= 500:
            raise TransientError(status, detail, parse_retry_after(headers))
        if status in AUTH_STATUS:
            raise AuthError(status, detail)
        raise PermanentError(status, detail)

    def _json_object(self, text: str) -> dict:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise TransientError("malformed body", f"HTTP 200 with a body that is not JSON: {self.scrub(text[:120])!r}")
        if not isinstance(data, dict):
            raise TransientError("malformed body", f"HTTP 200 with a JSON {type(data).__name__}, not an object")
        return data

    async def _post(self, session: aiohttp.ClientSession, url: str, body: dict, headers: dict) -> dict:
        async with session.post(url, json=body, headers=headers) as resp:
            text = await resp.text(errors="replace")
            self._raise_for_status(resp.status, text, resp.reason, resp.headers)
        return self._json_object(text)

    async def call(self, session: aiohttp.ClientSession, method: str, url: str, *, json_body: Any = None,
                   data: Any = None, raw: bool = False) -> Any:
        """One authenticated HTTP call (batch APIs): the JSON object answered, or the text with `raw`."""
        async with session.request(method, url, json=json_body, data=data, headers=self.headers()) as resp:
            text = await resp.text(errors="replace")
            self._raise_for_status(resp.status, text, resp.reason, resp.headers)
        return text if raw else self._json_object(text)

    async def complete(self, request: ChatRequest, session: aiohttp.ClientSession) -> ChatResponse:
        data = await self._post(session, self.chat_url, self.body(request), self.headers())
        return self.parse(data, request.model, request.logprobs)

    @property
    def chat_url(self) -> str:
        raise NotImplementedError

    def body(self, request: ChatRequest) -> dict[str, Any]:
        raise NotImplementedError

    def parse(self, data: dict, model: str, logprobs: bool) -> ChatResponse:
        raise NotImplementedError


class OpenAIProvider(HTTPProvider):
    """OpenAI chat completions, or any OpenAI-compatible server (vLLM, llama.cpp, Ollama, gateways) by base_url."""
    name = "openai"
    default_base_url = "https://api.openai.com/v1"

    def __init__(self, base_url: str | None = None, api_key_env: str | None = "OPENAI_API_KEY",
                 name: str | None = None, key_required: bool | None = None,
                 max_tokens_field: str = "max_tokens") -> None:
        self.key_required = (name or self.name) == "openai" if key_required is None else key_required
        self.max_tokens_field = max_tokens_field
        super().__init__(base_url, api_key_env, name)

    def body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": request.model, "messages": [dict(m) for m in request.messages],
                                "temperature": request.temperature, self.max_tokens_field: request.max_tokens}
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.logprobs:
            body["logprobs"] = True
            if request.top_logprobs:
                body["top_logprobs"] = request.top_logprobs
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        return body

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"} if self._key else {}

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def parse(self, data: dict, model: str, logprobs: bool) -> ChatResponse:
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            usage = data.get("usage") or {}
            top = None
            content = (choice.get("logprobs") or {}).get("content") if logprobs else None
            if content:
                top = [[(alt["token"], float(alt["logprob"])) for alt in (pos.get("top_logprobs") or [pos])]
                       for pos in content[:KEEP_LOGPROB_POSITIONS]]
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
            return ChatResponse(text=text, model=str(data.get("model") or model),
                                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                                completion_tokens=int(usage.get("completion_tokens") or 0), top_logprobs=top,
                                finish_reason=choice.get("finish_reason"), raw=data, cached_prompt_tokens=int(cached))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise TransientError("malformed body", f"unexpected chat-completion JSON ({type(exc).__name__}: {exc})")


class AnthropicProvider(HTTPProvider):
    """Anthropic's messages API (no log-probabilities: use text-mode judges with it)."""
    name = "anthropic"
    default_base_url = "https://api.anthropic.com"
    version = "2023-06-01"

    def __init__(self, base_url: str | None = None, api_key_env: str | None = "ANTHROPIC_API_KEY",
                 name: str | None = None, prompt_cache: bool = True) -> None:
        self.prompt_cache = prompt_cache
        super().__init__(base_url, api_key_env, name)

    def headers(self) -> dict[str, str]:
        headers = {"anthropic-version": self.version}
        if self._key:
            headers["x-api-key"] = self._key
        return headers

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/v1/messages"

    def body(self, request: ChatRequest) -> dict[str, Any]:
        if request.logprobs:
            raise PermanentError("unsupported", "the Anthropic messages API returns no logprobs; use a text-mode judge")
        system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
        body: dict[str, Any] = {"model": request.model, "max_tokens": request.max_tokens,
                                "temperature": request.temperature,
                                "messages": [dict(m) for m in request.messages if m["role"] != "system"]}
        if system and self.prompt_cache:  # the stable prefix: cached for 5 minutes, reads cost 10% of input
            body["system"] = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
        elif system:
            body["system"] = system
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        return body

    def parse(self, data: dict, model: str, logprobs: bool) -> ChatResponse:
        try:
            text = "".join(block.get("text", "") for block in data["content"] if block.get("type") == "text")
            usage = data.get("usage") or {}
            read = int(usage.get("cache_read_input_tokens") or 0)
            written = int(usage.get("cache_creation_input_tokens") or 0)
            # Anthropic's input_tokens excludes cached and cache-writing tokens: prompt_tokens counts them all
            return ChatResponse(text=text, model=str(data.get("model") or model),
                                prompt_tokens=int(usage.get("input_tokens") or 0) + read + written,
                                completion_tokens=int(usage.get("output_tokens") or 0),
                                finish_reason=data.get("stop_reason"), raw=data, cached_prompt_tokens=read,
                                cache_write_tokens=written)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TransientError("malformed body", f"unexpected messages JSON ({type(exc).__name__}: {exc})")


__all__ = ["HTTPProvider", "OpenAIProvider", "AnthropicProvider", "TransientError", "PermanentError", "AuthError",
           "parse_retry_after", "read_key"]
