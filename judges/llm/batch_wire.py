"""The providers' batch APIs on the wire: OpenAI's Files + Batches (also vLLM and other OpenAI-compatible servers
that implement it) and Anthropic's Message Batches.

A wire object turns requests into batch lines (the same request bodies the synchronous path sends, so answers are
the same), submits them, reads a batch's state in one normalised shape (BatchView) and reads its results (one
ItemResult per custom_id, the answer body parsed later by the provider's own `parse`). It never retries and never
persists anything: judges/llm/batch.py does both.

    OpenAI     POST {base}/files (purpose=batch, JSONL of {custom_id, method, url, body}), POST {base}/batches
               {input_file_id, endpoint: /v1/chat/completions, completion_window: 24h}, GET {base}/batches/{id},
               GET {base}/files/{output_file_id | error_file_id}/content. At most 50,000 requests / 200 MB a batch.
    Anthropic  POST {base}/v1/messages/batches {requests: [{custom_id, params}]}, GET .../batches/{id},
               GET .../batches/{id}/results (JSONL). At most 100,000 requests / 256 MB a batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

import aiohttp

from sftbench.judges.llm.chat import ChatRequest, LLMError
from sftbench.judges.llm.providers import AnthropicProvider, HTTPProvider, OpenAIProvider

MB = 1024 * 1024


@dataclass
class BatchView:
    """A batch as the provider reports it, in one shape for every provider."""
    batch_id: str
    status: str                 # the provider's own word (validating, in_progress, completed, expired, ended, ...)
    ended: bool                 # no further change: its results can be read
    total: int = 0
    done: int = 0
    failed: int = 0
    expired: int = 0
    refs: dict[str, Any] = field(default_factory=dict)  # what `results` needs (file ids, results URL)


@dataclass
class ItemResult:
    """One request's outcome in a batch: an answer body, or an error (expired: the batch ran out of time)."""
    ok: bool
    body: dict[str, Any] | None = None
    error: str = ""
    expired: bool = False


class BatchWire:
    max_requests = 50_000
    max_bytes = 200 * MB

    def __init__(self, provider: HTTPProvider) -> None:
        self.provider = provider

    def line(self, custom_id: str, request: ChatRequest) -> bytes:
        raise NotImplementedError

    async def prepare(self, session: aiohttp.ClientSession, lines: list[bytes]) -> str | None:
        """Anything to do before creating the batch (OpenAI: upload the input file); returns its reference."""
        return None

    async def create(self, session: aiohttp.ClientSession, lines: list[bytes], prepared: str | None) -> str:
        raise NotImplementedError

    async def find(self, session: aiohttp.ClientSession, prepared: str | None) -> str | None:
        """The batch created from `prepared` whose id was never saved (a process killed in between), if any."""
        return None

    async def view(self, session: aiohttp.ClientSession, batch_id: str) -> BatchView:
        raise NotImplementedError

    async def results(self, session: aiohttp.ClientSession, view: BatchView) -> dict[str, ItemResult]:
        raise NotImplementedError


def _jsonl(text: str) -> Iterable[dict[str, Any]]:
    for raw in text.splitlines():
        raw = raw.strip()
        if raw:
            try:
                yield json.loads(raw)
            except json.JSONDecodeError:
                continue  # an unreadable line: its item has no result and is retried synchronously


class OpenAIBatchWire(BatchWire):
    max_requests = 50_000
    max_bytes = 200 * MB
    endpoint_path = "/v1/chat/completions"

    def line(self, custom_id: str, request: ChatRequest) -> bytes:
        item = {"custom_id": custom_id, "method": "POST", "url": self.endpoint_path,
                "body": self.provider.body(request)}
        return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    async def prepare(self, session: aiohttp.ClientSession, lines: list[bytes]) -> str | None:
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", b"".join(lines), filename="sftbench-batch.jsonl", content_type="application/jsonl")
        data = await self.provider.call(session, "POST", f"{self.provider.base_url}/files", data=form)
        return str(data["id"])

    async def create(self, session: aiohttp.ClientSession, lines: list[bytes], prepared: str | None) -> str:
        body = {"input_file_id": prepared, "endpoint": self.endpoint_path, "completion_window": "24h",
                "metadata": {"client": "sftbench"}}
        data = await self.provider.call(session, "POST", f"{self.provider.base_url}/batches", json_body=body)
        return str(data["id"])

    async def find(self, session: aiohttp.ClientSession, prepared: str | None) -> str | None:
        if not prepared:
            return None
        after = None
        for _ in range(20):  # the 2,000 most recent batches
            url = f"{self.provider.base_url}/batches?limit=100" + (f"&after={after}" if after else "")
            data = await self.provider.call(session, "GET", url)
            for batch in data.get("data") or []:
                if batch.get("input_file_id") == prepared:
                    return str(batch["id"])
            if not data.get("has_more") or not data.get("data"):
                return None
            after = data["data"][-1]["id"]
        return None

    async def view(self, session: aiohttp.ClientSession, batch_id: str) -> BatchView:
        data = await self.provider.call(session, "GET", f"{self.provider.base_url}/batches/{batch_id}")
        counts = data.get("request_counts") or {}
        status = str(data.get("status"))
        return BatchView(batch_id, status, status in ("completed", "expired", "failed", "cancelled"),
                         total=int(counts.get("total") or 0), done=int(counts.get("completed") or 0),
                         failed=int(counts.get("failed") or 0), expired=0,
                         refs={"output": data.get("output_file_id"), "errors": data.get("error_file_id"),
                               "why": json.dumps(data.get("errors"))[:300] if data.get("errors") else ""})

    async def results(self, session: aiohttp.ClientSession, view: BatchView) -> dict[str, ItemResult]:
        out: dict[str, ItemResult] = {}
        for ref in ("output", "errors"):
            file_id = view.refs.get(ref)
            if not file_id:
                continue
            text = await self.provider.call(session, "GET", f"{self.provider.base_url}/files/{file_id}/content",
                                            raw=True)
            for item in _jsonl(text):
                out[str(item.get("custom_id"))] = self._item(item)
        return out

    @staticmethod
    def _item(item: dict[str, Any]) -> ItemResult:
        response, error = item.get("response") or {}, item.get("error")
        if error:
            code = str(error.get("code") or "error")
            return ItemResult(False, error=f"{code}: {error.get('message') or ''}"[:300],
                              expired=code == "batch_expired")
        status = int(response.get("status_code") or 0)
        if status == 200 and isinstance(response.get("body"), dict):
            return ItemResult(True, response["body"])
        return ItemResult(False, error=f"HTTP {status}: {json.dumps(response.get('body'))[:300]}")


