"""World multiple-choice questions in the Open LLM Leaderboard style (scored by loglikelihood in lm-eval).

Each question is one world task (`task.text`) with four options: the exact answer and three distinct
distractors from the skill's own `wrong_answer` (distinct after the skill's normalisation, so no distractor is
also right). Eval questions come from held-out task instances only (the same hash split as the eval prompts);
few-shot examples come from the train side. Skills whose answers have fewer than four distinct values
(yes/no questions, picking one of two words) cannot make four options and are left out.
"""

from __future__ import annotations

from random import Random
from typing import Any, Iterator

from sftbench.datasets_builders.world.skills import SKILLS, Split, draw_task, get_skill
from sftbench.datasets_builders.world.task import Skill, Task

N_OPTIONS = 4
MC_VERSION = "1"
_DISTRACTOR_TRIES = 40
_SKILL_FAILURES = 25  # a skill that fails this many draws in a row has too few distinct answers


def mc_question(task: Task, rng: Random, n_options: int = N_OPTIONS) -> dict[str, Any] | None:
    """The task as a multiple-choice item, or None when the skill gives too few distinct wrong answers."""
    skill = get_skill(task.skill)
    seen = {skill.norm(task.answer)}
    wrong: list[str] = []
    for _ in range(_DISTRACTOR_TRIES):
        candidate = skill.wrong_answer(task.params, rng).strip()
        key = skill.norm(candidate)
        if candidate and key not in seen:
            seen.add(key)
            wrong.append(candidate)
            if len(wrong) == n_options - 1:
                break
    else:
        return None
    options = [task.answer, *wrong]
    rng.shuffle(options)
    return {"question": task.text, "choices": options, "label": options.index(task.answer),
            "answer": task.answer, "skill": task.skill, "task": task.spec()}


def _questions(skill: Skill, rng: Random, split: Split) -> Iterator[dict[str, Any] | None]:
    while True:
        yield mc_question(draw_task(skill, rng, split), rng)


def make_mc_questions(n: int, seed: int = 3, split: Split = "eval") -> list[dict[str, Any]]:
    """`n` distinct questions, round-robin over the skills that support four options; deterministic in `seed`.

    `split="eval"` draws held-out task instances (the evaluation set); `"train"` draws training-side ones
    (few-shot examples).
    """
    if n < 1:
        raise ValueError(f"world_mc needs n >= 1 questions, got {n}")
    rng = Random(f"world_mc/{MC_VERSION}/{split}/{seed}")
    names = sorted(SKILLS)
    rng.shuffle(names)
    active = {name: _questions(get_skill(name), rng, split) for name in names}
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(rows) < n:
        if not active:
            raise RuntimeError(f"world_mc: only {len(rows)} distinct {split} questions exist; ask for fewer")
        for name in list(active):
            for _ in range(_SKILL_FAILURES):
                row = next(active[name])
                if row is not None and row["question"] not in seen:
                    break
            else:
                del active[name]  # too few distinct answers or questions left for this skill
                continue
            seen.add(row["question"])
            rows.append({"id": f"world_mc-{split}-{len(rows)}", **row})
            if len(rows) == n:
                break
    return rows
