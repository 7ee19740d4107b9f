"""LLM-backed roles implementing judges/protocols.py: LLMRater, LLMPairwiseJudge, LLMTeacher.

Each role renders its prompt template, calls its LLMClient, and parses the answer. An unparseable answer is
asked again up to `parse_retries` times with another seed and a one-line format reminder (so the retry is a
different request, not a cache hit); after that it is recorded in `failures` with the raw text and the role
returns NaN (`on_failure='nan'`) or raises ParseFailure (`on_failure='raise'`). Batch methods (`rate_many`,
`prefer_many`, `write_many`: what judges/protocols.py's `rate_all` / `prefer_all` / `write_all` call) run many items
concurrently through the client's per-endpoint limit and raise the first endpoint/budget error only after
every item has finished, so all answers already received are cached. With a client in batch mode (the role's
`batch: true`) the same methods send their uncached requests through the provider's batch API: the first asks of
all items go as batches, the parse re-asks and second turns that follow as further batches (or, when fewer than
`batch_min_requests`, synchronously); nothing else changes for the caller.
"""

from __future__ import annotations

import threading
from typing import Any, Awaitable, Callable, Literal, Sequence

from sftbench.judges.llm import parsers
from sftbench.judges.llm.engine import LLMClient, gather_with_progress, run_sync
from sftbench.judges.llm.prompts import PromptTemplate
from sftbench.judges.llm.chat import ChatRequest, ChatResponse, ParseFailure
from sftbench.judges.protocols import Fingerprint

OnFailure = Literal["nan", "raise"]
REMINDER = "\n\n(Attempt {attempt}: answer strictly in the format asked for above.)"


class _LLMRole:
    kind = "role"
    parser_version = ""
    fields: tuple[str, ...] = ()

    def __init__(self, client: LLMClient, model: str, prompt: PromptTemplate, *, temperature: float = 0.0,
                 max_tokens: int = 256, top_p: float | None = None, seed: int | None = 0,
                 stop: Sequence[str] | None = None, logprobs: bool = False, top_logprobs: int | None = None,
                 parse_retries: int = 2, on_failure: OnFailure = "nan", progress: bool = False) -> None:
        self.client, self.model, self.prompt = client, model, prompt.require(self.fields)
        self.request_params = {"temperature": temperature, "max_tokens": max_tokens, "top_p": top_p,
                               "logprobs": logprobs, "top_logprobs": top_logprobs,
                               "stop": tuple(stop) if stop else None}
        self.seed, self.parse_retries, self.on_failure, self.progress = seed, parse_retries, on_failure, progress
        self.failures: list[dict[str, Any]] = []
        self.calls = 0
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> Fingerprint:
        """Provider, the model id the server reports (the configured one until the first answer), decoding,
        prompt sha256, parser version."""
        decoding = {k: v for k, v in self.request_params.items() if v is not None}
        decoding["seed"] = self.seed
        if "stop" in decoding:
            decoding["stop"] = list(decoding["stop"])
        return {"provider": self.client.provider_name, "model": self.client.reported_model or self.model,
                "configured_model": self.model, "role": self.kind, "decoding": decoding,
                "prompt_sha256": self.prompt.sha256, "parser_version": self.parser_version,
                "parse_retries": self.parse_retries}

    @property
    def n_failures(self) -> int:
        return len(self.failures)

    def failure_summary(self) -> dict[str, Any]:
        return {"calls": self.calls, "failures": self.n_failures, "on_failure": self.on_failure}

    def _request(self, attempt: int, fields: dict[str, str], call_seed: int | None = None,
                 prompt: PromptTemplate | None = None) -> ChatRequest:
        messages = [dict(m) for m in (prompt or self.prompt).render(**fields)]
        if attempt:
            messages[-1]["content"] += REMINDER.format(attempt=attempt + 1)
        if self.seed is None and call_seed is None:
            seed = None
        else:
            seed = (self.seed or 0) + (call_seed or 0) + attempt
        return ChatRequest(messages=tuple(messages), model=self.model, seed=seed, **self.request_params)

    async def _ask(self, parse: Callable[[ChatResponse], Any], item: str, fields: dict[str, str],
                   call_seed: int | None = None, prompt: PromptTemplate | None = None) -> Any:
        """Ask, parse, re-ask on a parse error; returns the parsed value, or None after recording a failure."""
        reason, raw = "", ""
        for attempt in range(self.parse_retries + 1):
            response = await self.client.achat(self._request(attempt, fields, call_seed, prompt))
            try:
                value = parse(response)
                with self._lock:
                    self.calls += 1
                return value
            except ValueError as exc:
                reason, raw = str(exc), response.text
        with self._lock:
            self.calls += 1
            self.failures.append({"role": self.kind, "item": item[:200], "reason": reason, "raw": raw,
                                  "attempts": self.parse_retries + 1})
        if self.on_failure == "raise":
            raise ParseFailure(self.kind, raw, reason)
        return None

    def _run_many(self, coros: list[Awaitable[Any]], desc: str) -> list[Any]:
        try:
            results = run_sync(gather_with_progress(coros, self.progress, desc))
        finally:
            health = getattr(self.client, "health", None)
            if health is not None:
                health.log_summary()
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return results