class AnthropicBatchWire(BatchWire):
    max_requests = 100_000
    max_bytes = 256 * MB

    def line(self, custom_id: str, request: ChatRequest) -> bytes:
        item = {"custom_id": custom_id, "params": self.provider.body(request)}
        return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()

    @property
    def root(self) -> str:
        return f"{self.provider.base_url}/v1/messages/batches"

    async def create(self, session: aiohttp.ClientSession, lines: list[bytes], prepared: str | None) -> str:
        body = b'{"requests":[' + b",".join(lines) + b"]}"
        headers = {**self.provider.headers(), "content-type": "application/json"}
        async with session.post(self.root, data=body, headers=headers) as resp:
            text = await resp.text(errors="replace")
            self.provider._raise_for_status(resp.status, text, resp.reason, resp.headers)
        return str(self.provider._json_object(text)["id"])

    async def view(self, session: aiohttp.ClientSession, batch_id: str) -> BatchView:
        data = await self.provider.call(session, "GET", f"{self.root}/{batch_id}")
        counts = data.get("request_counts") or {}
        n = {k: int(counts.get(k) or 0) for k in ("processing", "succeeded", "errored", "canceled", "expired")}
        status = str(data.get("processing_status"))
        return BatchView(batch_id, status, status == "ended", total=sum(n.values()), done=n["succeeded"],
                         failed=n["errored"] + n["canceled"], expired=n["expired"],
                         refs={"results_url": data.get("results_url")})

    async def results(self, session: aiohttp.ClientSession, view: BatchView) -> dict[str, ItemResult]:
        url = view.refs.get("results_url") or ""
        if not url.startswith(self.provider.base_url + "/"):  # the key goes to the configured endpoint only
            url = f"{self.root}/{view.batch_id}/results"
        text = await self.provider.call(session, "GET", url, raw=True)
        out: dict[str, ItemResult] = {}
        for item in _jsonl(text):
            result = item.get("result") or {}
            kind = result.get("type")
            if kind == "succeeded" and isinstance(result.get("message"), dict):
                out[str(item.get("custom_id"))] = ItemResult(True, result["message"])
            else:
                detail = json.dumps(result.get("error"))[:300] if result.get("error") else ""
                out[str(item.get("custom_id"))] = ItemResult(False, error=f"{kind}: {detail}".strip(": "),
                                                             expired=kind == "expired")
        return out


def batch_wire(provider: Any) -> BatchWire:
    """The batch API of a provider (OpenAI-compatible endpoints must implement OpenAI's Files and Batches API)."""
    if isinstance(provider, AnthropicProvider):
        return AnthropicBatchWire(provider)
    if isinstance(provider, OpenAIProvider):
        return OpenAIBatchWire(provider)
    raise LLMError(f"provider {getattr(provider, 'name', provider)!r} has no batch API: set batch: false")


def chunks(lines: list[bytes], max_requests: int, max_bytes: int) -> list[tuple[int, int]]:
    """[start, end) index ranges of `lines`, each within both limits (a single line over max_bytes is its own chunk;
    the provider then rejects it and its item is retried synchronously)."""
    out, start, size = [], 0, 0
    for i, line in enumerate(lines):
        if i > start and (i - start >= max_requests or size + len(line) + 64 > max_bytes):
            out.append((start, i))
            start, size = i, 0
        size += len(line) + 1
    if start < len(lines):
        out.append((start, len(lines)))
    return out


__all__ = ["BatchView", "ItemResult", "BatchWire", "OpenAIBatchWire", "AnthropicBatchWire", "batch_wire", "chunks"]
