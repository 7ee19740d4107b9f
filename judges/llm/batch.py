"""Batch mode: a client's uncached requests go to the provider's batch API (half price) instead of one by one.

A client in batch mode (`LLMClient(batch=True, batch_dir=...)`; a role's `batch: true`) hands every request that
misses the response cache to its BatchRunner. The runner collects the requests that arrive together (a
`chat_many`, a role's `prefer_many` / `rate_many` / `write_many`, any gather of `achat` calls: collection ends once
no new request came for `collect_s`), and then:

  1. re-attaches to batches a killed process left in `batch_dir` that hold any of these requests (their custom_id is
     the request's cache key), so a batch is never submitted twice;
  2. submits the rest, split within the provider's limits, and writes each batch's id into the state file in
     `batch_dir` *before* waiting (OpenAI: the uploaded file's id even before the batch is created, so a batch created
     just before a kill is found again by its input file);
  3. polls every `poll_s` with a progress display (submitted, in progress, done, failed, expired);
  4. stores every answer in the response cache (same key as the synchronous path, so a later synchronous run hits
     it) and books it in the ledger at the batch price, *then* drops the batch from the state file;
  5. sends failed and expired items (and everything of a batch that failed as a whole) through the normal
     synchronous path, with its retries.

A collection smaller than `min_requests` (e.g. a handful of parse re-asks) goes the synchronous way at once rather
than waiting for a batch. One process at a time per batch_dir (a per-step directory guarantees it).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterator

import aiohttp

from sftbench.judges.llm.batch_wire import BatchView, BatchWire, batch_wire, chunks
from sftbench.judges.llm.chat import ChatRequest, ChatResponse, LLMAuthError, LLMEndpointError
from sftbench.judges.llm.health import fresh
from sftbench.judges.llm.providers import AuthError, PermanentError, TransientError

if TYPE_CHECKING:
    from sftbench.judges.llm.engine import LLMClient

log = logging.getLogger("sftbench.llm")
STATE_VERSION = 1


class BatchState:
    """The batches of one endpoint not yet collected: a JSON file in batch_dir, rewritten atomically under a lock.

    Each record: {"ref": local id, "id": batch id or null, "prepared": input file id or null, "created_at",
    "items": {custom_id (= cache key): [model, logprobs]}}."""

    def __init__(self, batch_dir: Path, provider: str, endpoint: str, scope: str = "") -> None:
        tag = hashlib.sha256(f"{endpoint}\n{scope}".encode()).hexdigest()[:10]
        self.path = Path(batch_dir) / f"batches-{provider}-{tag}.json"
        self.log_path = self.path.with_suffix(".log.jsonl")
        self.provider, self.endpoint = provider, endpoint

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        data = json.loads(self.path.read_text())
        return list(data.get("batches") or [])

    def _save(self, records: list[dict[str, Any]]) -> None:
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        blob = json.dumps({"version": STATE_VERSION, "provider": self.provider, "endpoint": self.endpoint,
                           "batches": records}, separators=(",", ":"))
        with open(tmp, "w") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def update(self, fn: Callable[[list[dict[str, Any]]], Any]) -> Any:
        """Run fn on the records (it may change them in place) and save them, all under the lock."""
        with self._locked():
            records = self._load()
            out = fn(records)
            self._save(records)
            return out

    def records(self) -> list[dict[str, Any]]:
        with self._locked():
            return self._load()

    def note(self, event: dict[str, Any]) -> None:
        with open(self.log_path, "a") as f:
            f.write(json.dumps({"t": round(time.time(), 3), **event}) + "\n")


class BatchProgress:
    """Submitted / in progress / done / failed / expired over the batches being waited on: a tqdm bar when the client
    shows progress, else an INFO log line whenever the counts change."""

    def __init__(self, label: str, show: bool) -> None:
        self.label, self.views, self.bar, self._last = label, {}, None, None
        if show:
            from tqdm import tqdm
            self.bar = tqdm(total=0, desc=label, leave=False)

    def update(self, view: BatchView, total: int) -> None:
        self.views[view.batch_id] = (view, total)
        submitted = sum(t for _, t in self.views.values())
        done = sum(v.done for v, _ in self.views.values())
        failed = sum(v.failed for v, _ in self.views.values())
        expired = sum(v.expired for v, _ in self.views.values())
        running = sum(max(0, t - v.done - v.failed - v.expired) for v, t in self.views.values() if not v.ended)
        counts = (submitted, running, done, failed, expired)
        if counts == self._last:
            return
        self._last = counts
        text = (f"{len(self.views)} batch(es): submitted {submitted}, in progress {running}, done {done}, "
                f"failed {failed}, expired {expired}")
        if self.bar is not None:
            self.bar.total = submitted
            self.bar.n = done + failed + expired
            self.bar.set_postfix_str(f"in progress {running}, failed {failed}, expired {expired}", refresh=True)
        else:
            log.info("%s: %s", self.label, text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class _Item:
    key: str
    request: ChatRequest
    future: asyncio.Future


class BatchRunner:
    """Collects a client's uncached requests and answers them through batches (see the module docstring).

    Runner-wide: `_waiting` (cache key -> the caller waiting for it), `_following` (state record ref -> the task
    waiting for that batch), `_reserved` (cache key -> budget held for it), so collections that overlap in time
    (a teacher's second turns, parse re-asks) never follow one batch twice."""

    def __init__(self, client: "LLMClient", batch_dir: Path) -> None:
        self.client, self.batch_dir = client, Path(batch_dir)
        self.wire: BatchWire = batch_wire(client.provider)
        # one state file per endpoint, key variable (batches belong to an account) and cached/uncached client (an
        # uncached client, e.g. the judge-noise floor, must never pick up the cached client's batches)
        scope = f"{client.key_env or ''}|{'cached' if client.cache is not None else 'uncached'}"
        self.state = BatchState(self.batch_dir, client.provider_name, client.endpoint, scope)
        self._pending: list[_Item] = []
        self._collector: asyncio.Task | None = None
        self._waiting: dict[str, _Item] = {}
        self._following: dict[str, asyncio.Task] = {}
        self._reserved: dict[str, float] = {}
        self._submitting: set[str] = set()  # state records being submitted right now
        self._progress: BatchProgress | None = None
        self._tasks: set[asyncio.Task] = set()
        self.stats = {"batches_submitted": 0, "batches_reattached": 0, "items_submitted": 0, "items_answered": 0,
                      "items_failed": 0, "items_expired": 0, "items_sync": 0}

    # --- collection -------------------------------------------------------------------------------------------
    async def ask(self, key: str, request: ChatRequest) -> ChatResponse:
        future = asyncio.get_running_loop().create_future()
        self._pending.append(_Item(key, request, future))
        if self._collector is None:
            self._collector = self._spawn(self._collect())
        return await future

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _collect(self) -> None:
        try:
            while True:
                seen = len(self._pending)
                await asyncio.sleep(self.client.batch_collect_s)
                if len(self._pending) == seen:
                    break
        finally:
            items, self._pending, self._collector = self._pending, [], None
        try:
            if len(items) < self.client.batch_min_requests:
                await asyncio.gather(*(self._sync(item) for item in items))
            else:
                await self._run(items)
        except BaseException as exc:  # noqa: BLE001 - every waiting caller gets the error
            for item in items:
                self._settle(item.key)
                _fail(item.future, exc)
            if not isinstance(exc, Exception):
                raise

    async def _sync(self, item: _Item) -> None:
        """The synchronous path, with its retries (small collections, failed and expired batch items)."""
        if item.future.done():
            return
        self.stats["items_sync"] += 1
        try:
            response = await self.client._sync_call(item.request)
        except Exception as exc:  # noqa: BLE001
            _fail(item.future, exc)
        else:
            _resolve(item.future, response)

    def _settle(self, key: str) -> _Item | None:
        """Forget a waiting item and release the budget held for it."""
        amount = self._reserved.pop(key, None)
        if amount is not None and self.client.ledger is not None:
            self.client.ledger.release(amount)
        return self._waiting.pop(key, None)

    # --- one collection ---------------------------------------------------------------------------------------
    async def _run(self, items: list[_Item]) -> None:
        await self.client._ensure_session()
        for item in items:
            self._waiting[item.key] = item
        keys = {item.key for item in items}
        records = await asyncio.to_thread(self.state.records)
        busy = set(self._following) | self._submitting
        stale = {r["ref"] for r in records if r["ref"] not in busy and not r.get("id") and not r.get("prepared")}
        if stale:  # killed before anything reached the provider: nothing to re-attach to
            await asyncio.to_thread(self.state.update, lambda recs: recs.__setitem__(
                slice(None), [r for r in recs if r["ref"] not in stale]))
        covered: set[str] = set()
        for record in records:
            mine = keys.intersection(record["items"])
            if not mine or record["ref"] in stale:
                continue
            covered |= mine
            if record["ref"] not in self._following:
                self.stats["batches_reattached"] += 1
                log.info("LLM batches %s: re-attaching to batch %s from an earlier run (%d requests)",
                         self.client.endpoint, record.get("id") or record.get("prepared"), len(record["items"]))
                self._start(record)
        new_items: list[_Item] = []
        for item in items:
            if item.key in covered:
                continue
            hit = self.client.cache.get_key(item.key) if self.client.cache is not None else None
            if hit is not None:  # collected by a batch that ended while this collection formed
                self._settle(item.key)
                _resolve(item.future, hit)
                continue
            new_items.append(item)
        if not new_items or not self._reserve_all(new_items):
            return
        lines = [self.wire.line(item.key, item.request) for item in new_items]
        for start, end in chunks(lines, self.wire.max_requests, self.wire.max_bytes):
            record = await self._submit(new_items[start:end], lines[start:end])
            if record is not None:
                self._start(record)

    def _reserve_all(self, items: list[_Item]) -> bool:
        """Book the budget of every new item, or of none: a collection that would cross max_usd is not submitted
        at all (each of its items fails with the budget's error; nothing of it was spent)."""
        if self.client.ledger is None:
            return True
        for item in items:
            try:
                self._reserved[item.key] = self.client.ledger.reserve(self.client.provider_name, item.request,
                                                                      batch=True)
            except Exception as exc:  # noqa: BLE001 - BudgetExceeded / unpriced model: the whole collection
                for failed in items:
                    self._settle(failed.key)  # releases what was booked
                    _fail(failed.future, exc)
                return False
        return True

    def _start(self, record: dict[str, Any]) -> None:
        if self._progress is None:
            self._progress = BatchProgress(f"llm batch {self.client.provider_name}", self.client.progress)
        self._following[record["ref"]] = self._spawn(self._follow(record))

    async def _submit(self, items: list[_Item], lines: list[bytes]) -> dict[str, Any] | None:
        """Create one batch, its id saved before anything waits on it; None (items sent synchronously) if the
        provider refused the batch itself (a refused key raises: that stops the client)."""
        record = {"ref": uuid.uuid4().hex, "id": None, "prepared": None, "created_at": round(time.time(), 3),
                  "items": {item.key: [item.request.model, item.request.logprobs] for item in items}}
        self._submitting.add(record["ref"])
        await asyncio.to_thread(self._save_record, record)
        session = self.client._session
        try:
            record["prepared"] = await self._mgmt(lambda: self.wire.prepare(session, lines), "upload")
            if record["prepared"]:
                await asyncio.to_thread(self._save_record, record)
            record["id"] = await self._mgmt(lambda: self.wire.create(session, lines, record["prepared"]), "create")
            await asyncio.to_thread(self._save_record, record)
        except LLMAuthError:
            await asyncio.to_thread(self._drop_record, record["ref"])
            raise
        except LLMEndpointError as exc:
            refused = isinstance(exc.status, int) and 400 <= exc.status < 500
            if record["prepared"] and not record["id"] and not refused:
                raise  # the batch may exist (e.g. its creation timed out): kept in the state, found on the next run
            await asyncio.to_thread(self._drop_record, record["ref"])
            if exc.status == 404:
                raise  # no batch API at this endpoint
            log.warning("LLM batches %s: the batch of %d requests was refused (%s); sending them one by one",
                        self.client.endpoint, len(items), exc)
            self._spawn(self._fallback(list(record["items"])))
            return None
        finally:
            self._submitting.discard(record["ref"])
        self.stats["batches_submitted"] += 1
        self.stats["items_submitted"] += len(items)
        await asyncio.to_thread(self.state.note, {"event": "submitted", "batch": record["id"],
                                                  "requests": len(items)})
        return record

    def _save_record(self, record: dict[str, Any]) -> None:
        def put(recs: list[dict[str, Any]]) -> None:
            for i, r in enumerate(recs):
                if r["ref"] == record["ref"]:
                    recs[i] = dict(record)
                    return
            recs.append(dict(record))
        self.state.update(put)

    def _drop_record(self, ref: str) -> None:
        self.state.update(lambda recs: recs.__setitem__(slice(None), [r for r in recs if r["ref"] != ref]))

    async def _fallback(self, keys: list[str]) -> None:
        items = [item for item in (self._settle(key) for key in keys) if item is not None]
        await asyncio.gather(*(self._sync(item) for item in items))

    # --- waiting for one batch --------------------------------------------------------------------------------
    async def _follow(self, record: dict[str, Any]) -> None:
        try:
            await self._wait_and_collect(record)
        except BaseException as exc:  # noqa: BLE001 - the batch's waiting callers get the error
            if isinstance(exc, LLMEndpointError) and not isinstance(exc, LLMAuthError) and record.get("id"):
                exc = LLMEndpointError(exc.endpoint, exc.model, exc.status,
                                       f"{exc.detail}; batch {record['id']} stays recorded in {self.state.path}: "
                                       "run again to re-attach to it", exc.attempts)
            for key in record["items"]:
                item = self._settle(key)
                if item is not None:
                    _fail(item.future, exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._following.pop(record["ref"], None)
            if not self._following and self._progress is not None:
                self._progress.close()
                self._progress = None
                self.client.health.log_summary()

    async def _wait_and_collect(self, record: dict[str, Any]) -> None:
        """Wait for one batch, store and book its answers, drop it from the state, then retry what failed."""
        session = self.client._session
        if not record.get("id"):  # OpenAI: the input file was uploaded, the batch id never saved
            record["id"] = await self._mgmt(lambda: self.wire.find(session, record["prepared"]), "find")
            if not record["id"]:
                record["id"] = await self._mgmt(lambda: self.wire.create(session, [], record["prepared"]), "create")
                self.stats["batches_submitted"] += 1
            await asyncio.to_thread(self._save_record, record)
        while True:
            view = await self._mgmt(lambda: self.wire.view(session, record["id"]), "poll")
            if self._progress is not None:
                self._progress.update(view, len(record["items"]))
            if view.ended:
                break
            await asyncio.sleep(self.client.batch_poll_s)
        results = await self._mgmt(lambda: self.wire.results(session, view), "results")
        answered: list[tuple[str, str, ChatResponse]] = []
        failed: list[str] = []
        expired = 0
        for key, (model, logprobs) in record["items"].items():
            result = results.get(key)
            if result is not None and result.ok:
                try:
                    answered.append((key, model, self.client.provider.parse(result.body, model, bool(logprobs))))
                    continue
                except TransientError:
                    pass
            failed.append(key)
            expired += bool(result.expired) if result is not None else view.status == "expired"
        if self.client.cache is not None and answered:  # stored before the batch leaves the state file
            await asyncio.to_thread(self.client.cache.put_many, self.client.provider_name, answered)
        ledger = self.client.ledger
        for key, model, response in answered:
            if ledger is not None:
                ledger.record(self.client.provider_name, model, response.prompt_tokens, response.completion_tokens,
                              self._reserved.pop(key, 0.0), cached_prompt_tokens=response.cached_prompt_tokens,
                              cache_write_tokens=response.cache_write_tokens, batch=True)
            self.client.reported_model = response.model
        await asyncio.to_thread(self._drop_record, record["ref"])
        event = {"event": "collected", "batch": record["id"], "status": view.status, "answered": len(answered),
                 "failed": len(failed) - expired, "expired": expired}
        if view.refs.get("why"):
            event["why"] = self.client._scrub(view.refs["why"])
        await asyncio.to_thread(self.state.note, event)
        self.stats["items_answered"] += len(answered)
        self.stats["items_failed"] += len(failed) - expired
        self.stats["items_expired"] += expired
        for key, _, response in answered:
            item = self._waiting.pop(key, None)
            if item is not None:
                _resolve(item.future, response)
        retry = [key for key in failed if key in self._waiting]
        if failed:
            log.info("LLM batch %s (%s): %d answered, %d failed, %d expired; %d retried synchronously",
                     record["id"], view.status, len(answered), len(failed) - expired, expired, len(retry))
        for key in failed:
            if key not in self._waiting:
                self._reserved.pop(key, None)
        await self._fallback(retry)

    async def _mgmt(self, call: Callable[[], Awaitable[Any]], what: str) -> Any:
        """A batch-API call with the client's retries, its health (a refused key stops the client) and a long
        timeout (files of up to 256 MB go up and down)."""
        client = self.client
        status: Any = None
        detail = ""
        timeout = max(client.timeout_s or 0.0, 600.0)
        for attempt in range(client.max_retries + 1):
            client.health.check()
            retry_after = None
            try:
                result = await asyncio.wait_for(call(), timeout)
                client.health.success()
                return result
            except AuthError as exc:
                err = LLMAuthError(client.endpoint, "batch API", exc.status, exc.detail, client.key_env)
                client.health.dead(err)
                raise err from None
            except PermanentError as exc:
                hint = " (does this server implement the Batch API? set batch: false)" if exc.status == 404 else ""
                raise LLMEndpointError(client.endpoint, f"batch API ({what})", exc.status, exc.detail + hint,
                                       attempt + 1) from None
            except TransientError as exc:
                status, detail, retry_after = exc.status, exc.detail, exc.retry_after
            except (TimeoutError, asyncio.TimeoutError):  # the same class from Python 3.11 on
                status, detail = "timeout", f"batch API ({what}): no answer within {timeout} s"
            except (aiohttp.ClientError, KeyError, TypeError, ValueError) as exc:
                status = "connection error" if isinstance(exc, aiohttp.ClientError) else "malformed body"
                detail = client._scrub(f"batch API ({what}): {type(exc).__name__}: {exc}")
            client.health.attempt_failed(status)
            if attempt == client.max_retries:
                break
            delay = client._backoff(attempt, retry_after)
            client._note_retry(status, detail, f"batch API ({what})", attempt + 1, delay)
            await asyncio.sleep(delay)
        err = LLMEndpointError(client.endpoint, f"batch API ({what})", status, detail, client.max_retries + 1)
        client.health.exhausted(err)
        raise err

    def summary(self) -> dict[str, Any]:
        return {"batch_dir": str(self.batch_dir), **self.stats}


def _resolve(future: asyncio.Future, response: ChatResponse) -> None:
    if not future.done():
        future.set_result(response)


def _fail(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(fresh(exc) if isinstance(exc, Exception) else exc)


__all__ = ["BatchRunner", "BatchState", "BatchProgress", "STATE_VERSION"]
