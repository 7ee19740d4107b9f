"""Local instruction files in any common layout, read into validated Alpaca rows.

Files: `.json` (a list, or JSON lines), `.jsonl`, `.parquet`, each optionally `.gz`. Records: Alpaca
(`instruction`, `input`, `output`), ShareGPT/FastChat `conversations` (a list of {from, value}, or LIMA's list of
strings), or OpenAI-style `messages` (a list of {role, content}). A multi-turn conversation becomes an Alpaca row
of its first exchange plus `messages` (every turn). FastChat copies of Alpaca data that wrap the request in the
Alpaca prompt (Long-Is-More's files) are unwrapped back to instruction and input. Extra scalar fields go to `meta`.

Every record is validated; a bad one raises RowError naming the file, the 1-based row and the field, unless
`skip_bad_rows` is set: then it is left out and counted. Well-formed rows whose request or response is empty
(Alpaca-52k has a few) are always left out and counted apart: they are data, not damage.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftbench.common.rows import Row, RowError, validate_row

ALPACA_PREFIX = ("Below is an instruction that describes a task. Write a response that appropriately completes "
                 "the request. ### Instruction: ")
ALPACA_INPUT_PREFIX = ("Below is an instruction that describes a task, paired with an input that provides further "
                       "context. Write a response that appropriately completes the request. ### Instruction: ")
INPUT_MARK = " ### Input: "
USER_ROLES = {"human", "user"}
ASSISTANT_ROLES = {"gpt", "assistant", "chatgpt", "bard", "model", "bing"}
PASSTHROUGH = ("meta", "id")


class EmptyRow(RowError):
    """A well-formed row with an empty request or response."""


@dataclass
class LoadedRows:
    """Rows read from one file, with what the card needs to know about the read."""
    rows: list[Row]
    path: str
    sha256: str                    # of the decompressed content (as ../shared/data/SOURCES.md records it)
    records: int
    formats: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    empty: int = 0

    def info(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "records": self.records, "rows": len(self.rows),
                "formats": self.formats, "skipped_bad_rows": len(self.skipped), "skipped_examples": self.skipped[:5],
                "dropped_empty_rows": self.empty}


def _open_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise RowError(f"{path}: not a readable gzip file ({exc}); re-download or re-compress it") from None


def _inner_suffix(path: Path) -> str:
    return Path(path.stem).suffix if path.suffix == ".gz" else path.suffix


def _json_lines(text: str, path: Path) -> list[tuple[int, Any]]:
    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise RowError(f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno}); each line must be "
                           "one JSON object") from None
    return records


def read_records(path: str | Path) -> tuple[list[tuple[int, Any]], str]:
    """(row number, record) pairs and the content sha256; row numbers are JSONL lines or 1-based list items."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    data = _open_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    suffix = _inner_suffix(path)
    if suffix == ".parquet":
        import io

        import pyarrow.parquet as pq
        try:
            table = pq.read_table(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a damaged file
            raise RowError(f"{path}: not a readable parquet file ({exc})") from None
        return list(enumerate(table.to_pylist(), start=1)), digest
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise RowError(f"{path}:{line}: not UTF-8 text (byte {exc.start} of the file, in row {line} of a JSONL "
                       "file); re-encode the file as UTF-8 (iconv -f latin1 -t utf-8), or give a parquet file") from None
    if suffix == ".jsonl":
        return _json_lines(text, path), digest
    if suffix != ".json":
        raise RowError(f"{path}: unsupported file type {suffix!r}; use .json, .jsonl or .parquet (optionally .gz)")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # JSON lines in a .json file
            return _json_lines(text, path), digest
        raise RowError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}); the file "
                       "may be truncated or corrupted") from None
    if not isinstance(obj, list):
        raise RowError(f"{path}: expected a JSON list of rows (or one JSON object per line), got {type(obj).__name__}")
    return list(enumerate(obj, start=1)), digest


def unwrap_alpaca_prompt(text: str) -> tuple[str, str] | None:
    """(instruction, input) from a FastChat turn that wraps an Alpaca row in the Alpaca prompt; None otherwise."""
    if text.startswith(ALPACA_INPUT_PREFIX) and INPUT_MARK in text:
        instruction, extra = text[len(ALPACA_INPUT_PREFIX):].split(INPUT_MARK, 1)
        return instruction, extra
    if text.startswith(ALPACA_PREFIX):
        return text[len(ALPACA_PREFIX):], ""
    return None


