"""Stable content hashes for configs, files and directories."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def hash_obj(obj: Any, length: int = 12) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def hash_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_dir(path: str | Path) -> str:
    """Hash of every file's relative path and content below `path` (sorted, so order-independent)."""
    root = Path(path)
    h = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(file.relative_to(root)).encode())
        h.update(hash_file(file).encode())
    return h.hexdigest()


def hash_local(path: str | Path, field: str) -> str:
    """A suite field's local file or directory as a step-hash input (its content hash), or a located error."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{field}: {path} does not exist; give an existing local copy, or leave the field "
                                "out to use the pinned upstream source")
    return hash_dir(path) if path.is_dir() else hash_file(path)
