"""Prompt templates: text files (ours in judges/prompts/, or a paper's exact prompt from a path) or inline text.

A template is either plain text (sent as one user message) or ChatML (`<|im_start|>system ... <|im_end|>`
blocks, as alpaca_eval's prompt files are written), so the papers' files can be dropped in unchanged.
Placeholders are `{name}`; only the names a role fills are substituted, so JSON braces in a prompt are safe.
The sha256 of the template text goes into the role's fingerprint.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from sftbench.judges.llm.chat import Message

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
_CHATML = re.compile(r"<\|im_start\|>(\w+)\n?(.*?)<\|im_end\|>", re.DOTALL)


@dataclass(frozen=True)
class PromptTemplate:
    text: str
    source: str  # "builtin:<name>", a file path, or "inline"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @classmethod
    def from_file(cls, path: str | Path) -> "PromptTemplate":
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"prompt file {path} not found (give an existing text file, or prompt_text)")
        return cls(path.read_text(encoding="utf-8"), str(path))

    @classmethod
    def builtin(cls, name: str) -> "PromptTemplate":
        path = PROMPTS_DIR / f"{name}.txt"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in PROMPTS_DIR.glob("*.txt")))
            raise FileNotFoundError(f"no built-in prompt {name!r} in {PROMPTS_DIR}; built-in prompts: {known}")
        return cls(path.read_text(encoding="utf-8"), f"builtin:{name}")

    @classmethod
    def resolve(cls, path: str | Path | None, text: str | None, default: str) -> "PromptTemplate":
        if path is not None and text is not None:
            raise ValueError("give either prompt_path or prompt_text, not both")
        if text is not None:
            return cls(text, "inline")
        return cls.from_file(path) if path is not None else cls.builtin(default)

    def placeholders(self) -> set[str]:
        return set(re.findall(r"\{(\w+)\}", self.text))

    def require(self, names: Iterable[str]) -> "PromptTemplate":
        missing = sorted(set(names) - self.placeholders())
        if missing:
            raise ValueError(f"prompt {self.source} lacks the placeholder(s) {', '.join('{' + m + '}' for m in missing)}"
                             " that this role fills")
        return self

    def render(self, **fields: str) -> tuple[Message, ...]:
        """Messages with the placeholders filled in one pass (values are never re-scanned or parsed as ChatML)."""
        def fill(part: str) -> str:
            return re.sub(r"\{(\w+)\}", lambda m: str(fields[m.group(1)]) if m.group(1) in fields else m.group(0),
                          part)
        blocks = _CHATML.findall(self.text)
        if not blocks:
            return ({"role": "user", "content": fill(self.text.strip())},)
        return tuple({"role": role, "content": fill(content.strip())} for role, content in blocks)


__all__ = ["PromptTemplate", "PROMPTS_DIR"]
