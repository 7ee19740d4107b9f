"""Rewriting an existing answer in another response style: what the world teacher does for SkillMix's shirker and
brevity variants and Long-Is-More's refinement.

A rewrite changes the form, not the answers: the final answers the response gives (by the world's answer
convention, scoring.extract_answers) are kept, right or wrong. Only a task the response leaves unanswered (a
composed prompt without its `Answer i:` line) gets an answer from the rewriter itself (`own(i)`). The shirker style
drops every answer, as the pool's shirkers do.
"""

from __future__ import annotations

from random import Random
from typing import Callable, Sequence

from sftbench.datasets_builders.world.scoring import extract_answers
from sftbench.datasets_builders.world.styles import concise, explained, shirk
from sftbench.datasets_builders.world.task import Task

REWRITE_STYLES = ("shirker", "concise", "explained")


def given_answers(tasks: Sequence[Task], output: str, own: Callable[[int], str]) -> list[str]:
    """The response's final answer per task; `own(i)` where it gives none."""
    return [a if a is not None else own(i) for i, a in enumerate(extract_answers(output, len(tasks)))]


def rewrite(tasks: Sequence[Task], output: str, style: str, rng: Random, own: Callable[[int], str]) -> str:
    """`output` (a response to the composed `tasks`) rewritten in `style`."""
    if style == "shirker":
        return shirk(tasks, rng)
    if style == "concise":
        return concise(given_answers(tasks, output, own), rng)
    if style == "explained":
        return explained(tasks, given_answers(tasks, output, own), rng)
    raise ValueError(f"the world cannot rewrite an answer in style {style!r}; styles: {', '.join(REWRITE_STYLES)}")


__all__ = ["REWRITE_STYLES", "given_answers", "rewrite"]
