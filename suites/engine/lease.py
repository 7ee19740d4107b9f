"""Per-step leases: whoever computes a step holds an OS file lock on `<store>/.leases/<step>.lock`; the file says
who (host, pid, since, last heartbeat). A second process that wants the same step waits for the lock, then finds
the step finished and reuses it. The kernel releases the lock when its holder dies (kill -9 included), so a dead
holder's temporary directory can be told from a live one's: its lock can be taken.

These are POSIX `flock` locks: they hold between processes of one machine, and on network filesystems that
implement them; across nodes the distributed executor adds its own coordinator on top.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

HEARTBEAT_S = 30.0


class Lease:
    """A held lease; `info()` is what other processes see."""

    def __init__(self, path: Path, fd: int):
        self.path, self.fd = path, fd
        self.since = time.time()
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name=f"lease-{path.stem}", daemon=True)
        self._write()
        self._beat.start()

    def _write(self) -> None:
        info = {"host": socket.gethostname(), "pid": os.getpid(), "since": self.since, "heartbeat": time.time()}
        data = (json.dumps(info) + "\n").encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self._write()
            except OSError:
                return

    def release(self) -> None:
        self._stop.set()
        try:
            os.ftruncate(self.fd, 0)
        except OSError:
            pass
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def holder(path: Path) -> dict | None:
    """Who holds (or last held) a lease, as its file says."""
    try:
        text = path.read_text()
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def try_acquire(path: Path) -> Lease | None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return Lease(path, fd)


@contextmanager
def acquire(path: Path, waiting: Callable[[dict | None], None] | None = None,
            poll_s: float = 1.0) -> Iterator[Lease]:
    """Hold the lease at `path` for the block; while another process holds it, wait (telling `waiting` once)."""
    told = False
    while True:
        lease = try_acquire(path)
        if lease is not None:
            break
        if not told and waiting is not None:
            waiting(holder(path))
            told = True
        time.sleep(poll_s)
    try:
        yield lease
    finally:
        lease.release()