class LLMRater(_LLMRole):
    """AlpaGasus-style quality rating of an Alpaca row: a score in [0, 5], NaN when unparseable."""
    kind = "rater"
    parser_version = parsers.RATING_PARSER_VERSION
    fields = ("instruction", "input", "output")
    default_prompt = "rater_quality"

    async def arate(self, row: dict[str, Any]) -> float:
        fields = {"instruction": row["instruction"], "input": row.get("input") or "(none)", "output": row["output"]}
        value = await self._ask(lambda r: parsers.parse_rating(r.text), row["instruction"], fields)
        return float("nan") if value is None else float(value)

    def rate(self, row: dict[str, Any]) -> float:
        return run_sync(self.arate(row))

    def rate_many(self, rows: Sequence[dict[str, Any]]) -> list[float]:
        return self._run_many([self.arate(row) for row in rows], "rate")


class LLMPairwiseJudge(_LLMRole):
    """Preference in [1, 2] between output_1 (label 'm') and output_2 (label 'M').

    mode='logprob': one output token, expected preference 2 - P(m) from the first token's top_logprobs
    (alpaca_eval's weighted_alpaca_eval_gpt4_turbo); mode='text': the answer's first word, 1.0 or 2.0.
    """
    kind = "judge"
    fields = ("instruction", "output_1", "output_2")
    default_prompt = "judge_pairwise"

    def __init__(self, client: LLMClient, model: str, prompt: PromptTemplate, *,
                 mode: Literal["logprob", "text"] = "logprob", labels: tuple[str, str] = ("m", "M"),
                 **kwargs: Any) -> None:
        if mode == "logprob":
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = kwargs.get("top_logprobs") or 5
        self.mode, self.labels = mode, tuple(labels)
        self.parser_version = (parsers.LOGPROB_PREFERENCE_PARSER_VERSION if mode == "logprob"
                               else parsers.TEXT_PREFERENCE_PARSER_VERSION)
        super().__init__(client, model, prompt, **kwargs)

    @property
    def fingerprint(self) -> Fingerprint:
        return {**super().fingerprint, "mode": self.mode, "labels": list(self.labels)}

    def _parse(self, response: ChatResponse) -> float:
        if self.mode == "logprob":
            return parsers.parse_logprob_preference(response, self.labels)
        return parsers.parse_text_preference(response.text, self.labels)

    async def aprefer(self, prompt: dict[str, Any], output_1: str, output_2: str) -> float:
        instruction = prompt["instruction"]
        if prompt.get("input"):
            instruction = f"{instruction}\n\n{prompt['input']}"
        fields = {"instruction": instruction, "output_1": output_1, "output_2": output_2}
        value = await self._ask(self._parse, instruction, fields)
        return float("nan") if value is None else float(value)

    def prefer(self, prompt: dict[str, Any], output_1: str, output_2: str) -> float:
        return run_sync(self.aprefer(prompt, output_1, output_2))

    def prefer_many(self, prompts: Sequence[dict[str, Any]], outputs_1: Sequence[str],
                    outputs_2: Sequence[str]) -> list[float]:
        if not len(prompts) == len(outputs_1) == len(outputs_2):
            raise ValueError(f"prefer_many: {len(prompts)} prompts, {len(outputs_1)} outputs_1 and "
                             f"{len(outputs_2)} outputs_2; they must be aligned one to one")
        return self._run_many([self.aprefer(p, a, b) for p, a, b in zip(prompts, outputs_1, outputs_2)], "judge")


