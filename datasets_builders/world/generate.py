"""The world's data products, each a pure function of its seed: pool, curated set, eval prompts, baselines.

Pool, curated set and teacher only use task instances on the train side of the fixed split in
`skills.is_held_out`; eval prompts only use held-out ones, so no eval task occurs verbatim in training data.
"""

from __future__ import annotations

import hashlib
from itertools import accumulate
from random import Random
from typing import Any, Iterable, Iterator, Literal, Sequence

from sftbench.common.rows import prompt_text
from sftbench.datasets_builders.world.scoring import score_output
from sftbench.datasets_builders.world.skills import SKILL_NAMES, SKILLS, Split, draw_task, get_skill, task_from_spec
from sftbench.datasets_builders.world.styles import QUERY_TYPES, answer_lines, compose, compose_text, explained, render, \
    render_query
from sftbench.datasets_builders.world.task import Skill, Task

Row = dict[str, Any]
POOL_STYLE_WEIGHTS = {"concise": 0.35, "explained": 0.25, "wrong": 0.15, "partial": 0.10, "shirker": 0.15}
POOL_COMPOSITION = 0.08          # share of pool rows that compose two skills (partial rows add more)
CURATED_COMPOSITION = 0.25
CURATED_QUERY_TYPES = ("direct question",) * 3 + tuple(q for q in QUERY_TYPES if q not in
                                                        ("direct question", "short answer only"))
REFERENCE_ERROR_RATE = 0.15


def stable_rng(*parts: object) -> Random:
    """A Random seeded by a stable hash of `parts` (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return Random(int.from_bytes(digest, "big"))


def make_row(tasks: Sequence[Task], output: str, style: str, instruction: str | None = None,
             input_: str = "", **meta: Any) -> Row:
    """An Alpaca row with world meta: skills, style, exact score of the output, task specs."""
    if instruction is None:
        instruction, input_ = compose(tasks)
    specs = [t.spec() for t in tasks]
    return {"instruction": instruction, "input": input_, "output": output,
            "meta": {"skills": [t.skill for t in tasks], "style": style, "score": score_output(specs, output),
                     "tasks": specs, **meta}}


def _draw(skills: Sequence[Skill], rng: Random, split: Split) -> list[Task]:
    return [draw_task(s, rng, split) for s in skills]


def _second(first: Skill, rng: Random, skills: Sequence[Skill] | None = None,
            cum: list[float] | None = None) -> Skill:
    """Another skill for a composition: from `skills` with cumulative weights `cum`, or uniform over all."""
    population = list(skills or SKILLS.values())
    while True:
        other = rng.choices(population, cum_weights=cum)[0] if cum else rng.choice(population)
        if other is not first:
            return other


def make_pool(n: int = 20000, seed: int = 0) -> list[Row]:
    """A noisy Alpaca-like pool: skewed skill mix, styles per POOL_STYLE_WEIGHTS, a few compositions."""
    rng = Random(seed)
    skills = list(SKILLS.values())
    rng.shuffle(skills)  # a skewed, seed-dependent skill frequency: weight 1 / (1 + rank / 4)
    skill_cum = list(accumulate(1.0 / (1 + i / 4) for i in range(len(skills))))
    styles, style_cum = list(POOL_STYLE_WEIGHTS), list(accumulate(POOL_STYLE_WEIGHTS.values()))
    rows = []
    for _ in range(n):
        style = rng.choices(styles, cum_weights=style_cum)[0]
        first = rng.choices(skills, cum_weights=skill_cum)[0]
        compose_two = rng.random() < POOL_COMPOSITION or (
            style == "partial" and (first.partial is None or rng.random() < 0.3))
        chosen = [first, _second(first, rng, skills, skill_cum)] if compose_two else [first]
        tasks = _draw(chosen, rng, "train")
        rows.append(make_row(tasks, render(tasks, style, rng), style))
    return rows


def make_curated(n: int = 1000, seed: int = 1) -> list[Row]:
    """The world's LIMA: balanced over skills, a quarter compositions, all correct and well explained."""
    rng = Random(seed)
    order: list[str] = []
    while len(order) < n:
        block = list(SKILL_NAMES)
        rng.shuffle(block)
        order += block
    rows = []
    for i, name in enumerate(order[:n]):
        first = get_skill(name)
        chosen = [first, _second(first, rng)] if rng.random() < CURATED_COMPOSITION else [first]
        tasks = _draw(chosen, rng, "train")
        query_type = CURATED_QUERY_TYPES[i % len(CURATED_QUERY_TYPES)]
        instruction, output = render_query(tasks, [t.answer for t in tasks], query_type, rng, detail=0.8)
        rows.append(make_row(tasks, output, "curated", instruction, query_type=query_type))
    return rows


