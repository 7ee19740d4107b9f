"""Final-answer extraction and exact scoring of responses against stored task specs.

Convention: a single task's final answer is the text after the last `Answer:` (to the end of its line),
else the whole stripped response; a composed prompt's answers are numbered lines `Answer 1: X`, `Answer 2: Y`.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from sftbench.datasets_builders.world.skills import check

_SINGLE = re.compile(r"answer\s*:", re.IGNORECASE)
_NUMBERED = re.compile(r"answer\s*(\d+)\s*:[ \t]*([^\n]*)", re.IGNORECASE)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def extract_answers(output: str, n: int) -> list[str | None]:
    """The final answer for each of `n` tasks (None where a numbered answer is missing)."""
    numbered: dict[int, str] = {int(m.group(1)): m.group(2).strip() for m in _NUMBERED.finditer(output)}
    if n == 1:
        last = None
        for last in _SINGLE.finditer(output):
            pass
        if last is not None:
            return [_first_line(output[last.end():])]
        return [numbered[1]] if 1 in numbered else [output.strip()]
    return [numbered.get(i) for i in range(1, n + 1)]


def score_output(tasks_spec: Sequence[Mapping], output: str) -> float:
    """Fraction of the tasks answered exactly, in [0, 1]."""
    if not tasks_spec:
        raise ValueError("score_output needs at least one task spec (the prompt's meta['tasks'])")
    answers = extract_answers(output, len(tasks_spec))
    right = sum(1 for spec, given in zip(tasks_spec, answers) if given is not None and check(spec, given))
    return right / len(tasks_spec)
