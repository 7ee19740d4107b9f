"""The loopback server's batch APIs: OpenAI Files + Batches and Anthropic Message Batches, with faults.

Items are answered by the server's own `process` (same answers, token usage, per-prompt fault schedule and latency
as direct calls), `batch_concurrency` at a time. Settings on the LoopbackServer:

    batch_hold     True: created batches wait (status in progress) until it is set back to False
    batch_faults   consumed one per created batch: "expire" (half the items answered, then the batch expires: the
                   rest come back expired), "fail" (OpenAI: the batch fails validation; Anthropic: every item errors)
    schedule       per-prompt faults apply to batch items too: an HTTP status makes the item fail with it,
                   "expired" makes it expire
Counters: files_uploaded, batches_created, batch_items, batch_polls (status reads).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from sftbench.judges.llm.loopback.server import LoopbackServer

EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."


class LoopbackBatches:
    def __init__(self, server: "LoopbackServer", concurrency: int = 64) -> None:
        self.server, self.concurrency = server, concurrency
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.results: dict[str, list[dict[str, Any]]] = {}  # Anthropic batch id -> result lines
        self._tasks: set[asyncio.Task] = set()
        self._n = 0

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/v1/files", self._upload)
        r.add_get("/v1/files/{file_id}/content", self._file_content)
        r.add_post("/v1/batches", self._openai_create)
        r.add_get("/v1/batches", self._openai_list)
        r.add_get("/v1/batches/{batch_id}", self._openai_get)
        r.add_post("/v1/messages/batches", self._anthropic_create)
        r.add_get("/v1/messages/batches/{batch_id}", self._anthropic_get)
        r.add_get("/v1/messages/batches/{batch_id}/results", self._anthropic_results)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n:06d}"

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _hold_and_fault(self) -> str | None:
        while self.server.batch_hold:
            await asyncio.sleep(0.02)
        return self.server.batch_faults.pop(0) if self.server.batch_faults else None

    async def _answer_all(self, kind: str, items: list[tuple[str, dict[str, Any]]], fault: str | None,
                          on_done: Any) -> dict[str, tuple[str, Any]]:
        """custom_id -> ("ok", payload) | ("error", status) | ("expired", None), items `concurrency` at a time."""
        out: dict[str, tuple[str, Any]] = {}
        answered = len(items) // 2 if fault == "expire" else len(items)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(custom_id: str, body: dict[str, Any]) -> None:
            async with gate:
                self.server.batch_items += 1
                item_fault, payload = await self.server.process(kind, body, in_batch=True)
                if item_fault == "expired":
                    out[custom_id] = ("expired", None)
                elif payload is None or item_fault in ("drop", "truncated", "garbage"):
                    out[custom_id] = ("error", int(item_fault) if item_fault and item_fault.isdigit() else 500)
                else:
                    self.server.billable += 1
                    out[custom_id] = ("ok", payload)
                on_done(out[custom_id][0])
        await asyncio.gather(*(one(cid, body) for cid, body in items[:answered]))
        for cid, _ in items[answered:]:
            out[cid] = ("expired", None)
            on_done("expired")
        return out

    # --- OpenAI -----------------------------------------------------------------------------------------------
    async def _upload(self, request: web.Request) -> web.StreamResponse:
        if not self.server.authorized(request, "openai"):
            return self.server.auth_error(request, "openai")
        form = await request.post()
        upload = form.get("file")
        if form.get("purpose") != "batch" or upload is None or not hasattr(upload, "file"):
            return web.json_response({"error": {"message": "need purpose=batch and a file"}}, status=400)
        data = upload.file.read()
        file_id = self._id("file-")
        self.files[file_id] = data
        self.server.files_uploaded += 1
        return web.json_response({"id": file_id, "object": "file", "bytes": len(data), "purpose": "batch",
                                  "filename": upload.filename, "created_at": int(time.time())})

    async def _file_content(self, request: web.Request) -> web.StreamResponse:
        if not self.server.authorized(request, "openai"):
            return self.server.auth_error(request, "openai")
        data = self.files.get(request.match_info["file_id"])
        if data is None:
            return web.json_response({"error": {"message": "no such file"}}, status=404)
        return web.Response(body=data, content_type="application/jsonl")

    async def _openai_create(self, request: web.Request) -> web.StreamResponse:
        if not self.server.authorized(request, "openai"):
            return self.server.auth_error(request, "openai")
        body = await request.json()
        data = self.files.get(body.get("input_file_id", ""))
        if data is None or body.get("endpoint") != "/v1/chat/completions" or body.get("completion_window") != "24h":
            return web.json_response({"error": {"message": "bad batch request"}}, status=400)
        lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
        if any(line.get("method") != "POST" or line.get("url") != "/v1/chat/completions" for line in lines):
            return web.json_response({"error": {"message": "bad batch line"}}, status=400)
        batch_id = self._id("batch_")
        now = int(time.time())
        batch = {"id": batch_id, "object": "batch", "endpoint": "/v1/chat/completions", "errors": None,
                 "input_file_id": body["input_file_id"], "completion_window": "24h", "status": "validating",
                 "output_file_id": None, "error_file_id": None, "created_at": now, "expires_at": now + 86400,
                 "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                 "metadata": body.get("metadata")}
        self.batches[batch_id] = batch
        self.server.batches_created += 1
        self._spawn(self._openai_run(batch, [(line["custom_id"], line["body"]) for line in lines]))
        return web.json_response(batch)

    async def _openai_run(self, batch: dict[str, Any], items: list[tuple[str, dict[str, Any]]]) -> None:
        fault = await self._hold_and_fault()
        if fault == "fail":
            batch.update(status="failed", errors={"object": "list", "data": [
                {"code": "invalid_request", "message": "injected batch failure", "line": 1}]})
            return
        batch["status"] = "in_progress"
        counts = batch["request_counts"]

        def done(kind: str) -> None:
            counts["completed" if kind == "ok" else "failed"] += 1
        out = await self._answer_all("openai", items, fault, done)
        output, errors = [], []
        for i, (cid, _) in enumerate(items):
            kind, value = out[cid]
            line = {"id": f"batch_req_{i}", "custom_id": cid, "error": None}
            if kind == "ok":
                output.append({**line, "response": {"status_code": 200, "request_id": f"req_{i}", "body": value}})
            elif kind == "error":
                errors.append({**line, "response": {"status_code": value, "request_id": f"req_{i}", "body": {
                    "error": {"message": f"injected {value}", "type": "injected"}}}})
            else:
                errors.append({**line, "response": None,
                               "error": {"code": "batch_expired", "message": EXPIRED_MESSAGE}})
        for ref, lines in (("output_file_id", output), ("error_file_id", errors)):
            if lines:
                file_id = self._id("file-")
                self.files[file_id] = "".join(json.dumps(line) + "\n" for line in lines).encode()
                batch[ref] = file_id
        batch["status"] = "expired" if fault == "expire" else "completed"

    async def _openai_get(self, request: web.Request) -> web.StreamResponse:
        if not self.server.authorized(request, "openai"):
            return self.server.auth_error(request, "openai")
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None or batch.get("object") != "batch":
            return web.json_response({"error": {"message": "no such batch"}}, status=404)
        self.server.batch_polls += 1
        return web.json_response(batch)

    async def _openai_list(self, request: web.Request) -> web.StreamResponse:
        if not self.server.authorized(request, "openai"):
            return self.server.auth_error(request, "openai")
        mine = [b for b in self.batches.values() if b.get("object") == "batch"][::-1]  # newest first
        after, limit = request.query.get("after"), int(request.query.get("limit", 20))
        if after:
            ids = [b["id"] for b in mine]
            mine = mine[ids.index(after) + 1:] if after in ids else []
        page = mine[:limit]
        return web.json_response({"object": "list", "data": page, "has_more": len(mine) > limit,
                                  "first_id": page[0]["id"] if page else None,
                                  "last_id": page[-1]["id"] if page else None})

    # --- Anthropic --------------------------------------------------------------------------------------------
    async def _anthropic_create(self, request: web.Request) -> web.StreamResponse:
        if not self.server.authorized(request, "anthropic"):
            return self.server.auth_error(request, "anthropic")
        body = await request.json()
        requests = body.get("requests") or []
        if not requests or any(set(r) != {"custom_id", "params"} for r in requests):
            return web.json_response({"type": "error", "error": {"type": "invalid_request_error",
                                                                  "message": "bad requests"}}, status=400)
        batch_id = self._id("msgbatch_")
        batch = {"id": batch_id, "type": "message_batch", "processing_status": "in_progress",
                 "request_counts": {"processing": len(requests), "succeeded": 0, "errored": 0, "canceled": 0,
                                    "expired": 0},
                 "ended_at": None, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "expires_at": None, "cancel_initiated_at": None, "results_url": None}
        self.batches[batch_id] = batch
        self.server.batches_created += 1
        self._spawn(self._anthropic_run(batch, [(r["custom_id"], r["params"]) for r in requests]))
        return web.json_response(batch)

    async def _anthropic_run(self, batch: dict[str, Any], items: list[tuple[str, dict[str, Any]]]) -> None:
        fault = await self._hold_and_fault()
        counts = batch["request_counts"]

        def done(kind: str) -> None:
            counts["processing"] -= 1
            counts[{"ok": "succeeded", "error": "errored", "expired": "expired"}[kind]] += 1
        if fault == "fail":
            out = {cid: ("error", 500) for cid, _ in items}
            for _ in items:
                done("error")
        else:
            out = await self._answer_all("anthropic", items, fault, done)
        lines = []
        for cid, _ in items:
            kind, value = out[cid]
            if kind == "ok":
                lines.append({"custom_id": cid, "result": {"type": "succeeded", "message": value}})
            elif kind == "error":
                lines.append({"custom_id": cid, "result": {"type": "errored", "error": {
                    "type": "error", "error": {"type": "api_error", "message": f"injected {value}"}}}})
            else:
                lines.append({"custom_id": cid, "result": {"type": "expired"}})
        self.results[batch["id"]] = lines
        batch.update(processing_status="ended", ended_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     results_url=f"{self.server.anthropic_url}/v1/messages/batches/{batch['id']}/results")

    async def _anthropic_get(self, request: web.Request) -> web.StreamResponse:
        if not self.server.authorized(request, "anthropic"):
            return self.server.auth_error(request, "anthropic")
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None or batch.get("type") != "message_batch":
            return web.json_response({"type": "error", "error": {"type": "not_found_error"}}, status=404)
        self.server.batch_polls += 1
        return web.json_response(batch)

    async def _anthropic_results(self, request: web.Request) -> web.StreamResponse:
        if not self.server.authorized(request, "anthropic"):
            return self.server.auth_error(request, "anthropic")
        lines = self.results.get(request.match_info["batch_id"])
        if lines is None:
            return web.json_response({"type": "error", "error": {"type": "not_found_error"}}, status=404)
        return web.Response(text="".join(json.dumps(line) + "\n" for line in lines),
                            content_type="application/binary")


__all__ = ["LoopbackBatches"]