def make_eval_prompts(n: int = 200, seed: int = 2, composition_frac: float = 0.3) -> list[Row]:
    """Held-out prompts (AlpacaEval style), balanced over skills; round(n * composition_frac) compose two."""
    if not 0.0 <= composition_frac <= 1.0:
        raise ValueError(f"composition_frac must be within [0, 1], got {composition_frac}")
    rng = Random(seed)
    composed = set(rng.sample(range(n), round(n * composition_frac)))
    order = [SKILL_NAMES[i % len(SKILL_NAMES)] for i in range(n)]
    rng.shuffle(order)
    seen: set[str] = set()
    prompts = []
    for i, name in enumerate(order):
        first = get_skill(name)
        for _ in range(50):  # avoid duplicate prompts where a skill has few held-out instances
            tasks = _draw([first, _second(first, rng)] if i in composed else [first], rng, "eval")
            text = compose_text(tasks)
            if text not in seen:
                break
        seen.add(text)
        prompts.append({"instruction": text, "dataset": "world",
                        "meta": {"skills": [t.skill for t in tasks], "tasks": [t.spec() for t in tasks]}})
    return prompts


def _tasks_of(prompt: Row, where: str) -> list[Task]:
    tasks = (prompt.get("meta") or {}).get("tasks") if isinstance(prompt, dict) else None
    if not tasks:
        raise ValueError(f"{where}: not a world prompt (no meta.tasks); world baselines only answer world prompts")
    return [task_from_spec(s) for s in tasks]


def _reference_answers(prompt: Row, where: str) -> tuple[list[Task], list[str], Random]:
    """The fixed reference answerer: right except for a deliberate mistake on ~15% of prompts."""
    tasks = _tasks_of(prompt, where)
    rng = stable_rng("world_reference", prompt["instruction"])
    answers = [t.answer for t in tasks]
    if rng.random() < REFERENCE_ERROR_RATE:
        i = rng.randrange(len(tasks))
        answers[i] = get_skill(tasks[i].skill).wrong_answer(tasks[i].params, rng)
    return tasks, answers, rng


def reference_outputs(prompts: Sequence[Row]) -> list[Row]:
    """Baseline outputs: a one-sentence explanation per task, then the answer line(s)."""
    out = []
    for i, prompt in enumerate(prompts):
        tasks, answers, rng = _reference_answers(prompt, f"prompt {i}")
        out.append({"instruction": prompt["instruction"], "generator": "world_reference",
                    "output": explained(tasks, answers, rng, intro=0.0, recap=0.0, tip=0.0)})
    return out


def gamed_outputs(prompts: Sequence[Row], kind: Literal["verbose", "concise"]) -> list[Row]:
    """The reference answers (same mistakes) made much longer or shorter, for AlpacaEval's length control."""
    if kind not in ("verbose", "concise"):
        raise ValueError(f"gamed_outputs kind must be 'verbose' or 'concise', got {kind!r}")
    out = []
    for i, prompt in enumerate(prompts):
        tasks, answers, rng = _reference_answers(prompt, f"prompt {i}")
        text = (explained(tasks, answers, rng, intro=1.0, recap=1.0, tip=1.0, padding=3) if kind == "verbose"
                else answers[0] if len(answers) == 1 else answer_lines(answers))
        out.append({"instruction": prompt["instruction"], "output": text, "generator": f"world_reference_{kind}"})
    return out


def pool_text(rows: Iterable[Row]) -> Iterator[str]:
    """Raw text of rows (prompt, blank line, response) for tokenizer training and pretraining."""
    for row in rows:
        yield f"{prompt_text(row)}\n\n{row['output']}"

