"""The built-in world: skills and checkers, scoring, pool, curated set, eval prompts and baselines."""

from __future__ import annotations

import json
import random
import statistics
import time
from collections import Counter

import pytest
from sftbench.datasets_builders.world import (
    SKILLS,
    STYLES,
    gamed_outputs,
    make_curated,
    make_eval_prompts,
    make_pool,
    pool_text,
    reference_outputs,
    score_output,
    task_from_spec,
)
from sftbench.datasets_builders.world.generate import POOL_STYLE_WEIGHTS
from sftbench.datasets_builders.world.scoring import extract_answers
from sftbench.datasets_builders.world.skills import is_held_out
from sftbench.datasets_builders.world.styles import render

from sftbench.common.rows import prompt_text, validate_row


def _key(spec: dict) -> str:
    return json.dumps([spec["skill"], spec["params"]], sort_keys=True)


def _mean_score(rows: list[dict]) -> float:
    return statistics.mean(r["meta"]["score"] for r in rows)


@pytest.fixture(scope="module")
def pool() -> list[dict]:
    start = time.perf_counter()
    rows = make_pool(20000, seed=0)
    elapsed = time.perf_counter() - start
    assert elapsed < 3.0, f"make_pool(20000) took {elapsed:.2f} s; the budget is 3 s"
    return rows


@pytest.fixture(scope="module")
def eval_prompts() -> list[dict]:
    return make_eval_prompts(200, seed=2)


def test_skill_inventory() -> None:
    assert len(SKILLS) >= 20
    assert sum(s.easy for s in SKILLS.values()) >= len(SKILLS) / 3
    assert {"string", "list", "arithmetic", "counting", "formatting", "dates", "units", "logic"} <= \
        {s.category for s in SKILLS.values()}
    assert all(len(s.phrasings) >= 3 for s in SKILLS.values())


@pytest.mark.parametrize("name", sorted(SKILLS))
def test_checker_accepts_right_and_rejects_wrong(name: str) -> None:
    skill, rng = SKILLS[name], random.Random(name)
    for _ in range(40):
        task = skill.make_task(rng)
        spec = json.loads(json.dumps(task.spec()))
        rebuilt = task_from_spec(spec)
        assert (rebuilt.text, rebuilt.answer) == (task.text, task.answer)
        assert len(task.text.split()) <= 40
        assert skill.check(task.answer, task.answer)
        for style, expected in (("concise", 1.0), ("explained", 1.0), ("wrong", 0.0), ("shirker", 0.0)):
            output = render([task], style, rng)
            assert score_output([spec], output) == expected, (style, task.text, output)
        assert score_output([spec], render([task], "partial", rng)) < 1.0


def test_task_from_spec_errors() -> None:
    task = SKILLS["add"].make_task(random.Random(0))
    with pytest.raises(ValueError, match="unknown world skill"):
        task_from_spec({"skill": "juggling", "params": {}, "answer": "1"})
    with pytest.raises(ValueError, match="differs"):
        task_from_spec({**task.spec(), "answer": "-1"})
    with pytest.raises(ValueError, match="needs 'skill'"):
        task_from_spec({"params": {}})


def test_answer_extraction_and_partial_credit() -> None:
    rng = random.Random(1)
    a, b = SKILLS["add"].make_task(rng), SKILLS["first_letter"].make_task(rng)
    specs = [a.spec(), b.spec()]
    assert extract_answers(f"Let me think. Answer: 3\nAnswer: {a.answer}\nbye", 1) == [a.answer]
    assert extract_answers(" 42. ", 1) == ["42."]
    assert score_output([a.spec()], f"{a.answer}.") == 1.0
    assert score_output(specs, f"Answer 1: {a.answer}\nAnswer 2: {b.answer}") == 1.0
    assert score_output(specs, f"Answer 1: {a.answer}\nAnswer 2: zz") == 0.5
    assert score_output(specs, f"Answer 2: {b.answer.upper()}") == 0.5
    assert score_output(specs, f"Answer: {a.answer}") == 0.0
    assert score_output(specs, "") == 0.0
    with pytest.raises(ValueError):
        score_output([], "x")


