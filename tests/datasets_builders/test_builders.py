"""Each builder's selection rule on hand-made inputs."""

import pytest
from sftbench.datasets_builders.builders import (
    alpagasus,
    full,
    lima,
    longest,
    random_k,
    skillmix,
)
from sftbench.datasets_builders.builders.base import BuildContext
from sftbench.datasets_builders.lengths import nltk_word_count
from sftbench.datasets_builders.registry import (
    UnknownBuilder,
    get_builder,
    parse_params,
)


def row(i, output):
    return {"instruction": f"task {i}", "input": "", "output": output}


POOL = [row(0, "one two"), row(1, "a b c d e"), row(2, "x"), row(3, "p q r s t"), row(4, "m n o")]


def test_nltk_word_count_counts_punctuation_and_contractions():
    assert nltk_word_count("Hello, world.") == 4
    assert nltk_word_count("I can't go. It's late!") == 9
    assert nltk_word_count("") == 0


def test_longest_takes_top_k_breaks_ties_by_position_and_keeps_pool_order():
    out = longest.build(POOL, longest.Params(k=2), BuildContext())
    assert [r["instruction"] for r in out.rows] == ["task 1", "task 3"]  # both 5 tokens; pool order
    out = longest.build(POOL, longest.Params(k=3), BuildContext())
    assert [r["instruction"] for r in out.rows] == ["task 1", "task 3", "task 4"]
    assert longest.select_longest([3, 5, 5, 1], 1) == [1]  # tie at the top: earlier row wins


def test_longest_is_a_fixed_point_on_its_own_output():
    first = longest.build(POOL, longest.Params(k=3), BuildContext()).rows
    assert longest.build(first, longest.Params(k=3), BuildContext()).rows == first


def test_random_is_seeded_in_pool_order_and_capped():
    a = random_k.build(POOL, random_k.Params(k=3), BuildContext(seed=1)).rows
    b = random_k.build(POOL, random_k.Params(k=3), BuildContext(seed=1)).rows
    assert a == b and len(a) == 3
    idx = [POOL.index(r) for r in a]
    assert idx == sorted(idx)
    assert len(random_k.build(POOL, random_k.Params(k=99), BuildContext()).rows) == len(POOL)


def test_full_keeps_everything_or_caps():
    assert full.build(POOL, full.Params(), BuildContext()).rows == POOL
    capped = full.build(POOL, full.Params(max_rows=2), BuildContext()).rows
    assert len(capped) == 2 and all(r in POOL for r in capped)


class TableRater:
    fingerprint = {"provider": "test", "model": "table"}

    def __init__(self, scores):
        self.scores = scores

    def rate(self, r):
        return self.scores[r["instruction"]]


def test_alpagasus_keeps_rows_at_or_above_threshold():
    rater = TableRater({"task 0": 5.0, "task 1": 4.5, "task 2": 4.0, "task 3": 4.5, "task 4": 2.0})
    out = alpagasus.build(POOL, alpagasus.Params(threshold=4.5), BuildContext(rater=rater))
    assert [r["instruction"] for r in out.rows] == ["task 0", "task 1", "task 3"]
    assert out.info["rows_above_threshold"] == 3 and out.info["rater"] == rater.fingerprint
    assert [s["score"] for s in out.sidecars["scores"]] == [5.0, 4.5, 4.0, 4.5, 2.0]


def test_alpagasus_cap_keeps_highest_scores_first():
    assert alpagasus.select_by_score([4.5, 5.0, 4.5, 5.0, 4.6], 4.5, 3, seed=0)[:3] == [1, 3, 4]
    picks = {tuple(alpagasus.select_by_score([4.5] * 10, 4.5, 3, seed=s)) for s in range(5)}
    assert len(picks) > 1  # ties at the cut are broken by the seed


def test_alpagasus_without_rater_says_what_to_configure():
    with pytest.raises(ValueError, match="roles.rater"):
        alpagasus.build(POOL, alpagasus.Params(), BuildContext())


def test_lima_uses_curated_set_or_file(tmp_path):
    curated = [row(9, "curated")]
    assert lima.build(POOL, lima.Params(), BuildContext(curated=curated)).rows == curated
    path = tmp_path / "lima.jsonl"
    path.write_text('{"instruction": "q", "input": "", "output": "a"}\n')
    assert lima.build(POOL, lima.Params(path=path), BuildContext()).rows[0]["output"] == "a"
    with pytest.raises(ValueError, match="params.path"):
        lima.build(POOL, lima.Params(), BuildContext())


class EchoTeacher:
    fingerprint = {"provider": "test", "model": "echo"}

    def write_example(self, skills, query_type, seed):
        return {"instruction": f"{query_type}: {'+'.join(skills)}", "input": "", "output": str(seed)}


def test_skillmix_samples_k_distinct_skills_and_balances_query_types():
    plan = skillmix.plan_examples([f"s{i}" for i in range(10)], ["qa", "essay", "list"], n=30, k=2, seed=0)
    assert all(len(set(s)) == 2 for s, _ in plan)
    counts = {q: sum(1 for _, t in plan if t == q) for q in ("qa", "essay", "list")}
    assert counts == {"qa": 10, "essay": 10, "list": 10}
    ctx = BuildContext(teacher=EchoTeacher(), skills=[f"s{i}" for i in range(10)], query_types=["qa"])
    out = skillmix.build([], skillmix.Params(n=4, k=3), ctx)
    assert len(out.rows) == 4 and all(r["instruction"].count("+") == 2 for r in out.rows)
    with pytest.raises(ValueError, match="at least k=3"):
        skillmix.plan_examples(["a", "b"], ["qa"], 1, 3, 0)


def test_registry_suggests_closest_name_and_validates_params():
    with pytest.raises(UnknownBuilder, match="Did you mean 'longest'"):
        get_builder("longst")
    with pytest.raises(Exception, match="greater than 0"):
        parse_params("random", {"k": 0})
    with pytest.raises(Exception, match="Extra inputs"):
        parse_params("random", {"kk": 3})


def test_every_builder_names_its_size_field():
    from sftbench.datasets_builders.registry import BUILDERS
    for name in BUILDERS:
        module = get_builder(name)
        assert module.SIZE_FIELD in module.Params.model_fields, name