def _turns(record: dict, key: str, where: str) -> list[dict[str, str]]:
    turns = record[key]
    if not isinstance(turns, list) or not turns:
        raise RowError(f"{where}: field '{key}' must be a non-empty list of turns")
    out = []
    for i, turn in enumerate(turns):
        loc = f"{key}[{i}]"
        if isinstance(turn, str):      # LIMA: alternating user / assistant strings
            role, content = ("user", "assistant")[i % 2], turn
        elif isinstance(turn, dict):
            raw_role = turn.get("from", turn.get("role"))
            content = turn.get("value", turn.get("content"))
            if raw_role == "system" and i == 0:
                role = "system"
            elif raw_role in USER_ROLES or raw_role in ASSISTANT_ROLES:
                role = "user" if raw_role in USER_ROLES else "assistant"
            else:
                raise RowError(f"{where}: field '{loc}.{'from' if 'from' in turn else 'role'}' must name a speaker "
                               f"(human/user or gpt/assistant), got {raw_role!r}")
        else:
            raise RowError(f"{where}: field '{loc}' must be a turn object or a string, got {type(turn).__name__}")
        if isinstance(content, str) and not content.strip():
            raise EmptyRow(f"{where}: turn {loc} is empty")
        if not isinstance(content, str):
            field_name = "value" if "from" in turn else "content"
            raise RowError(f"{where}: field '{loc}.{field_name}' must be a string (got {content!r:.60})")
        out.append({"role": role, "content": content})
    body = out[1:] if out[0]["role"] == "system" else out
    for j, turn in enumerate(body):
        want = ("user", "assistant")[j % 2]
        if turn["role"] != want:
            raise RowError(f"{where}: field '{key}[{j + len(out) - len(body)}]' should be a {want} turn "
                           "(turns must alternate, starting with the user)")
    if len(body) < 2 or body[-1]["role"] != "assistant":
        raise RowError(f"{where}: field '{key}' must end with an assistant turn (got {len(body)} turn(s))")
    return out


def to_row(record: Any, where: str, unwrap: bool = True) -> tuple[Row, str]:
    """One record -> (Alpaca row, format name); raises RowError naming `where` (FILE:ROW) and the field."""
    if not isinstance(record, dict):
        raise RowError(f"{where}: expected a JSON object, got {type(record).__name__}")
    key = "conversations" if "conversations" in record else "messages" if "messages" in record else None
    if key is None:
        if any(isinstance(record.get(k), str) and not record[k].strip() for k in ("instruction", "output")):
            raise EmptyRow(f"{where}: empty instruction or output")
        row = validate_row({k: record.get(k) for k in ("instruction", "input", "output") if k in record}, where)
        fmt = "alpaca"
    else:
        turns = _turns(record, key, where)
        body = [t for t in turns if t["role"] != "system"]
        instruction, extra = body[0]["content"], ""
        unwrapped = unwrap_alpaca_prompt(instruction) if unwrap else None
        if unwrapped is not None:
            instruction, extra = unwrapped
            body[0] = {"role": "user", "content": f"{instruction}\n\n{extra}" if extra else instruction}
        row = {"instruction": instruction, "input": extra, "output": body[1]["content"]}
        if len(body) > 2 or len(body) != len(turns):
            row["messages"] = ([t for t in turns if t["role"] == "system"] + body)
        fmt = ("sharegpt" if key == "conversations" else "messages") + ("+alpaca_prompt" if unwrapped else "")
    meta = dict(record.get("meta") or {})
    meta.update({k: v for k, v in record.items() if k not in ("instruction", "input", "output", "conversations",
                                                                "messages", *PASSTHROUGH)
                 and isinstance(v, (str, int, float, bool))})
    if "id" in record:
        row["id"] = record["id"]
    if meta:
        row["meta"] = meta
    return row, fmt


def load_rows(path: str | Path, skip_bad_rows: bool = False, unwrap: bool = True) -> LoadedRows:
    """Read and validate every row of a local file (see the module docstring for the formats)."""
    records, digest = read_records(path)
    rows: list[Row] = []
    formats: Counter[str] = Counter()
    skipped: list[str] = []
    empty = 0
    for number, record in records:
        try:
            row, fmt = to_row(record, f"{path}:{number}", unwrap)
        except EmptyRow:
            empty += 1
            continue
        except RowError as exc:
            if not skip_bad_rows:
                raise RowError(f"{exc}; fix the row, or pass skip_bad_rows to leave bad rows out "
                               "(they are counted in the card)") from None
            skipped.append(str(exc))
            continue
        rows.append(row)
        formats[fmt] += 1
    if not rows:
        raise RowError(f"{path}: no usable rows ({len(records)} records, {len(skipped)} skipped as bad)")
    return LoadedRows(rows, str(path), digest, len(records), dict(formats), skipped, empty)


__all__ = ["EmptyRow", "LoadedRows", "load_rows", "read_records", "to_row", "unwrap_alpaca_prompt", "ALPACA_PREFIX",
           "ALPACA_INPUT_PREFIX"]
