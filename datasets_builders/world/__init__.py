"""The built-in world: a procedurally generated instruction world with exact checkers (the offline default).

It stands in for real SFT pools and real LLM roles: skills make checkable tasks; the pool mixes response
styles of uneven quality; eval prompts are held out; the teacher, rater and judge are world-native.
"""

from sftbench.datasets_builders.world.generate import (gamed_outputs, make_curated, make_eval_prompts, make_pool, pool_text,
                                              reference_outputs)
from sftbench.datasets_builders.world.roles import WorldRater, WorldTeacher, WorldVerifierJudge
from sftbench.datasets_builders.world.scoring import extract_answers, score_output
from sftbench.datasets_builders.world.skills import SKILL_NAMES, SKILLS, WORLD_VERSION, task_from_spec
from sftbench.datasets_builders.world.styles import QUERY_TYPES, STYLES
from sftbench.datasets_builders.world.task import Skill, Task

__all__ = ["SKILLS", "SKILL_NAMES", "QUERY_TYPES", "STYLES", "Skill", "Task", "task_from_spec", "score_output",
           "extract_answers", "make_pool", "make_curated", "make_eval_prompts", "reference_outputs",
           "gamed_outputs", "pool_text", "WorldTeacher", "WorldRater", "WorldVerifierJudge", "WORLD_VERSION"]
