"""The async call engine: cache, budget, per-endpoint concurrency, retries with backoff, and a sync facade.

Every client runs its requests on one process-wide background event loop (a daemon thread), so the same
client serves synchronous callers (`chat`, `chat_many`), coroutines on any other loop (`achat`), and
forked worker processes (the loop is recreated in a child). Order of a call: cache lookup (a hit costs
nothing and sends nothing) -> identical in-flight request joined -> budget reservation -> endpoint
semaphore -> HTTP with a per-call timeout -> retries on 429/5xx/timeouts/connection errors/unreadable
bodies (Retry-After honoured, else exponential backoff with jitter) -> ledger -> cache (committed at once).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import random
import threading
import weakref
from typing import Any, Awaitable, Sequence

import aiohttp

from sftbench.judges.llm.cache import ResponseCache
from sftbench.judges.llm.ledger import CostLedger
from sftbench.judges.llm.providers import PermanentError, TransientError
from sftbench.judges.llm.chat import ChatRequest, ChatResponse, LLMEndpointError

log = logging.getLogger("sftbench.llm")

_bg: dict[str, Any] = {"loop": None, "thread": None, "pid": None}
_bg_lock = threading.Lock()
_clients: "weakref.WeakSet[LLMClient]" = weakref.WeakSet()


def background_loop() -> asyncio.AbstractEventLoop:
    """The process-wide event loop all clients use (started on first use, recreated after fork)."""
    with _bg_lock:
        if _bg["loop"] is None or _bg["pid"] != os.getpid():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="sftbench-llm-loop", daemon=True)
            thread.start()
            _bg.update(loop=loop, thread=thread, pid=os.getpid())
        return _bg["loop"]


def run_sync(coro: Awaitable[Any]) -> Any:
    """Run a coroutine on the background loop and wait for it (from any thread but the loop's own)."""
    loop = background_loop()
    if threading.current_thread() is _bg["thread"]:
        raise RuntimeError("a synchronous LLM call was made from inside the LLM event loop; await achat() instead")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()  # type: ignore[arg-type]


def _reset_after_fork() -> None:
    _bg.update(loop=None, thread=None, pid=None)
    for client in list(_clients):
        client._session = None
        client._semaphore = None
        client._inflight = {}


os.register_at_fork(after_in_child=_reset_after_fork)


class LLMClient:
    """One endpoint (provider + base URL) with its own concurrency limit, retries, cache and ledger."""

    def __init__(self, provider: Any, cache: ResponseCache | None = None, ledger: CostLedger | None = None,
                 concurrency: int = 8, timeout_s: float | None = 60.0, max_retries: int = 6,
                 backoff_base_s: float = 0.5, backoff_max_s: float = 30.0, max_retry_after_s: float = 120.0) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.provider, self.cache, self.ledger = provider, cache, ledger
        self.concurrency, self.timeout_s, self.max_retries = concurrency, timeout_s, max_retries
        self.backoff_base_s, self.backoff_max_s, self.max_retry_after_s = backoff_base_s, backoff_max_s, max_retry_after_s
        self.reported_model: str | None = None
        self.requests_sent = 0      # HTTP attempts, retries included
        self.retries = 0
        self._box: list[Any] = [None]  # the aiohttp session, in a box a finalizer can close after GC
        self._semaphore: asyncio.Semaphore | None = None
        self._inflight: dict[str, asyncio.Future] = {}
        self._rng = random.Random()
        _clients.add(self)
        weakref.finalize(self, _close_box, self._box)

    @property
    def provider_name(self) -> str:
        return self.provider.name

    @property
    def endpoint(self) -> str:
        return self.provider.endpoint

    def __repr__(self) -> str:
        return f"LLMClient({self.provider!r}, concurrency={self.concurrency})"

    # --- public API -------------------------------------------------------------------------------------------
    async def achat(self, request: ChatRequest) -> ChatResponse:
        """Awaitable from any event loop; the work runs on the background loop."""
        if asyncio.get_running_loop() is background_loop():
            return await self._chat(request)
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._chat(request), background_loop()))

    def chat(self, request: ChatRequest) -> ChatResponse:
        return run_sync(self._chat(request))

    def chat_many(self, requests: Sequence[ChatRequest], return_exceptions: bool = False,
                  progress: bool = False, desc: str = "llm") -> list[Any]:
        """Answer many requests concurrently (up to `concurrency` in flight), in order.

        Every request runs to its end (answers are cached as they arrive) before the first error, if any, is
        raised; with `return_exceptions` errors are returned in place instead.
        """
        results = run_sync(gather_with_progress([self._chat(r) for r in requests], progress, desc))
        if not return_exceptions:
            for r in results:
                if isinstance(r, BaseException):
                    raise r
        return results

    @property
    def _session(self) -> Any:
        return self._box[0]

    @_session.setter
    def _session(self, value: Any) -> None:
        self._box[0] = value

    def close(self) -> None:
        """Close the HTTP session (the client stays usable: a later call opens a new one)."""
        _close_box(self._box, wait=True)

    # --- internals --------------------------------------------------------------------------------------------
    async def _chat(self, request: ChatRequest) -> ChatResponse:
        key = request.cache_key(self.provider_name)
        if self.cache is not None:
            hit = self.cache.get_key(key)
            if hit is not None:
                if self.ledger is not None:
                    self.ledger.record_cached(self.provider_name, request.model)
                self.reported_model = self.reported_model or hit.model
                return hit
        if key in self._inflight:  # the same request is already on its way: share its answer
            return await asyncio.shield(self._inflight[key])
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # never "exception never retrieved"
        self._inflight[key] = future
        try:
            response = await self._paid_call(request)
            if self.cache is not None:
                await asyncio.to_thread(self.cache.put, self.provider_name, request, response)
            future.set_result(response)
            return response
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
            raise
        finally:
            self._inflight.pop(key, None)

    async def _paid_call(self, request: ChatRequest) -> ChatResponse:
        """Send with retries; the budget is reserved when the call first gets a concurrency slot (so requests
        queued behind the limit hold no reservation) and settled with the real usage, or released on failure."""
        held: list[float] = []
        try:
            response = await self._send(request, held)
        except BaseException:
            if held and self.ledger is not None:
                self.ledger.release(held[0])
            raise
        if self.ledger is not None:
            self.ledger.record(self.provider_name, request.model, response.prompt_tokens,
                               response.completion_tokens, held[0] if held else 0.0)
        self.reported_model = response.model
        return response

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s) * (1 + 0.1 * self._rng.random())
        return min(self.backoff_max_s, self.backoff_base_s * 2 ** attempt) * (0.5 + 0.5 * self._rng.random())

    async def _send(self, request: ChatRequest, held: list[float]) -> ChatResponse:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        if self._session is None:
            self._session = self.provider.make_session(self.concurrency)
        status: Any = None
        detail = ""
        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                async with self._semaphore:
                    if not held and self.ledger is not None:
                        held.append(self.ledger.reserve(self.provider_name, request))  # may raise BudgetExceeded
                    self.requests_sent += 1
                    async with asyncio.timeout(self.timeout_s):
                        return await self.provider.complete(request, self._session)
            except PermanentError as exc:
                raise LLMEndpointError(self.endpoint, request.model, exc.status, exc.detail, attempt + 1) from None
            except TransientError as exc:
                status, detail, retry_after = exc.status, exc.detail, exc.retry_after
            except TimeoutError:
                status, detail = "timeout", f"no complete answer within {self.timeout_s} s"
            except aiohttp.ClientError as exc:
                status, detail = "connection error", self._scrub(f"{type(exc).__name__}: {exc}")
            if attempt == self.max_retries:
                break
            delay = self._backoff(attempt, retry_after)
            self.retries += 1
            log.warning("LLM endpoint %s (model %s): %s %s; retry %d/%d in %.2f s", self.endpoint, request.model,
                        status, detail[:120], attempt + 1, self.max_retries, delay)
            await asyncio.sleep(delay)
        raise LLMEndpointError(self.endpoint, request.model, status, detail, self.max_retries + 1)

    def _scrub(self, text: str) -> str:
        scrub = getattr(self.provider, "scrub", None)
        return scrub(text) if scrub else text


def _close_box(box: list[Any], wait: bool = False) -> None:
    session, box[0] = box[0], None
    loop = _bg["loop"]
    if session is None or loop is None or _bg["pid"] != os.getpid() or not loop.is_running():
        return
    future = asyncio.run_coroutine_threadsafe(session.close(), loop)
    if wait and threading.current_thread() is not _bg["thread"]:
        future.result(10)


async def gather_with_progress(coros: Sequence[Awaitable[Any]], progress: bool = False,
                               desc: str = "llm") -> list[Any]:
    """asyncio.gather(..., return_exceptions=True) with an optional tqdm bar."""
    if not progress:
        return await asyncio.gather(*coros, return_exceptions=True)
    from tqdm import tqdm
    bar = tqdm(total=len(coros), desc=desc, leave=False)

    async def tick(c: Awaitable[Any]) -> Any:
        try:
            return await c
        finally:
            bar.update(1)
    try:
        return await asyncio.gather(*(tick(c) for c in coros), return_exceptions=True)
    finally:
        bar.close()


@atexit.register
def _close_all() -> None:
    for client in list(_clients):
        try:
            client.close()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


__all__ = ["LLMClient", "background_loop", "run_sync", "gather_with_progress"]
