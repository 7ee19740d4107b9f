"""The persistent response cache: one SQLite file, safe with several processes writing at once.

Keyed by sha256 of (provider, model, decoding parameters, full message list) — see ChatRequest.cache_key.
WAL journal plus a busy timeout let concurrent writers queue instead of failing; every answer is committed
the moment it arrives, so a killed run keeps all answers it had. Only responses are stored: no headers,
no endpoint URLs, no keys.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Sequence

from sftbench.judges.llm.chat import ChatRequest, ChatResponse

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


class ResponseCache:
    """`get(provider, request)` / `put(provider, request, response)`; one connection per process, thread-safe."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self.hits = 0
        self.misses = 0
        self._connection()  # create the file and schema now, so errors surface at construction

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():  # a forked child opens its own connection
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, check_same_thread=False,
                                   isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            self._retry_locked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
            conn.execute("PRAGMA synchronous=NORMAL")
            self._retry_locked(lambda: conn.execute(SCHEMA))
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _retry_locked(self, fn):
        """Run fn, retrying 'database is locked' (busy_timeout does not cover every case, e.g. journal switches)."""
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def get_key(self, key: str) -> ChatResponse | None:
        with self._lock:
            conn = self._connection()
            row = self._retry_locked(lambda: conn.execute(
                "SELECT response FROM responses WHERE key = ?", (key,)).fetchone())
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return ChatResponse.from_json(row[0], cached=True)

    def get(self, provider: str, request: ChatRequest) -> ChatResponse | None:
        return self.get_key(request.cache_key(provider))

    def put(self, provider: str, request: ChatRequest, response: ChatResponse) -> None:
        key = request.cache_key(provider)
        blob = response.to_json()
        with self._lock:
            conn = self._connection()
            self._retry_locked(lambda: conn.execute(
                "INSERT OR REPLACE INTO responses (key, provider, model, response, created_at) VALUES (?,?,?,?,?)",
                (key, provider, request.model, blob, time.time())))  # autocommit: durable on return

    def put_many(self, provider: str, rows: Sequence[tuple[str, str, ChatResponse]]) -> None:
        """Store (cache key, model, response) rows in one transaction (a batch's answers: all or none)."""
        now = time.time()
        values = [(key, provider, model, response.to_json(), now) for key, model, response in rows]
        with self._lock:
            conn = self._connection()

            def write() -> None:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany("INSERT OR REPLACE INTO responses (key, provider, model, response, created_at) "
                                     "VALUES (?,?,?,?,?)", values)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            self._retry_locked(write)

    def __len__(self) -> int:
        with self._lock:
            conn = self._connection()
            return self._retry_locked(lambda: conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"


__all__ = ["ResponseCache"]
