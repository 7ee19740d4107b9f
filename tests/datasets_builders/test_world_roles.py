"""World-native roles: teacher, rater and verifier judge satisfy the protocols and behave as documented."""

from __future__ import annotations

import json
import random
import statistics

import pytest
from sftbench.datasets_builders.world import (
    QUERY_TYPES,
    SKILL_NAMES,
    SKILLS,
    WORLD_VERSION,
    WorldRater,
    WorldTeacher,
    WorldVerifierJudge,
    make_eval_prompts,
    make_pool,
    score_output,
)
from sftbench.judges.protocols import PairwiseJudge, Rater, Teacher


@pytest.fixture(scope="module")
def prompts() -> list[dict]:
    return make_eval_prompts(60, seed=2)


def test_roles_satisfy_protocols_and_fingerprints_are_json() -> None:
    teacher, rater, judge = WorldTeacher(seed=3), WorldRater(noise=0.3, seed=1), WorldVerifierJudge(0.1)
    assert isinstance(teacher, Teacher) and isinstance(rater, Rater) and isinstance(judge, PairwiseJudge)
    models = []
    for role in (teacher, rater, judge):
        fp = json.loads(json.dumps(role.fingerprint))
        assert fp["provider"] == "world" and fp["version"] == WORLD_VERSION
        models.append(fp["model"])
    assert models == ["world-teacher", "world-rater", "world-verifier"]
    assert rater.fingerprint["noise"] == 0.3 and judge.fingerprint["length_bias"] == 0.1


def test_teacher_writes_every_requested_skill_mostly_correctly() -> None:
    teacher, rng = WorldTeacher(seed=0), random.Random(0)
    rows = []
    for i in range(240):
        skills = rng.sample(SKILL_NAMES, rng.randint(1, 3))
        query_type = QUERY_TYPES[i % len(QUERY_TYPES)]
        row = teacher.write_example(skills, query_type, seed=i)
        assert row["meta"]["skills"] == skills and row["meta"]["query_type"] == query_type
        assert row["instruction"] and row["output"]
        assert row == teacher.write_example(skills, query_type, seed=i)
        rows.append(row)
    assert statistics.mean(r["meta"]["score"] == 1.0 for r in rows) > 0.9
    assert statistics.mean(len(r["output"]) for r in rows) > 80
    one, two = (teacher.write_example(["add"], "direct question", seed) for seed in (1, 2))
    assert one != two
    with pytest.raises(ValueError, match="query type"):
        teacher.write_example(["add"], "haiku", 0)
    with pytest.raises(ValueError, match="unknown world skill"):
        teacher.write_example(["add", "juggling"], "checklist", 0)
    with pytest.raises(ValueError, match="non-empty"):
        teacher.write_example([], "checklist", 0)


def test_rater_is_monotone_in_quality_on_average() -> None:
    rows = make_pool(3000, seed=4)
    rater = WorldRater()
    ratings = [rater.rate(r) for r in rows]
    assert all(0.0 <= x <= 5.0 and (2 * x).is_integer() for x in ratings)
    assert ratings == [rater.rate(r) for r in rows]
    by_style = {s: statistics.mean(x for x, r in zip(ratings, rows) if r["meta"]["style"] == s)
                for s in ("explained", "concise", "partial", "wrong", "shirker")}
    assert by_style["explained"] > by_style["concise"] > by_style["partial"] > by_style["wrong"]
    assert by_style["partial"] > by_style["shirker"]
    kept = [r for x, r in zip(ratings, rows) if x >= 4.5]
    mean_kept, mean_all = (statistics.mean(r["meta"]["score"] for r in rs) for rs in (kept, rows))
    assert mean_kept > mean_all + 0.2
    assert [WorldRater(seed=9).rate(r) for r in rows[:200]] != ratings[:200]  # noise depends on the seed
    quiet = WorldRater(noise=0.0)
    assert all(quiet.rate(r) == round(2 * quiet.quality(r)) / 2 for r in rows[:200])


def test_rater_refuses_rows_from_outside_the_world() -> None:
    with pytest.raises(ValueError, match="configure an LLM rater"):
        WorldRater().rate({"instruction": "Name a color.", "input": "", "output": "Blue."})


def test_verifier_judge_prefers_correct_answers(prompts: list[dict]) -> None:
    judge = WorldVerifierJudge(length_bias=0.15)
    for prompt in prompts:
        tasks = prompt["meta"]["tasks"]
        right = "\n".join(f"Answer {i}: {t['answer']}" for i, t in enumerate(tasks, 1)) if len(tasks) > 1 \
            else f"Answer: {tasks[0]['answer']}"
        assert score_output(tasks, right) == 1.0
        wrong = "I am not sure about this one, sorry."
        assert judge.prefer(prompt, wrong, right) > 1.8
        assert judge.prefer(prompt, right, wrong) < 1.2
        assert judge.prefer(prompt, right, right) == 1.5
        longer = "Let me explain carefully, step by step, why this holds. " * 3 + right
        assert 1.5 < judge.prefer(prompt, right, longer) < 1.65   # mild verbosity bias towards output_2
        assert 1.35 < judge.prefer(prompt, longer, right) < 1.5
        assert WorldVerifierJudge(length_bias=0.0).prefer(prompt, right, longer) == 1.5
        for a, b in ((wrong, longer), (longer, wrong), (right, "")):
            assert 1.0 <= judge.prefer(prompt, a, b) <= 2.0


def test_verifier_judge_needs_world_prompts() -> None:
    with pytest.raises(ValueError, match="world judge only handles world eval prompts"):
        WorldVerifierJudge().prefer({"instruction": "Hi"}, "a", "b")
    with pytest.raises(ValueError, match="length_bias"):
        WorldVerifierJudge(length_bias=2.0)


def test_skill_names_match_registry() -> None:
    assert SKILL_NAMES == list(SKILLS) and len(QUERY_TYPES) == 6
