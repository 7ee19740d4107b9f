"""World-native stand-ins for the three LLM roles (teacher, rater, pairwise judge); see judges/protocols.py."""

from __future__ import annotations

import math
import re
from random import Random
from typing import Any, Sequence

from sftbench.common.rows import prompt_text
from sftbench.datasets_builders.world.generate import make_row, stable_rng
from sftbench.datasets_builders.world.revise import rewrite
from sftbench.datasets_builders.world.scoring import score_output
from sftbench.datasets_builders.world.skills import SKILL_NAMES, WORLD_VERSION, draw_task, get_skill, task_from_spec
from sftbench.datasets_builders.world.styles import QUERY_TYPES, render_query
from sftbench.datasets_builders.world.task import Task
from sftbench.judges.protocols import Fingerprint

_ANSWER_LINE = re.compile(r"^\s*answer\s*\d*\s*:", re.IGNORECASE | re.MULTILINE)


def _world_tasks(row: Any, role: str, what: str) -> list[dict]:
    tasks = (row.get("meta") or {}).get("tasks") if isinstance(row, dict) else None
    if not tasks:
        raise ValueError(f"the world {role} only handles world {what} (with meta.tasks from the built-in world); "
                         f"got {str(row)[:100]!r}. For other data configure an LLM {role} in the suite's roles")
    return tasks


class WorldTeacher:
    """Instruct-SkillMix's teacher: composes one task per requested skill in the requested query type.

    Mostly right and explained, like a strong LLM; with probability `error_rate` one answer is wrong. It also serves
    the builders' variants itself, with no prompt (datasets_builders/native.py): `restyle` rewrites a world row's
    answer in a response style (world/revise.py: shirker, concise, explained), `name_skills` and `skills_needed`
    give SDA and SDD skill lists from the world's own skills, `name_query_types` its query types.
    """

    def __init__(self, seed: int = 0, error_rate: float = 0.05) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"WorldTeacher error_rate must be within [0, 1], got {error_rate}")
        self.seed, self.error_rate = seed, error_rate

    @property
    def fingerprint(self) -> Fingerprint:
        return {"provider": "world", "model": "world-teacher", "version": WORLD_VERSION,
                "seed": self.seed, "error_rate": self.error_rate}

    def write_example(self, skills: Sequence[str], query_type: str, seed: int) -> dict[str, Any]:
        if isinstance(skills, str) or not skills:
            raise ValueError(f"write_example needs a non-empty list of skill names, got {skills!r}")
        if query_type not in QUERY_TYPES:
            raise ValueError(f"unknown world query type {query_type!r}; query types: {', '.join(QUERY_TYPES)}")
        chosen = [get_skill(name) for name in skills]
        rng = stable_rng("world-teacher", self.seed, seed, tuple(skills), query_type)
        tasks = [draw_task(s, rng, "train") for s in chosen]
        answers = [t.answer for t in tasks]
        if rng.random() < self.error_rate:
            i = rng.randrange(len(tasks))
            answers[i] = chosen[i].wrong_answer(tasks[i].params, rng)
        instruction, output = render_query(tasks, answers, query_type, rng)
        return make_row(tasks, output, "teacher", instruction, query_type=query_type)

    def _own_answer(self, task: Task, rng: Random) -> str:
        """The teacher's answer to a task: right unless `error_rate` strikes."""
        return get_skill(task.skill).wrong_answer(task.params, rng) if rng.random() < self.error_rate else task.answer

    def restyle(self, row: dict[str, Any], style: str, seed: int) -> dict[str, Any]:
        """The world row with its output rewritten in `style` (its answers kept; world/revise.py)."""
        specs = _world_tasks(row, "teacher", "rows")
        tasks = [task_from_spec(s) for s in specs]
        rng = stable_rng("world-restyle", self.seed, seed, style, prompt_text(row))
        output = rewrite(tasks, row["output"], style, rng, lambda i: self._own_answer(tasks[i], rng))
        meta = {**row["meta"], "style": style, "score": score_output(specs, output),
                "rewritten": f"world-teacher:{style}"}
        return {**row, "output": output, "meta": meta}

    def name_skills(self, n: int, seed: int) -> list[str]:
        """SDA: up to n of the world's skills, in a seeded order."""
        names = list(SKILL_NAMES)
        stable_rng("world-sda", self.seed, seed).shuffle(names)
        return names[:n]

    def skills_needed(self, row: dict[str, Any]) -> list[str]:
        """SDD: the skills of a world seed row's tasks."""
        return [spec["skill"] for spec in _world_tasks(row, "teacher", "seed rows")]

    def name_query_types(self, n: int) -> list[str]:
        return list(QUERY_TYPES[:n])


class WorldRater:
    """AlpaGasus' rater: a 0-5 score (0.5 steps) from the exact checkers, plus deterministic noise.

    Base score 1 + 3 * correctness; an explained answer earns up to +1 (and fools it slightly when wrong);
    off-format answers with nothing right (shirking, restating) get 0.5. Noise ~ N(0, noise) per row and seed.
    """

    def __init__(self, noise: float = 0.5, seed: int = 0) -> None:
        if noise < 0:
            raise ValueError(f"WorldRater noise must be >= 0, got {noise}")
        self.noise, self.seed = noise, seed

    @property
    def fingerprint(self) -> Fingerprint:
        return {"provider": "world", "model": "world-rater", "version": WORLD_VERSION,
                "noise": self.noise, "seed": self.seed}

    def quality(self, row: dict[str, Any]) -> float:
        """The noise-free rating."""
        tasks = _world_tasks(row, "rater", "rows")
        output = row["output"]
        score = score_output(tasks, output)
        has_answer_line = bool(_ANSWER_LINE.search(output))
        if score == 0 and not has_answer_line and len(output) > 20:
            return 0.5
        explained = has_answer_line and len(output) >= 80
        return 1.0 + 3.0 * score + (0.5 + 0.5 * score if explained else 0.0)

    def rate(self, row: dict[str, Any]) -> float:
        quality = self.quality(row)
        noise = stable_rng("world-rater", self.seed, prompt_text(row), row["output"]).gauss(0.0, 1.0) * self.noise
        return min(5.0, max(0.0, round(2 * (quality + noise)) / 2))


class WorldVerifierJudge:
    """A pairwise judge that verifies answers with the checkers, plus a mild verbosity bias like LLM judges."""

    def __init__(self, length_bias: float = 0.15) -> None:
        if not 0.0 <= length_bias <= 0.5:
            raise ValueError(f"WorldVerifierJudge length_bias must be within [0, 0.5], got {length_bias}")
        self.length_bias = length_bias

    @property
    def fingerprint(self) -> Fingerprint:
        return {"provider": "world", "model": "world-verifier", "version": WORLD_VERSION,
                "length_bias": self.length_bias}

    def prefer(self, prompt: dict[str, Any], output_1: str, output_2: str) -> float:
        tasks = _world_tasks(prompt, "judge", "eval prompts")
        s1, s2 = score_output(tasks, output_1), score_output(tasks, output_2)
        raw = 1.5 + 0.5 * (s2 - s1) + self.length_bias * math.tanh((len(output_2) - len(output_1)) / 200)
        return min(2.0, max(1.0, raw))


__all__ = ["WorldTeacher", "WorldRater", "WorldVerifierJudge", "QUERY_TYPES", "SKILL_NAMES"]