class LLMTeacher(_LLMRole):
    """Writes an Alpaca row exhibiting the given skills in the given query type (Instruct-SkillMix's teacher).

    mode='sections': one call whose answer has Instruction:/Input:/Response: sections (strong teachers);
    mode='two_turn': one call writes the request, a second call (the request alone as the user turn) answers it,
    which small local models manage where the sectioned format defeats them.
    """
    kind = "teacher"
    parser_version = parsers.TEACHER_PARSER_VERSION
    fields = ("skills", "query_type")
    default_prompt = "teacher_skillmix"
    two_turn_prompt = "teacher_question"

    def __init__(self, client: LLMClient, model: str, prompt: PromptTemplate, *,
                 mode: Literal["sections", "two_turn"] = "sections", **kwargs: Any) -> None:
        self.mode = mode
        super().__init__(client, model, prompt, **kwargs)

    @property
    def fingerprint(self) -> Fingerprint:
        return {**super().fingerprint, "mode": self.mode}

    async def _two_turn(self, fields: dict[str, str], seed: int) -> dict[str, Any] | None:
        instruction = await self._ask(lambda r: parsers.parse_request(r.text), str(fields), fields, call_seed=seed)
        if instruction is None:
            return None
        answer_prompt = PromptTemplate("{instruction}", "inline:teacher-answer")
        response = await self._ask(lambda r: parsers.parse_request(r.text), instruction, {"instruction": instruction},
                                   call_seed=seed, prompt=answer_prompt)
        return None if response is None else {"instruction": instruction, "input": "", "output": response}

    async def awrite_example(self, skills: Sequence[str], query_type: str, seed: int) -> dict[str, Any]:
        if isinstance(skills, str) or not skills:
            raise ValueError(f"write_example needs a non-empty list of skill names, got {skills!r}")
        fields = {"skills": ", ".join(skills), "query_type": query_type}
        # each example's seed is part of its request (so of its cache key): distinct examples, reproducible
        if self.mode == "two_turn":
            row = await self._two_turn(fields, seed)
        else:
            row = await self._ask(lambda r: parsers.parse_alpaca_sections(r.text), str(fields), fields, call_seed=seed)
        meta = {"skills": list(skills), "query_type": query_type, "seed": seed, "source": "llm-teacher"}
        if row is None:  # recorded in self.failures; builders drop rows whose meta says failed
            return {"instruction": "", "input": "", "output": "", "meta": {**meta, "failed": True}}
        return {**row, "meta": meta}

    def write_example(self, skills: Sequence[str], query_type: str, seed: int) -> dict[str, Any]:
        return run_sync(self.awrite_example(skills, query_type, seed))

    def write_many(self, items: Sequence[tuple[Sequence[str], str, int]]) -> list[dict[str, Any]]:
        """Rows for (skills, query_type, seed) items, concurrently; failed items come back with meta.failed."""
        return self._run_many([self.awrite_example(s, q, seed) for s, q, seed in items], "teacher")


__all__ = ["LLMRater", "LLMPairwiseJudge", "LLMTeacher"]
