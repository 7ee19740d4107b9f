"""JSON files: read with errors that name the file, written atomically (temporary name, then rename)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class JsonFileError(ValueError):
    """A JSON file that cannot be read; the message names the file and the position."""


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise JsonFileError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); the file "
                            "is damaged: delete it (or the step directory holding it) and run again") from None


def umask_mode(path: str | Path, directory: bool = False) -> None:
    """Give a file made by `tempfile` (always 0600, folders 0700) the mode a plain open() would: the user's umask."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, (0o777 if directory else 0o666) & ~mask)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` to a temporary sibling, then rename it over `path`: readers see the old or the new file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False, default=str) + "\n")
