"""Alpaca-format rows: validation and JSONL input/output with errors that name file, row and field."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from sftbench.common.jsonio import umask_mode

Row = dict[str, Any]
ALPACA_FIELDS = ("instruction", "input", "output")


class RowError(ValueError):
    """A row that cannot be used; the message names the file, the 1-based row and the field."""


def validate_row(row: Any, where: str) -> Row:
    """Check one Alpaca row; `where` is 'FILE:ROW' for the error message."""
    if not isinstance(row, dict):
        raise RowError(f"{where}: expected a JSON object with fields {ALPACA_FIELDS}, got {type(row).__name__}")
    for field in ("instruction", "output"):
        value = row.get(field)
        if not isinstance(value, str) or not value.strip():
            raise RowError(f"{where}: field '{field}' must be a non-empty string (got {value!r:.60})")
    if not isinstance(row.get("input", ""), str):
        raise RowError(f"{where}: field 'input' must be a string")
    row.setdefault("input", "")
    return row


def read_jsonl(path: str | Path, validate: bool = True) -> list[Row]:
    path = Path(path)
    rows: list[Row] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RowError(f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno}); "
                               "each line must be one JSON object") from None
            rows.append(validate_row(row, f"{path}:{lineno}") if validate else row)
    return rows


def write_jsonl(path: str | Path, rows: Iterable[Row]) -> None:
    """Write rows atomically: a temporary file in the same folder, renamed when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        umask_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prompt_text(row: Row) -> str:
    """The user turn of an Alpaca row: instruction, plus the input on its own paragraph when present."""
    instruction, extra = row["instruction"].strip(), (row.get("input") or "").strip()
    return f"{instruction}\n\n{extra}" if extra else instruction
