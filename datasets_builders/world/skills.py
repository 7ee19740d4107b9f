"""The skill registry, task specs, and the train/eval split of task instances.

Every task instance (skill + params, phrasing included) falls on one side of a fixed hash split: about
one in eight is held out for evaluation and never used by the pool, the curated set or the teacher.
"""

from __future__ import annotations

import hashlib
import json
from random import Random
from typing import Literal, Mapping

from sftbench.datasets_builders.world.skills_numbers import NUMBER_SKILLS
from sftbench.datasets_builders.world.skills_text import TEXT_SKILLS
from sftbench.datasets_builders.world.task import Skill, Spec, Task

WORLD_VERSION = "1"
SKILLS: Mapping[str, Skill] = {s.name: s for s in TEXT_SKILLS + NUMBER_SKILLS}
SKILL_NAMES: list[str] = list(SKILLS)
HOLDOUT_MODULUS = 8
Split = Literal["train", "eval"]


def get_skill(name: str) -> Skill:
    try:
        return SKILLS[name]
    except KeyError:
        raise ValueError(f"unknown world skill {name!r}; known skills: {', '.join(SKILL_NAMES)}") from None


def task_from_spec(spec: Mapping) -> Task:
    """Rebuild a task from its stored spec {"skill", "params", "answer"}; the answer must still match."""
    if not isinstance(spec, Mapping) or "skill" not in spec or not isinstance(spec.get("params"), dict):
        raise ValueError(f"a world task spec needs 'skill' and a 'params' object, got {spec!r:.120}")
    task = get_skill(spec["skill"]).task(dict(spec["params"]))
    if "answer" in spec and spec["answer"] != task.answer:
        raise ValueError(f"world task spec {spec!r:.120}: stored answer {spec['answer']!r} differs from the "
                         f"skill's {task.answer!r}; it was written by another world version (now {WORLD_VERSION})")
    return task


def check(spec: Spec | Task, given: str) -> bool:
    """Whether `given` (an already extracted final answer) is exactly right for the task."""
    skill, answer = (spec.skill, spec.answer) if isinstance(spec, Task) else (spec["skill"], spec["answer"])
    return get_skill(skill).check(given, answer)


def is_held_out(task: Task) -> bool:
    """The fixed split: a stable hash of skill and params decides, independent of any seed."""
    key = json.dumps([task.skill, task.params], sort_keys=True).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % HOLDOUT_MODULUS == 0


def draw_task(skill: Skill, rng: Random, split: Split = "train") -> Task:
    """A random task of `skill` from the given side of the split."""
    want = split == "eval"
    for _ in range(2000):
        task = skill.make_task(rng)
        if is_held_out(task) == want:
            return task
    raise RuntimeError(f"skill '{skill.name}' found no {split} instance in 2000 draws; "
                       "its instance space is too small for the hash split")
