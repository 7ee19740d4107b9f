"""Parsers from model answers to role outputs. Each raises ValueError on an answer it cannot read.

Changing a parser's behaviour means bumping its version: the version is part of every role's fingerprint.
"""

from __future__ import annotations

import math
import re
from typing import Any

from sftbench.judges.llm.chat import ChatResponse

RATING_PARSER_VERSION = "rating-v1"
LOGPROB_PREFERENCE_PARSER_VERSION = "logprob-preference-v1"
TEXT_PREFERENCE_PARSER_VERSION = "text-preference-v1"
TEACHER_PARSER_VERSION = "alpaca-sections-v1"

_SCORE = re.compile(r"score(?:\s+(?:of|is|would be|=))?\W{0,6}(\d+(?:\.\d+)?)", re.IGNORECASE)
_LEADING_NUMBER = re.compile(r"^\W{0,4}(\d+(?:\.\d+)?)(?!\d)")
_SECTION = re.compile(r"^[ \t#*_-]*(instruction|input|response|output)[ \t*_]*:[ \t*_]*", re.IGNORECASE | re.MULTILINE)
_NO_INPUT = {"", "none", "<none>", "(none)", "n/a", "na", "no input", "-", "empty", "nothing"}


def parse_rating(text: str, low: float = 0.0, high: float = 5.0) -> float:
    """'Score: 4.5' anywhere, else a number opening the first non-empty line; must lie in [low, high]."""
    match = _SCORE.search(text)
    if match is None:
        first = next((line for line in text.splitlines() if line.strip()), "")
        match = _LEADING_NUMBER.match(first.strip())
    if match is None:
        raise ValueError("no score found (expected 'Score: <number>' or a number on the first line)")
    value = float(match.group(1))
    if not low <= value <= high:
        raise ValueError(f"score {value} outside [{low}, {high}]")
    return value


def _norm(token: str) -> str:
    return token.strip()


def parse_logprob_preference(response: ChatResponse, labels: tuple[str, str] = ("m", "M")) -> float:
    """Expected preference 2 - P(label_1) over the first token's alternatives, as alpaca_eval's weighted judges.

    Tokens are compared after stripping whitespace (" M" counts as "M"); several spellings of one label add up.
    Raises ValueError if neither label is among the returned alternatives.
    """
    if not response.top_logprobs:
        raise ValueError("the answer carries no top_logprobs (does the endpoint support logprobs?)")
    mass = {labels[0]: [], labels[1]: []}
    for token, logprob in response.top_logprobs[0]:
        if _norm(token) in mass:
            mass[_norm(token)].append(logprob)
    if not mass[labels[0]] and not mass[labels[1]]:
        seen = [t for t, _ in response.top_logprobs[0]]
        raise ValueError(f"neither label {labels[0]!r} nor {labels[1]!r} among the first token's alternatives {seen}")
    p1, p2 = (sum(math.exp(lp) for lp in mass[label]) for label in labels)
    return 2.0 - p1 / (p1 + p2)


def parse_text_preference(text: str, labels: tuple[str, str] = ("m", "M")) -> float:
    """1.0 if the answer is label_1, 2.0 if label_2 (the first word, quotes/markdown/punctuation stripped)."""
    words = text.strip().split()
    first = words[0].strip("\"'`*.,:;!()[]") if words else ""
    if first == labels[0]:
        return 1.0
    if first == labels[1]:
        return 2.0
    raise ValueError(f"expected the answer to start with {labels[0]!r} or {labels[1]!r}, got {text[:40]!r}")


def parse_alpaca_sections(text: str) -> dict[str, Any]:
    """'Instruction: ... Input: ... Response: ...' -> {instruction, input, output} ('Output:' is read as Response)."""
    marks = [(m.group(1).lower(), m) for m in _SECTION.finditer(text)]
    first_instruction = next((m for name, m in marks if name == "instruction"), None)
    if first_instruction is None:
        raise ValueError("expected an 'Instruction:' section")
    after = [(name, m) for name, m in marks if m.start() > first_instruction.start()]
    response = next((m for name, m in after if name in ("response", "output")), None)
    if response is None:
        raise ValueError("expected a 'Response:' section after the instruction")
    input_mark = next((m for name, m in after if name == "input" and m.start() < response.start()), None)
    instruction = text[first_instruction.end():(input_mark or response).start()].strip()
    input_ = text[input_mark.end():response.start()].strip() if input_mark else ""
    output = text[response.end():].strip()  # everything after the heading, even lines that look like headings
    if not instruction or not output:
        raise ValueError("expected non-empty 'Instruction:' and 'Response:' sections")
    if input_.strip().strip(".\"'").lower() in _NO_INPUT:
        input_ = ""
    return {"instruction": instruction, "input": input_, "output": output}


__all__ = ["parse_rating", "parse_logprob_preference", "parse_text_preference", "parse_alpaca_sections",
           "RATING_PARSER_VERSION", "LOGPROB_PREFERENCE_PARSER_VERSION", "TEXT_PREFERENCE_PARSER_VERSION",
           "TEACHER_PARSER_VERSION"]


def parse_request(text: str) -> str:
    """A free-text request or answer: stripped of wrapping quotes and a leading 'Request:'-style label."""
    text = re.sub(r"^\s*(request|question|instruction|answer|response)\s*:\s*", "", text.strip(), flags=re.I)
    text = text.strip().strip('"\'').strip()
    if len(text) < 3:
        raise ValueError("empty answer")
    return text
