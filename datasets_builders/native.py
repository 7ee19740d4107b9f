"""Roles that serve builders' features themselves, without prompts (the built-in world's), and the features only an
LLM role can serve.

A builder asks its live teacher `as_native(ctx.teacher)`: a teacher with the NativeTeacher methods (the world's)
rewrites answers in its own response styles and names skills from its own skill list, so variants that an LLM
teacher serves through the papers' prompts need no prompt, download or LLM. Before a run, `sftbench validate` and
`plan` only know provider names: each builder's `llm_only(params, world_pool)` lists the features it was asked for
that only an LLM role can serve, and `registry.role_problems` refuses those whose role is the world's
(`NATIVE_PROVIDER`), naming the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

from sftbench.common.rows import Row

NATIVE_PROVIDER = "world"  # the provider whose roles are native (suites' roles.<role>.provider)


@runtime_checkable
class NativeTeacher(Protocol):
    """A teacher that rewrites answers and names skills itself (the world's); an LLM teacher has none of these."""

    @property
    def fingerprint(self) -> dict[str, Any]: ...

    def restyle(self, row: Row, style: str, seed: int) -> Row:
        """`row` with its output rewritten in one of the teacher's response styles (its meta says which)."""
        ...

    def name_skills(self, n: int, seed: int) -> list[str]:
        """Up to n skills (SDA: the teacher asked directly)."""
        ...

    def skills_needed(self, row: Row) -> list[str]:
        """The skills one seed example needs (SDD)."""
        ...

    def name_query_types(self, n: int) -> list[str]:
        """Up to n query types."""
        ...


def as_native(role: Any) -> NativeTeacher | None:
    """The role as a NativeTeacher, or None (an LLM role, or no role)."""
    return role if isinstance(role, NativeTeacher) else None


def restyle_rows(teacher: NativeTeacher, rows: Sequence[Row], indices: Sequence[int], style: str,
                 seed: int) -> list[Row]:
    """Rows with those at `indices` rewritten in `style`; row i's rewrite is seeded by `seed * 1_000_003 + i`."""
    out = list(rows)
    for i in indices:
        out[i] = teacher.restyle(rows[i], style, seed * 1_000_003 + i)
    return out


def index_ranges(indices: Sequence[int]) -> list[list[int]]:
    """Sorted indices as [start, stop) ranges, for cards: [0, 1, 2, 5] -> [[0, 3], [5, 6]]."""
    ranges: list[list[int]] = []
    for i in sorted(indices):
        if ranges and ranges[-1][1] == i:
            ranges[-1][1] = i + 1
        else:
            ranges.append([i, i + 1])
    return ranges


@dataclass(frozen=True)
class LLMOnly:
    """A feature a build was asked for that the world's stand-in for `role` cannot serve."""
    role: str        # teacher, rater
    where: str       # the suite location at fault: 'params.conversation', 'pool'
    what: str        # what was asked: "the generation conversation 'skillmix_gpt4'"
    world: str       # what the world's role does instead
    fix: str         # the fix that keeps the world's role: 'remove params.conversation'

    def message(self) -> str:
        return (f"{self.where}: {self.what} needs an LLM {self.role}, but roles.{self.role}.provider is "
                f"'{NATIVE_PROVIDER}' and the world {self.role} {self.world}. Fix: {self.fix}, or set "
                f"roles.{self.role}.provider to an LLM provider (e.g. openai_compatible, openai, anthropic, local, "
                f"llamacpp_server)")


def refuse(problems: Sequence[LLMOnly], role: str) -> None:
    """Raise the first problem of `role` (a build with a native role, before any download or call)."""
    for problem in problems:
        if problem.role == role:
            raise ValueError(problem.message())


__all__ = ["NATIVE_PROVIDER", "NativeTeacher", "as_native", "restyle_rows", "index_ranges", "LLMOnly", "refuse"]
