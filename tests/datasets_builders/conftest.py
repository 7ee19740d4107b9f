"""Fixtures for the builder tests: LLM roles on a real loopback server, a local mirror of raw GitHub, data files."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest
from sftbench.judges.llm import LLMRoleConfig, ResponseCache, make_llm_role
from sftbench.judges.llm.loopback.server import LoopbackServer


@pytest.fixture
def llm_role() -> Iterator[Callable]:
    """llm_role(role, responder, cache=None, **cfg) -> (role, server): an LLM role answered by
    `responder(messages, body)` on a loopback server; `cache` is a response-cache file."""
    servers: list[LoopbackServer] = []

    def make(role: str, responder: Callable, cache: Path | None = None, **cfg):
        server = LoopbackServer(responder=responder).start()
        servers.append(server)
        config = LLMRoleConfig(provider="openai_compatible", model="loop", base_url=server.base_url,
                               max_retries=1, backoff_base_s=0.01, **cfg)
        return make_llm_role(role, config, ResponseCache(cache) if cache else None), server
    yield make
    for server in servers:
        server.stop()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A local HTTP server standing in for raw.githubusercontent.com: files under the returned folder are served
    as <repo>/<commit>/<path>; the download cache is a fresh temporary folder."""
    root = tmp_path / "mirror"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SFTBENCH_GITHUB_RAW", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("SFTBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("SFTBENCH_OFFLINE", raising=False)
    yield root
    server.shutdown()


def corrupt_copy(src: Path, dst: Path, old: bytes, new: bytes) -> Path:
    """A copy of a (possibly gzipped) file with the first `old` replaced by `new`, written uncompressed."""
    import gzip
    data = gzip.decompress(src.read_bytes()) if src.suffix == ".gz" else src.read_bytes()
    assert old in data, f"{old!r} not in {src}"
    dst.write_bytes(data.replace(old, new, 1))
    return dst
