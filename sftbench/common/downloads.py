"""Pinned downloads for the judge benchmarks: a local path always wins; otherwise a pinned upstream file, cached.

Every upstream file sftbench reads at run time (eval prompts, reference answers, judge prompts from the papers)
is named by a `PinnedFile` (a URL at a fixed commit plus the sha256 of its content) or a `HubFile` (a Hugging
Face hub dataset file at a revision). `fetch` returns a local path: the override when one is given (never
copied, never modified), else the cached copy, else a fresh download that is checked against its sha256 before
it is cached. Offline (`HF_HUB_OFFLINE=1` or `SFTBENCH_OFFLINE=1`, or no route to the host) a missing file is a
`DataUnavailable` error that names the override to use. Nothing here runs at import time.

Files may be stored gzip-compressed (`.gz`); sha256 values always refer to the uncompressed content, as in
../shared/data's SOURCES.md files.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftbench.common.jsonio import umask_mode

OFFLINE_VARS = ("SFTBENCH_OFFLINE", "HF_HUB_OFFLINE")
CACHE_ENV = "SFTBENCH_CACHE"
RAW_BASE_ENV = "SFTBENCH_GITHUB_RAW"


class DataUnavailable(FileNotFoundError):
    """A file sftbench needs is neither given locally nor cached, and cannot be downloaded."""


@dataclass(frozen=True)
class PinnedFile:
    """One file of a GitHub repository at a fixed commit. `override` says how a user gives a local copy instead."""
    name: str
    repo: str
    commit: str
    path: str
    sha256: str | None
    override: str

    @property
    def url(self) -> str:
        return github_raw(self.repo, self.commit, self.path)


@dataclass(frozen=True)
class HubFile:
    """One file of a Hugging Face hub dataset repository at a revision (a commit sha pins it)."""
    name: str
    repo_id: str
    filename: str
    revision: str
    override: str
    sha256: str | None = None


def cache_root() -> Path:
    """$SFTBENCH_CACHE or ~/.cache/sftbench (the same cache judges/prompt_registry.py uses)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "sftbench")


def github_raw(repo: str, commit: str, path: str) -> str:
    """A raw file URL at a commit; $SFTBENCH_GITHUB_RAW replaces https://raw.githubusercontent.com (a mirror)."""
    base = os.environ.get(RAW_BASE_ENV, "https://raw.githubusercontent.com").rstrip("/")
    return f"{base}/{repo}/{commit}/{path}"


def is_offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARS)


def open_text(path: str | Path):
    """A text handle on a plain or gzip-compressed file."""
    path = Path(path)
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def read_text(path: str | Path) -> str:
    with open_text(path) as f:
        return f.read()


def read_json_or_jsonl(path: str | Path) -> Any:
    """A .json/.json.gz document, or a .jsonl/.jsonl.gz file as a list of records."""
    path = Path(path)
    text = read_text(path)
    if ".jsonl" in path.name:
        rows = []
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}, line {i}: not valid JSON ({exc.msg})") from None
        return rows
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None


def content_sha256(path: str | Path) -> str:
    """sha256 of the (uncompressed) content."""
    h = hashlib.sha256()
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def reachable(url: str, timeout: float = 3.0) -> bool:
    host = urllib.parse.urlparse(url).hostname or ""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def pinned_cache_path(url: str, sha256: str | None, root: Path | None = None) -> Path:
    """Where a pinned download is cached: keyed by its sha256 (or the URL when none is pinned)."""
    key = sha256 or hashlib.sha256(url.encode()).hexdigest()
    return (root or cache_root()) / "pinned" / key[:16] / Path(urllib.parse.urlparse(url).path).name


def download(url: str, timeout_s: float = 60.0) -> bytes:
    """The bytes at `url` (raises OSError / URLError on failure; callers word the error and the fix)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - pinned https URLs
        return resp.read()


def write_atomic(target: Path, data: bytes) -> None:
    """Write `data` to `target` through a temporary file: a concurrent reader never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".dl-", delete=False) as tmp:
        tmp.write(data)
    umask_mode(tmp.name)
    os.replace(tmp.name, target)


