"""A text-answer LLM grader for the benchmarks whose judge writes an explanation and a verdict (MT-Bench, WildBench).

`TextGrader` sends full message lists through an sftbench `LLMClient` (so every call is cached, costed and
retried on endpoint faults by the engine) and parses each answer with a benchmark's parser. An answer the parser
cannot read is asked again, at most `parse_retries` times, with the benchmark's reminder appended to the last
user message (a different request, so not a cache hit); after that the item is returned as unparsed, with the
raw text, and counted by the caller, never dropped. Endpoint and budget errors are raised once every item has
finished, so all answers already received stay cached and a re-run only asks for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from sftbench.judges.llm.chat import ChatRequest, Message
from sftbench.judges.llm.config import LLMRoleConfig
from sftbench.judges.llm.engine import LLMClient, gather_with_progress, run_sync

Parser = Callable[[str], Any]


@dataclass
class Grade:
    """One item's outcome: the parsed verdict (None when unparsed), the last raw answer, attempts and why it failed."""
    value: Any
    text: str
    attempts: int
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.value is None


class TextGrader:
    """Asks `model` through `client`; decoding follows the benchmark's published settings unless overridden."""

    def __init__(self, client: LLMClient, model: str, *, temperature: float = 0.0, max_tokens: int = 2048,
                 top_p: float | None = None, seed: int | None = 0, parse_retries: int = 2,
                 progress: bool = False) -> None:
        if parse_retries < 0:
            raise ValueError(f"parse_retries must be >= 0, got {parse_retries}")
        self.client, self.model = client, model
        self.temperature, self.max_tokens, self.top_p, self.seed = temperature, max_tokens, top_p, seed
        self.parse_retries, self.progress = parse_retries, progress

    @classmethod
    def from_config(cls, cfg: LLMRoleConfig, client: LLMClient, *, temperature: float, max_tokens: int,
                    progress: bool = False) -> "TextGrader":
        """A grader for a role config: the config's model; its temperature/max_tokens only where set explicitly
        (the judge role's own defaults, e.g. one token for logprob judges, do not apply to text graders)."""
        model = cfg.model or cfg.resolved("judge").model
        if not model:
            raise ValueError(f"judge config for provider '{cfg.provider}' names no model")
        return cls(client, model, temperature=temperature if cfg.temperature is None else cfg.temperature,
                   max_tokens=max_tokens if cfg.max_tokens is None else cfg.max_tokens, top_p=cfg.top_p,
                   seed=cfg.seed, parse_retries=cfg.parse_retries, progress=progress)

    @property
    def fingerprint(self) -> dict[str, Any]:
        decoding = {"temperature": self.temperature, "max_tokens": self.max_tokens, "seed": self.seed}
        if self.top_p is not None:
            decoding["top_p"] = self.top_p
        return {"provider": self.client.provider_name, "model": self.client.reported_model or self.model,
                "configured_model": self.model, "decoding": decoding, "parse_retries": self.parse_retries}

    def _request(self, messages: Sequence[Message], attempt: int, reminder: str) -> ChatRequest:
        msgs = [dict(m) for m in messages]
        if attempt:
            msgs[-1]["content"] += reminder.format(attempt=attempt + 1)
        seed = None if self.seed is None else self.seed + attempt
        return ChatRequest(messages=tuple(msgs), model=self.model, temperature=self.temperature,
                           max_tokens=self.max_tokens, top_p=self.top_p, seed=seed)

    async def agrade(self, messages: Sequence[Message], parse: Parser, reminder: str = "") -> Grade:
        text, error = "", None
        for attempt in range(self.parse_retries + 1):
            response = await self.client.achat(self._request(messages, attempt, reminder))
            text = response.text
            try:
                return Grade(parse(text), text, attempt + 1)
            except ValueError as exc:
                error = str(exc)
        return Grade(None, text, self.parse_retries + 1, error)

    def grade_many(self, conversations: Sequence[Sequence[Message]], parse: Parser, reminder: str = "",
                   desc: str = "judge") -> list[Grade]:
        """Grades in input order, concurrently up to the client's limit; endpoint errors raised after all finish."""
        results = run_sync(gather_with_progress([self.agrade(m, parse, reminder) for m in conversations],
                                                self.progress, desc))
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return results


__all__ = ["TextGrader", "Grade", "Parser"]
