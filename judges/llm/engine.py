"""The async call engine: cache, budget, per-endpoint concurrency, retries with backoff, and a sync facade.

Every client runs its requests on one process-wide background event loop (a daemon thread), so the same
client serves synchronous callers (`chat`, `chat_many`), coroutines on any other loop (`achat`), and
forked worker processes (the loop is recreated in a child). Order of a call: cache lookup (a hit costs
nothing and sends nothing) -> the endpoint's health (a refused key or an open breaker fails the call at once)
-> identical in-flight request joined -> batch mode: the BatchRunner (judges/llm/batch.py) -> otherwise budget
reservation -> endpoint semaphore -> HTTP with a per-call timeout -> retries on 429/5xx/timeouts/connection
errors/unreadable bodies (Retry-After honoured, else exponential backoff with jitter) -> ledger -> cache
(committed at once).

Failures (judges/llm/health.py): a 401/403 stops the client at once: no further request goes out and every
pending or later call raises the same LLMAuthError, naming the key's variable. The client's very first attempt goes
alone (the others wait for its outcome), so a refused key costs exactly one request. After `breaker_failures`
failed attempts in a row one call at a time tries the endpoint; `breaker_failures` calls in a row that exhaust
their retries stop the client (LLMCircuitOpen), so a dead endpoint is not tried once per row. Retries are counted
by kind (`retry_summary()`, and in the ledger's totals), logged one by one at debug level and summarised in one
line. An attempt abandoned after the request went out (timeout, dropped connection, unreadable answer) may be
billed: the ledger adds its pessimistic cost to `usd_upper_bound`.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import random
import threading
import weakref
from pathlib import Path
from typing import Any, Awaitable, Sequence

import aiohttp

from sftbench.judges.llm.cache import ResponseCache
from sftbench.judges.llm.chat import ChatRequest, ChatResponse, LLMAuthError, LLMEndpointError
from sftbench.judges.llm.health import EndpointHealth
from sftbench.judges.llm.ledger import CostLedger
from sftbench.judges.llm.providers import AuthError, PermanentError, TransientError

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
        client._first_done = None
        client._first_taken = False
        client._probe_lock = None
        client._batchers = {}


os.register_at_fork(after_in_child=_reset_after_fork)


class LLMClient:
    """One endpoint (provider + base URL) with its own concurrency limit, retries, cache and ledger.

    Batch mode (`batch=True`): uncached requests go to the provider's batch API through a BatchRunner whose state
    lives in `batch_dir` (default: `llm_batches/` beside the response cache); set `client.batch_dir` per step to
    keep each step's batches apart. Without any directory the client stays synchronous (with a warning)."""

    def __init__(self, provider: Any, cache: ResponseCache | None = None, ledger: CostLedger | None = None,
                 concurrency: int = 8, timeout_s: float | None = 60.0, max_retries: int = 6,
                 backoff_base_s: float = 0.5, backoff_max_s: float = 30.0, max_retry_after_s: float = 120.0, *,
                 breaker_failures: int = 5, batch: bool = False, batch_dir: str | Path | None = None,
                 batch_poll_s: float = 30.0, batch_min_requests: int = 16, progress: bool = False) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.provider, self.cache, self.ledger = provider, cache, ledger
        self.concurrency, self.timeout_s, self.max_retries = concurrency, timeout_s, max_retries
        self.backoff_base_s, self.backoff_max_s, self.max_retry_after_s = backoff_base_s, backoff_max_s, max_retry_after_s
        self.health = EndpointHealth(provider.endpoint, breaker_failures)
        self.batch, self.batch_poll_s, self.batch_min_requests = batch, batch_poll_s, batch_min_requests
        self.batch_dir: Path | None = Path(batch_dir) if batch_dir is not None else None
        self.batch_collect_s = 0.2  # a batch collects the requests that arrive until none came for this long
        self.progress = progress
        self.reported_model: str | None = None
        self.requests_sent = 0      # HTTP attempts, retries included
        self.retries = 0
        self.possibly_billed = 0    # attempts abandoned after the request went out
        self._box: list[Any] = [None]  # the aiohttp session, in a box a finalizer can close after GC
        self._semaphore: asyncio.Semaphore | None = None
        self.shared_slots: Any = None  # SharedSlots (judges/llm/shared.py): the endpoint's limit across processes
        self._inflight: dict[str, asyncio.Future] = {}
        self._first_done: asyncio.Event | None = None  # set once the client's first attempt has an outcome
        self._first_taken = False
        self._probe_lock: asyncio.Lock | None = None  # single flight while the endpoint is suspect
        self._batchers: dict[Path, Any] = {}  # batch_dir -> BatchRunner
        self._warned_no_batch_dir = False
        self._rng = random.Random()
        _clients.add(self)
        weakref.finalize(self, _close_box, self._box)

    @property
    def provider_name(self) -> str:
        return self.provider.name

    @property
    def endpoint(self) -> str:
        return self.provider.endpoint

    @property
    def key_env(self) -> str | None:
        """The name of the environment variable holding the key (never the key)."""
        return getattr(self.provider, "api_key_env", None)

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
        """Answer many requests concurrently (up to `concurrency` in flight; in batch mode: as batches), in order.

        Every request runs to its end (answers are cached as they arrive) before the first error, if any, is
        raised; with `return_exceptions` errors are returned in place instead.
        """
        try:
            results = run_sync(gather_with_progress([self._chat(r) for r in requests], progress, desc))
        finally:
            self.health.log_summary()
        if not return_exceptions:
            for r in results:
                if isinstance(r, BaseException):
                    raise r
        return results

    def retry_summary(self) -> dict[str, Any]:
        """JSON-ready, for a step manifest: retries by kind, calls failed for good or refused, the error that stopped
        the client (if any), attempts sent, attempts possibly billed without an answer, and batch-mode counts."""
        out = {"provider": self.provider_name, "endpoint": self.endpoint, "requests_sent": self.requests_sent,
               "possibly_billed": self.possibly_billed, **self.health.summary()}
        if self._batchers:
            runners = [runner.summary() for runner in self._batchers.values()]
            out["batch"] = {k: sum(r[k] for r in runners) for k in runners[0] if k != "batch_dir"}
            out["batch"]["batch_dirs"] = [r["batch_dir"] for r in runners]
        return out

    def reset_health(self) -> None:
        """Let a stopped client (refused key, open breaker) call its endpoint again."""
        self.health.reset()

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
        self.health.check()  # a refused key or an open breaker: fail now, send nothing
        if key in self._inflight:  # the same request is already on its way: share its answer
            return await asyncio.shield(self._inflight[key])
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # never "exception never retrieved"
        self._inflight[key] = future
        try:
            runner = self._batch_runner()
            response = await (runner.ask(key, request) if runner is not None else self._sync_call(request))
            future.set_result(response)
            return response
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
            raise
        finally:
            self._inflight.pop(key, None)

    def _batch_runner(self) -> Any:
        if not self.batch:
            return None
        where = self.batch_dir or (self.cache.path.parent / "llm_batches" if self.cache is not None else None)
        if where is None:
            if not self._warned_no_batch_dir:
                self._warned_no_batch_dir = True
                log.warning("LLM endpoint %s: batch mode needs a batch_dir (or a response cache) to keep its batch "
                            "ids in; sending requests one by one", self.endpoint)
            return None
        where = Path(where)
        if where not in self._batchers:  # one runner per directory; earlier ones keep following their batches
            from sftbench.judges.llm.batch import BatchRunner
            self._batchers[where] = BatchRunner(self, where)
        return self._batchers[where]

    async def _sync_call(self, request: ChatRequest) -> ChatResponse:
        """One request the synchronous way (with retries), its answer stored in the cache."""
        response = await self._paid_call(request)
        if self.cache is not None:
            await asyncio.to_thread(self.cache.put, self.provider_name, request, response)
        return response

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
                               response.completion_tokens, held[0] if held else 0.0,
                               cached_prompt_tokens=response.cached_prompt_tokens,
                               cache_write_tokens=response.cache_write_tokens)
        self.reported_model = response.model
        return response

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s) * (1 + 0.1 * self._rng.random())
        return min(self.backoff_max_s, self.backoff_base_s * 2 ** attempt) * (0.5 + 0.5 * self._rng.random())

    def _note_retry(self, status: Any, detail: str, model: str, attempt: int, delay: float) -> None:
        self.retries += 1
        kind = self.health.retry(status, detail, model, attempt, self.max_retries, delay)
        if self.ledger is not None:
            self.ledger.record_retry(kind)

    def _possibly_billed(self, request: ChatRequest) -> None:
        self.possibly_billed += 1
        if self.ledger is not None:
            self.ledger.record_possibly_billed(self.provider_name, request)

    async def _ensure_session(self) -> None:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        if self._first_done is None:
            self._first_done = asyncio.Event()
            self._probe_lock = asyncio.Lock()
        if self._session is None:
            self._session = self.provider.make_session(self.concurrency)

    async def _first_attempt(self) -> bool:
        """True for the client's very first attempt (it goes alone); the others wait for its outcome."""
        if not self._first_taken:
            self._first_taken = True
            return True
        await self._first_done.wait()  # type: ignore[union-attr]
        return False

    async def _send(self, request: ChatRequest, held: list[float]) -> ChatResponse:
        await self._ensure_session()
        probing = [False]  # whether this call holds the suspect endpoint's single-flight lock
        try:
            return await self._attempts(request, held, probing)
        finally:
            if probing[0]:
                self._probe_lock.release()  # type: ignore[union-attr]

    async def _attempts(self, request: ChatRequest, held: list[float], probing: list[bool]) -> ChatResponse:
        status: Any = None
        detail = ""
        for attempt in range(self.max_retries + 1):
            retry_after = None
            self.health.check()
            try:
                while True:
                    if self.health.suspect and not probing[0]:  # one call at a time tries a suspect endpoint
                        await self._probe_lock.acquire()  # type: ignore[union-attr]
                        probing[0] = True
                        self.health.check()
                    async with self._semaphore:  # type: ignore[union-attr]
                        if self.health.suspect and not probing[0]:
                            continue  # it became suspect while this call queued: wait for the probing call
                        first = await self._first_attempt()
                        try:
                            self.health.check()
                            if not held and self.ledger is not None:  # may raise BudgetExceeded
                                held.append(self.ledger.reserve(self.provider_name, request))
                            slot = await self.shared_slots.acquire() if self.shared_slots is not None else None
                            self.requests_sent += 1
                            try:
                                response = await asyncio.wait_for(self.provider.complete(request, self._session),
                                                                  self.timeout_s)
                            finally:
                                if slot is not None:
                                    self.shared_slots.release(slot)
                        finally:
                            if first:
                                self._first_done.set()  # type: ignore[union-attr]
                    break
                self.health.success()
                return response
            except AuthError as exc:
                error = LLMAuthError(self.endpoint, request.model, exc.status, exc.detail, self.key_env)
                self.health.dead(error)
                raise error from None
            except PermanentError as exc:
                self.health.answered()
                raise LLMEndpointError(self.endpoint, request.model, exc.status, exc.detail, attempt + 1) from None
            except TransientError as exc:
                status, detail, retry_after = exc.status, exc.detail, exc.retry_after
                if status == "malformed body":  # a 200 was served: it may be billed
                    self._possibly_billed(request)
            except (TimeoutError, asyncio.TimeoutError):  # the same class from Python 3.11 on
                status, detail = "timeout", f"no complete answer within {self.timeout_s} s"
                self._possibly_billed(request)
            except aiohttp.ClientError as exc:
                status, detail = "connection error", self._scrub(f"{type(exc).__name__}: {exc}")
                if not isinstance(exc, aiohttp.ClientConnectorError):  # the request may have reached the server
                    self._possibly_billed(request)
            self.health.attempt_failed(status)
            if attempt == self.max_retries:
                break
            delay = self._backoff(attempt, retry_after)
            self._note_retry(status, detail, request.model, attempt + 1, delay)
            await asyncio.sleep(delay)
        error = LLMEndpointError(self.endpoint, request.model, status, detail, self.max_retries + 1)
        self.health.exhausted(error)
        raise error

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