def _local(path: str | Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise DataUnavailable(f"{what}: local file {path} not found")
    return path


def fetch(pinned: PinnedFile, local: str | Path | None = None, timeout_s: float = 60.0) -> Path:
    """A local path to `pinned`'s content: `local` if given, else the cache, else a checked download."""
    if local is not None:
        return _local(local, pinned.name)
    target = pinned_cache_path(pinned.url, pinned.sha256)
    if target.exists() and (pinned.sha256 is None or content_sha256(target) == pinned.sha256):
        return target
    hint = f"give a local copy with {pinned.override}"
    if is_offline():
        raise DataUnavailable(f"{pinned.name} is not cached and sftbench is offline "
                              f"({'/'.join(OFFLINE_VARS)} set): {hint} (upstream: {pinned.url})")
    if pinned.url.startswith("https://") and not reachable(pinned.url):
        raise DataUnavailable(f"{pinned.name}: cannot reach {urllib.parse.urlparse(pinned.url).hostname} "
                              f"(offline?): {hint} (upstream: {pinned.url})")
    try:
        data = download(pinned.url, timeout_s)
    except (urllib.error.URLError, OSError) as exc:
        raise DataUnavailable(f"{pinned.name}: download of {pinned.url} failed ({exc}); {hint}") from None
    got = hashlib.sha256(data).hexdigest()
    if pinned.sha256 is not None and got != pinned.sha256:
        raise DataUnavailable(f"{pinned.name}: {pinned.url} has sha256 {got}, expected {pinned.sha256} "
                              f"(upstream changed or the download is corrupt); {hint}")
    write_atomic(target, data)
    return target


def hub_failure(what: str, repo_id: str, revision: str | None, local_fix: str, exc: BaseException) -> str:
    """One message for every failed hub download: the repository, the revision, why, and both fixes."""
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:400]  # one line: hub errors carry newlines
    offline = " (sftbench is offline: HF_HUB_OFFLINE/SFTBENCH_OFFLINE or --offline; only cached files are used)" \
        if is_offline() else ""
    return (f"{what}: could not fetch {repo_id}@{revision or 'main'} from the Hugging Face hub{offline} ({reason}). "
            f"Fix: log in (`huggingface-cli login`) or set HF_TOKEN when the repository is gated or private (accept "
            f"its terms on the hub first), or download it once and {local_fix}")


def fetch_hub(hub: HubFile, local: str | Path | None = None) -> Path:
    """A local path to a hub dataset file: `local` if given, else huggingface_hub's download (cached)."""
    if local is not None:
        return _local(local, hub.name)
    where = f"the Hugging Face hub dataset {hub.repo_id} (file {hub.filename}, revision {hub.revision})"
    hint = f"give a local copy with {hub.override}"
    if is_offline():
        raise DataUnavailable(f"{hub.name} comes from {where} and sftbench is offline "
                              f"({'/'.join(OFFLINE_VARS)} set): {hint}")
    if not reachable("https://huggingface.co"):
        raise DataUnavailable(f"{hub.name} comes from {where}, which cannot be reached (offline?): {hint}")
    from huggingface_hub import hf_hub_download
    try:
        path = Path(hf_hub_download(repo_id=hub.repo_id, filename=hub.filename, repo_type="dataset",
                                    revision=hub.revision, cache_dir=cache_root() / "hub"))
    except Exception as exc:  # noqa: BLE001 - every hub failure becomes the same actionable error
        raise DataUnavailable(hub_failure(f"{hub.name} ({hub.filename})", hub.repo_id, hub.revision,
                                          f"give the local copy with {hub.override}", exc)) from None
    if hub.sha256 is not None and content_sha256(path) != hub.sha256:
        raise DataUnavailable(f"{hub.name}: {where} has sha256 {content_sha256(path)}, expected {hub.sha256}; {hint}")
    return path


def provenance(path: Path, source: PinnedFile | HubFile, local: str | Path | None) -> dict[str, Any]:
    """What a manifest records about a file that was read: where it came from and the sha256 of its content."""
    origin = "local" if local is not None else ("hub" if isinstance(source, HubFile) else "pinned")
    out: dict[str, Any] = {"name": source.name, "origin": origin, "path": str(path), "sha256": content_sha256(path)}
    if isinstance(source, HubFile):
        out.update(repo_id=source.repo_id, filename=source.filename, revision=source.revision)
        snapshot = [p for p in Path(path).parts if len(p) == 40 and all(c in "0123456789abcdef" for c in p)]
        if snapshot:  # huggingface_hub's cache path names the commit a branch revision resolved to
            out["resolved_commit"] = snapshot[-1]
    else:
        out["url"] = source.url
    if source.sha256 is not None:
        out["expected_sha256"] = source.sha256
        out["matches_pin"] = out["sha256"] == source.sha256
    return out


__all__ = ["PinnedFile", "HubFile", "DataUnavailable", "fetch", "fetch_hub", "provenance", "content_sha256",
           "read_text", "read_json_or_jsonl", "open_text", "is_offline", "reachable", "cache_root", "github_raw"]