def test_pool_is_deterministic_with_the_style_mix(pool: list[dict]) -> None:
    assert len(pool) == 20000
    assert make_pool(300, seed=0) == pool[:300]
    assert make_pool(300, seed=1) != pool[:300]
    for i, row in enumerate(pool[:500]):
        validate_row(row, f"pool:{i}")
        assert row["meta"]["score"] == score_output(row["meta"]["tasks"], row["output"])
    json.dumps(pool[:500])
    styles = Counter(r["meta"]["style"] for r in pool)
    assert set(styles) == set(STYLES)
    for style, weight in POOL_STYLE_WEIGHTS.items():
        assert abs(styles[style] / len(pool) - weight) < 0.02, style
    composed = sum(len(r["meta"]["tasks"]) == 2 for r in pool) / len(pool)
    assert 0.05 < composed < 0.2
    lengths = {s: statistics.mean(len(r["output"]) for r in pool if r["meta"]["style"] == s) for s in STYLES}
    assert lengths["explained"] > 5 * lengths["concise"]
    assert max(len(r["output"]) for r in pool if r["meta"]["style"] == "wrong") > lengths["explained"] * 1.5


def test_length_correlates_with_quality_only_partly(pool: list[dict]) -> None:
    longest = sorted(pool, key=lambda r: len(r["output"]), reverse=True)[:1000]
    randoms = random.Random(0).sample(pool, 1000)
    curated = make_curated(1000, seed=1)
    assert _mean_score(randoms) + 0.05 < _mean_score(longest) < _mean_score(curated) - 0.1
    assert Counter(r["meta"]["style"] for r in longest)["wrong"] > 50


def test_curated_is_balanced_correct_and_explained() -> None:
    rows = make_curated(330, seed=1)
    assert rows == make_curated(330, seed=1)
    assert all(r["meta"]["score"] == 1.0 for r in rows)
    firsts = Counter(r["meta"]["skills"][0] for r in rows)
    assert set(firsts) == set(SKILLS) and max(firsts.values()) - min(firsts.values()) <= 1
    assert 0.15 < sum(len(r["meta"]["skills"]) > 1 for r in rows) / len(rows) < 0.35
    assert all("Answer" in r["output"] for r in rows)
    assert statistics.mean(len(r["output"]) for r in rows) > 120
    assert len({r["meta"]["query_type"] for r in rows}) >= 4


def test_eval_prompts_are_held_out_from_the_pool(pool: list[dict], eval_prompts: list[dict]) -> None:
    assert eval_prompts == make_eval_prompts(200, seed=2)
    assert len({p["instruction"] for p in eval_prompts}) == 200
    assert sum(len(p["meta"]["tasks"]) == 2 for p in eval_prompts) == 60
    assert all(p["dataset"] == "world" for p in eval_prompts)
    assert {s for p in eval_prompts for s in p["meta"]["skills"]} == set(SKILLS)
    eval_specs = [s for p in eval_prompts for s in p["meta"]["tasks"]]
    assert all(is_held_out(task_from_spec(s)) for s in eval_specs)
    pool_keys = {_key(s) for r in pool for s in r["meta"]["tasks"]}
    assert not pool_keys & {_key(s) for s in eval_specs}
    pool_prompts = {prompt_text(r) for r in pool}
    assert not pool_prompts & {p["instruction"] for p in eval_prompts}
    with pytest.raises(ValueError, match="composition_frac"):
        make_eval_prompts(10, composition_frac=1.5)


def test_reference_and_gamed_outputs(eval_prompts: list[dict]) -> None:
    def scores(outputs: list[dict]) -> list[float]:
        return [score_output(p["meta"]["tasks"], o["output"]) for p, o in zip(eval_prompts, outputs)]

    ref = reference_outputs(eval_prompts)
    verbose, concise = gamed_outputs(eval_prompts, "verbose"), gamed_outputs(eval_prompts, "concise")
    assert ref == reference_outputs(eval_prompts)
    assert [o["instruction"] for o in ref] == [p["instruction"] for p in eval_prompts]
    assert {o["generator"] for o in ref + verbose + concise} == {
        "world_reference", "world_reference_verbose", "world_reference_concise"}
    assert scores(ref) == scores(verbose) == scores(concise)
    assert 0.75 < statistics.mean(scores(ref)) < 0.95
    mean_len = {name: statistics.mean(len(o["output"]) for o in outs)
                for name, outs in (("ref", ref), ("verbose", verbose), ("concise", concise))}
    assert mean_len["verbose"] > 3 * mean_len["ref"] and mean_len["ref"] > 3 * mean_len["concise"]
    with pytest.raises(ValueError, match="verbose"):
        gamed_outputs(eval_prompts, "medium")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a world prompt"):
        reference_outputs([{"instruction": "Hi"}])


def test_pool_text_yields_prompt_and_response() -> None:
    rows = make_pool(50, seed=3)
    texts = list(pool_text(rows))
    assert len(texts) == 50
    assert all(t.startswith(r["instruction"]) and t.endswith(r["output"]) for t, r in zip(texts, rows))
