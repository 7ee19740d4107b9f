"""A loopback HTTP server that speaks the OpenAI chat-completions and Anthropic messages wire formats.

It answers deterministically (or through a `responder` you give it), with token usage, logprobs and
top_logprobs, after an optional simulated latency, and injects faults on demand: per prompt (a schedule
consumed in order) or at random (`fault_rate`). It records what a test needs to check a client: requests,
billable answers, max requests in flight, arrival times per prompt. Used by the tests and the benchmark;
also handy for dry runs of a suite with no model at all.

Fault kinds: any HTTP status ("429" comes with Retry-After; "500", "503", "529", "400", "401", "403", ...),
slow (answers after `slow_s`), truncated (a 200 whose JSON is cut), garbage (a 200 that is not JSON), drop
(connection closed without an answer); in batches also expired (the item runs out of time).

Prompt caching (`prompt_cache = True`): the server remembers system prompts it has seen and reports them as cached
(OpenAI: `usage.prompt_tokens_details.cached_tokens`; Anthropic, only for a system block marked with cache_control:
`cache_creation_input_tokens` the first time, `cache_read_input_tokens` after). Batch APIs (OpenAI Files + Batches,
Anthropic Message Batches) are served by judges/llm/loopback_batch.py with the same answers and faults.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
from collections import Counter, defaultdict
from typing import Any, Callable

from aiohttp import web

Responder = Callable[[list[dict[str, str]], dict[str, Any]], "str | dict[str, Any]"]


def default_answer(messages: list[dict[str, str]]) -> str:
    """The default deterministic answer: 'answer <12 hex of sha256(last message)>'."""
    return "answer " + hashlib.sha256(messages[-1]["content"].encode()).hexdigest()[:12]


def count_tokens(text: str) -> int:
    return len(text.split())


class LoopbackServer:
    def __init__(self, latency_s: float = 0.0, fault_rate: float = 0.0, fault_kinds: tuple[str, ...] = ("429", "500"),
                 seed: int = 0, api_key: str | None = None, responder: Responder | None = None,
                 slow_s: float = 5.0, retry_after: str = "0", model_suffix: str = "", prompt_cache: bool = False,
                 batch_concurrency: int = 64) -> None:
        self.latency_s, self.fault_rate, self.fault_kinds = latency_s, fault_rate, fault_kinds
        self.api_key, self.responder, self.slow_s, self.retry_after = api_key, responder, slow_s, retry_after
        self.model_suffix, self.prompt_cache = model_suffix, prompt_cache
        self.schedule: dict[str, list[str]] = {}   # substring of the last message -> faults to serve, in order
        self._seen_prefixes: set[str] = set()      # system prompts the simulated prompt cache holds
        self.batch_hold = False                    # batches wait while True (see loopback_batch.py)
        self.batch_faults: list[str] = []          # one per created batch: "expire", "fail" or ""
        from sftbench.judges.llm.loopback.batch import LoopbackBatches
        self.batches = LoopbackBatches(self, batch_concurrency)
        self._rng = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.reset_stats()

    # --- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> "LoopbackServer":
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def boot() -> None:
            app = web.Application(client_max_size=512 * 1024 * 1024)
            app.router.add_post("/v1/chat/completions", self._openai)
            app.router.add_post("/v1/messages", self._anthropic)
            app.router.add_get("/v1/models", self._models)
            self.batches.add_routes(app)
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(boot())
            ready.set()
            self._loop.run_forever()
        self._thread = threading.Thread(target=run, name="loopback-llm-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("loopback server did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.batches.shutdown(), self._loop).result(10)
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)  # type: ignore[union-attr]

        async def cancel_rest() -> None:  # handlers still sleeping (slow answers nobody waits for any more)
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(cancel_rest(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)  # type: ignore[union-attr]
        self._loop = None

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """OpenAI-style root (…/v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset_stats(self) -> None:
        self.requests = 0            # every HTTP request received
        self.billable = 0            # requests answered with a complete, valid 200
        self.faults_served: Counter[str] = Counter()
        self.by_prompt: Counter[str] = Counter()
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.in_flight = self.max_in_flight = 0
        self.auth_failures = 0
        self.batch_items = 0         # requests answered inside batches (billable ones also count in `billable`)
        self.files_uploaded = self.batches_created = self.batch_polls = 0

    # --- behaviour ---------------------------------------------------------------------------------------------
    def _fault_for(self, last: str) -> str | None:
        for key, queue in self.schedule.items():
            if key in last and queue:
                return queue.pop(0)
        if self.fault_rate and self._rng.random() < self.fault_rate:
            return self._rng.choice(self.fault_kinds)
        return None

    def _answer(self, messages: list[dict[str, str]], body: dict[str, Any]) -> dict[str, Any]:
        out = self.responder(messages, body) if self.responder else default_answer(messages)
        out = {"text": out} if isinstance(out, str) else dict(out)
        words = out["text"].split(" ")
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 10**9)
        out["finish"] = "length" if len(words) > max_tokens else "stop"
        out["text"] = " ".join(words[:max_tokens])
        return out

    async def _serve(self, request: web.Request, kind: str) -> web.StreamResponse:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._handle(request, kind)
        finally:
            self.in_flight -= 1

    def authorized(self, request: web.Request, kind: str) -> bool:
        sent_key = (request.headers.get("Authorization", "").removeprefix("Bearer ") if kind == "openai"
                    else request.headers.get("x-api-key", ""))
        if self.api_key is not None and sent_key != self.api_key:
            self.auth_failures += 1
            return False
        return True

    @staticmethod
    def auth_error(request: web.Request, kind: str) -> web.Response:
        sent_key = (request.headers.get("Authorization", "").removeprefix("Bearer ") if kind == "openai"
                    else request.headers.get("x-api-key", ""))
        return web.json_response({"error": {"message": f"Incorrect API key provided: {sent_key}",
                                            "type": "invalid_request_error"}}, status=401)

    async def _handle(self, request: web.Request, kind: str) -> web.StreamResponse:
        body = await request.json()
        if not self.authorized(request, kind):
            return self.auth_error(request, kind)
        fault, payload = await self.process(kind, body)
        if fault and fault.isdigit():  # an HTTP status: 429, 500, 503, 529, 400, 401, 403, 409, ...
            headers = {"Retry-After": self.retry_after} if fault == "429" else {}
            return web.json_response({"error": {"message": f"injected {fault}", "type": "injected"}},
                                     status=int(fault), headers=headers)
        if fault == "drop":
            request.transport.close()  # type: ignore[union-attr]
            raise asyncio.CancelledError()
        text = json.dumps(payload)
        if fault == "truncated":
            return web.Response(text=text[: len(text) // 2], content_type="application/json")
        if fault == "garbage":
            return web.Response(text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        self.billable += 1
        return web.Response(text=text, content_type="application/json")

    async def process(self, kind: str, body: dict[str, Any], in_batch: bool = False
                      ) -> tuple[str | None, dict[str, Any] | None]:
        """(fault or None, answer payload or None for error faults): the part shared by direct and batch calls."""
        messages = [{"role": m["role"], "content": _text(m["content"])} for m in body["messages"]]
        marked = False
        if kind == "anthropic" and body.get("system"):
            system = body["system"]
            marked = not isinstance(system, str) and any("cache_control" in b for b in system)
            messages = [{"role": "system", "content": _text(system)}] + messages
        last = messages[-1]["content"]
        self.by_prompt[last] += 1
        self.arrivals[last].append(time.monotonic())
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        fault = self._fault_for(last)
        if fault:
            self.faults_served[fault] += 1
        if fault and (fault.isdigit() or fault == "expired"):
            return fault, None
        if fault == "slow" and not in_batch:
            await asyncio.sleep(self.slow_s)
        ans = self._answer(messages, body)
        prompt_tokens = sum(count_tokens(m["content"]) for m in messages)
        cached = self._prefix_cached(messages, kind, marked)
        model = body["model"] + self.model_suffix
        payload = (self._openai_payload(body, ans, prompt_tokens, model, cached) if kind == "openai"
                   else self._anthropic_payload(ans, prompt_tokens, model, cached))
        return fault, payload

    def _prefix_cached(self, messages: list[dict[str, str]], kind: str, marked: bool) -> tuple[int, int] | None:
        """(tokens read from, tokens written to) the simulated prompt cache; None when it is off."""
        if not self.prompt_cache:
            return None
        system = messages[0]["content"] if messages[0]["role"] == "system" else None
        if system is None or kind == "anthropic" and not marked:
            return 0, 0
        tokens = count_tokens(system)
        if system in self._seen_prefixes:
            return tokens, 0
        self._seen_prefixes.add(system)
        return 0, tokens if kind == "anthropic" else 0

    def _openai_payload(self, body: dict, ans: dict, prompt_tokens: int, model: str,
                        cached: tuple[int, int] | None = None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": ans["text"]},
                                  "finish_reason": ans["finish"]}
        if body.get("logprobs"):
            n = int(body.get("top_logprobs") or 0)
            content = []
            for i, word in enumerate(ans["text"].split(" ")):
                top = ans.get("top_logprobs") if i == 0 and ans.get("top_logprobs") else \
                    [(word, -0.05)] + [(f"alt{j}", -5.0 - j) for j in range(max(0, n - 1))]
                chosen = dict(top).get(word, -0.05)
                content.append({"token": word, "logprob": chosen, "bytes": list(word.encode()),
                                "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())}
                                                 for t, lp in top[:n]]})
            choice["logprobs"] = {"content": content, "refusal": None}
        completion_tokens = count_tokens(ans["text"])
        usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                 "total_tokens": prompt_tokens + completion_tokens}
        if cached is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": cached[0]}
        return {"id": "chatcmpl-loopback", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [choice], "usage": usage}

    def _anthropic_payload(self, ans: dict, prompt_tokens: int, model: str,
                           cached: tuple[int, int] | None = None) -> dict[str, Any]:
        usage: dict[str, Any] = {"input_tokens": prompt_tokens, "output_tokens": count_tokens(ans["text"])}
        if cached is not None:
            usage.update(input_tokens=prompt_tokens - cached[0] - cached[1], cache_read_input_tokens=cached[0],
                         cache_creation_input_tokens=cached[1])
        return {"id": "msg_loopback", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": ans["text"]}],
                "stop_reason": "max_tokens" if ans["finish"] == "length" else "end_turn", "stop_sequence": None,
                "usage": usage}

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "openai")

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "anthropic")

    async def _models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"object": "list", "data": [{"id": "loopback", "object": "model"}]})


def _text(content: Any) -> str:
    """A message's or system prompt's text: a string, or a list of content blocks."""
    if isinstance(content, str):
        return content
    return "".join(str(block.get("text", "")) for block in content)


__all__ = ["LoopbackServer", "default_answer", "count_tokens"]
