"""Fixtures for the LLM client tests: a real loopback HTTP server, a fake API key in the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from sftbench.judges.llm.loopback.server import LoopbackServer

FAKE_KEY = "sk-test-DO-NOT-LEAK-7f3a9c21e5b84d06"
KEY_ENV = "SFTBENCH_TEST_LLM_KEY"


@pytest.fixture
def fake_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    return FAKE_KEY


@pytest.fixture
def server(fake_key: str):
    """A loopback OpenAI/Anthropic server that requires the fake key; tests set faults/responders on it."""
    with LoopbackServer(api_key=fake_key) as srv:
        yield srv


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every file under root whose bytes contain needle."""
    blob = needle.encode()
    return [p for p in root.rglob("*") if p.is_file() and blob in p.read_bytes()]
