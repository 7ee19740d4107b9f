"""Limits shared by every process of a run (local worker processes, Ray workers on the nodes of a cluster): an
endpoint's concurrency and the run's budget hold for all of them together, not once per process.

Both live in a folder every process sees (the store's `.coord/<run>/`) and use POSIX file locks: a concurrency
slot is a lock file held while a request is in flight (a dead process's slots free themselves), and the budget is
one JSON file (spent so far, and each process's in-flight reservations with a heartbeat) updated under a lock.
They need a filesystem with working POSIX locks (local disks, NFSv4, CephFS, Lustre mounted with flock).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

STALE_S = 300.0  # a process whose reservations were not refreshed for this long is gone


class SharedSlots:
    """`slots` concurrency slots of one endpoint, shared across processes."""

    def __init__(self, folder: Path, endpoint: str, slots: int):
        self.folder = Path(folder) / "slots" / hashlib.sha256(endpoint.encode()).hexdigest()[:16]
        self.folder.mkdir(parents=True, exist_ok=True)
        self.slots = slots

    def try_acquire(self) -> int | None:
        for i in range(self.slots):
            fd = os.open(self.folder / f"slot-{i}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                os.close(fd)
        return None

    async def acquire(self, poll_s: float = 0.02) -> int:
        while (fd := self.try_acquire()) is None:
            await asyncio.sleep(poll_s)
        return fd

    @staticmethod
    def release(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class SharedBudget:
    """One run's budget across processes: what was spent, plus every live process's in-flight reservations."""

    def __init__(self, path: Path, max_usd: float):
        self.path, self.max_usd = Path(path), max_usd
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.me = f"{socket.gethostname()}:{os.getpid()}"

    @contextmanager
    def _state(self) -> Iterator[dict]:
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                state = json.loads(self.path.read_text())
            except (FileNotFoundError, ValueError):
                state = {"spent": 0.0, "inflight": {}}
            now = time.time()
            state["inflight"] = {k: v for k, v in state["inflight"].items() if now - v[1] < STALE_S}
            yield state
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(state))
            os.replace(tmp, self.path)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def reserve(self, amount: float) -> tuple[bool, float, float]:
        """Book `amount` if the run stays within max_usd; (booked, spent, in flight elsewhere and here)."""
        with self._state() as state:
            inflight = sum(v[0] for v in state["inflight"].values())
            if state["spent"] + inflight + amount > self.max_usd:
                return False, state["spent"], inflight
            mine = state["inflight"].get(self.me, [0.0, 0.0])[0]
            state["inflight"][self.me] = [mine + amount, time.time()]
            return True, state["spent"], inflight

    def settle(self, reservation: float, spent: float = 0.0) -> None:
        """Release a reservation and add what the call actually cost."""
        with self._state() as state:
            mine = max(0.0, state["inflight"].get(self.me, [0.0, 0.0])[0] - reservation)
            state["inflight"][self.me] = [mine, time.time()]
            state["spent"] += spent

    def spent(self) -> float:
        with self._state() as state:
            return float(state["spent"])
