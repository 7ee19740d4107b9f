"""YAML loading that remembers where every value came from, so errors can name the file and the line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml


class SuiteError(ValueError):
    """An error in a suite file, located by file, line and field path."""

    def __init__(self, file: str | Path, line: int | None, field: str, message: str):
        self.file, self.line, self.field, self.message = str(file), line, field, message
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


@dataclass
class YamlSource:
    path: Path
    data: Any
    lines: dict[tuple, int] = field(default_factory=dict)  # field path -> 1-based line

    def line_of(self, loc: Sequence[Any]) -> int | None:
        """Line of the deepest known prefix of `loc` (pydantic error locations may point below the YAML)."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)


def _index(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _index(value, path + (key.value,), lines)
            lines[path + (key.value,)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, path + (i,), lines)


def load_yaml(path: str | Path) -> YamlSource:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SuiteError(path, None, "", "no such suite file") from None
    except IsADirectoryError:
        raise SuiteError(path, None, "", "is a directory; give a suite YAML file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise SuiteError(path, line, "", f"not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise SuiteError(path, mark.line + 1 if mark else None, "",
                         f"malformed YAML: {exc.problem or exc.context}") from None
    if not isinstance(data, dict):
        raise SuiteError(path, 1, "", "a suite file must be a YAML mapping (name:, datasets:, ...)")
    lines: dict[tuple, int] = {}
    _index(node, (), lines)
    return YamlSource(path, data, lines)


def format_loc(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
