"""MT-Bench: FastChat's data and judge prompts, a fake two-turn model, a loopback judge; tables and unparsed counts."""

from __future__ import annotations

import re

import pytest
from sftbench.judges.llm import LLMRoleConfig, ResponseCache, make_client
from sftbench.judges.llm.loopback.server import LoopbackServer
from sftbench.judges.mt_bench import (
    load_mt_bench,
    make_grader,
    mt_bench_scores,
    parse_rating,
    run_mt_bench,
    scores_markdown,
)
from sftbench.judges.mt_bench.judge import judge_messages, judge_prompt_name

from tests.conftest import shared_data


@pytest.fixture(scope="module")
def data():
    return load_mt_bench(shared_data("mt_bench"))


def fake_model(conversations):
    """A tiny 'model': a short answer naming the turn and echoing the start of the question."""
    return [f"Answer {len(c) // 2 + 1}: {c[-1]['content'][:40]}" for c in conversations]


def rating_for(messages) -> int:
    """A deterministic rating from the judged text (so tables differ by category and turn)."""
    return 1 + sum(map(ord, messages[-1]["content"][-60:])) % 10


def grader_for(server: LoopbackServer, tmp_path, parse_retries: int = 2):
    cfg = LLMRoleConfig(provider="openai_compatible", base_url=server.base_url, model="loopback-judge",
                        parse_retries=parse_retries)
    client = make_client(cfg, ResponseCache(tmp_path / "cache.sqlite"))
    return make_grader(cfg, client)


def test_data_is_fastchats_80_questions_with_references_and_prompts(data):
    assert len(data.questions) == 80 and all(len(q["turns"]) == 2 for q in data.questions)
    assert {q["category"] for q in data.questions} >= {"writing", "math", "coding", "reasoning"}
    assert sorted(data.references) == list(range(101, 131))
    assert all(p["origin"] == "local" and p["matches_pin"] for p in data.provenance)


def test_parse_rating_follows_fastchat():
    assert parse_rating("Good answer. Rating: [[8]]") == 8.0
    assert parse_rating("Rating: [[7.5]] and later [[2]]") == 7.5
    assert parse_rating("I give it [6].") == 6.0  # FastChat's backup pattern
    for bad in ("no rating here", "Rating: [[11]]", "[[0]]"):
        with pytest.raises(ValueError):
            parse_rating(bad)


def test_judge_prompts_match_fastchat_formatting(data):
    q = next(q for q in data.questions if q["category"] == "math")
    ref = data.references[q["question_id"]]["choices"][0]["turns"]
    assert judge_prompt_name("math", False) == "single-math-v1" and judge_prompt_name("writing", True) == \
        "single-v1-multi-turn"
    msgs = judge_messages(q, ["A1", "A2"], data.judge_prompts["single-math-v1-multi-turn"], ref, True)
    assert msgs[0] == {"role": "system", "content": data.judge_prompts["single-math-v1-multi-turn"]["system_prompt"]}
    expected = data.judge_prompts["single-math-v1-multi-turn"]["prompt_template"].format(
        question_1=q["turns"][0], question_2=q["turns"][1], answer_1="A1", answer_2="A2", ref_answer_1=ref[0],
        ref_answer_2=ref[1])
    assert msgs[1] == {"role": "user", "content": expected}


def test_run_with_well_formed_ratings_gives_a_complete_table(data, tmp_path):
    with LoopbackServer(responder=lambda m, b: f"Short explanation. Rating: [[{rating_for(m)}]]") as server:
        grader = grader_for(server, tmp_path)
        result = run_mt_bench(data, fake_model, grader, model_id="tiny")
        requests = server.requests
    s = result.scores
    assert s["complete"] and s["n_judgments"] == 160 and s["n_unparsed"] == 0 and s["n_questions"] == 80
    assert requests == 160  # one call per question and turn
    assert len(s["table"]) == 8 and all(row["turn_1"] is not None and row["turn_2"] is not None for row in s["table"])
    ratings = [j["score"] for j in result.judgments]
    assert s["score"] == pytest.approx(sum(ratings) / 160)
    assert s["score"] == pytest.approx((s["turn_1"] + s["turn_2"]) / 2)
    j2 = next(j for j in result.judgments if j["turn"] == 2 and j["category"] == "coding")
    assert j2["judge"][1] == "single-math-v1-multi-turn" and "Answer 2:" in j2["user_prompt"]
    assert j2["judge_fingerprint"]["model"] == "loopback-judge" and j2["judge_fingerprint"]["decoding"][
        "temperature"] == 0.0
    assert result.answers[0]["choices"][0]["turns"][1].startswith("Answer 2:")
    assert "| **overall** |" in scores_markdown(s)


def test_malformed_ratings_are_counted_never_dropped(data, tmp_path):
    def responder(messages, body):
        if "Rewrite" in messages[-1]["content"] or "writing" in messages[-1]["content"]:
            return "I liked it a lot, but I will not give a number."
        return "Fine. Rating: [[6]]"
    with LoopbackServer(responder=responder) as server:
        result = run_mt_bench(data, fake_model, grader_for(server, tmp_path, parse_retries=1), model_id="tiny")
    s = result.scores
    failed = [j for j in result.judgments if j["failed"]]
    assert s["n_unparsed"] == len(failed) > 0 and not s["complete"]
    assert s["n_judgments"] == 160 and s["n_parsed"] == 160 - len(failed)
    assert all(j["score"] == -1 and j["attempts"] == 2 and "no '[[rating]]'" in j["parse_error"] for j in failed)
    assert s["score"] == pytest.approx(6.0)
    assert sum(row["n_unparsed"] for row in s["table"]) == len(failed)


def test_answers_carry_the_history_and_optional_fastchat_temperatures(data):
    from sftbench.judges.mt_bench import answer_questions
    seen = []

    def model(conversations, temperatures=None):
        seen.append((conversations, temperatures))
        return ["A" for _ in conversations]
    answers = answer_questions(data.questions[:3], model, "m", system="Be brief.", fastchat_temperatures=True)
    (first, t1), (second, t2) = seen
    assert [m["role"] for m in second[0]] == ["system", "user", "assistant", "user"] and second[0][2]["content"] == "A"
    assert t1 == t2 == [0.7, 0.7, 0.7] and [a["choices"][0]["turns"] for a in answers] == [["A", "A"]] * 3


def test_flagged_answers_and_scores_from_judgments_only():
    judgments = [{"question_id": 1, "category": "writing", "turn": t, "score": 5, "judge_injection": []}
                 for t in (1, 2)]
    judgments[1]["judge_injection"] = ["requests_score"]
    s = mt_bench_scores(judgments)
    assert s["complete"] and s["score"] == 5 and s["n_flagged_injection"] == 1
    assert re.search(r"\| writing \| 5.00 \| 5.00 \| 5.00 \| 0 \|", scores_markdown(s))


def test_constants_match_installed_fastchat_without_importing_it():
    """NEED_REF_CATS and the rating patterns are FastChat 0.2.36's (read from its source: importing it loads torch)."""
    import ast
    import importlib.util
    from pathlib import Path

    from sftbench.judges.mt_bench import judge as mt_judge
    from sftbench.judges.mt_bench.data import NEED_REF_CATS
    spec = importlib.util.find_spec("fastchat")
    if spec is None:
        pytest.skip("fschat is not installed")
    source = (Path(spec.submodule_search_locations[0]) / "llm_judge" / "common.py").read_text()
    values = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name == "NEED_REF_CATS":
                values[name] = tuple(ast.literal_eval(node.value))
            elif name in ("one_score_pattern", "one_score_pattern_backup"):
                values[name] = ast.literal_eval(node.value.args[0])
    assert values["NEED_REF_CATS"] == NEED_REF_CATS
    assert values["one_score_pattern"] == mt_judge.ONE_SCORE.pattern
    assert values["one_score_pattern_backup"] == mt_judge.ONE_SCORE_BACKUP.pattern


def test_pinned_download_through_a_mirror_is_checked_and_cached(tmp_path, monkeypatch):
    """The pinned FastChat files fetched from a GitHub mirror: sha256-checked, cached, then served offline."""
    import shutil

    from sftbench.judges.mt_bench.data import FILES

    from sftbench.common.downloads import DataUnavailable
    mirror = tmp_path / "mirror"
    for name, pinned in FILES.items():
        target = mirror / pinned.repo / pinned.commit / pinned.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_data(f"mt_bench/{name}"), target)
    monkeypatch.setenv("SFTBENCH_GITHUB_RAW", mirror.as_uri())
    monkeypatch.setenv("SFTBENCH_CACHE", str(tmp_path / "cache"))
    data = load_mt_bench()
    assert len(data.questions) == 80 and all(p["origin"] == "pinned" and p["matches_pin"] for p in data.provenance)
    monkeypatch.setenv("SFTBENCH_OFFLINE", "1")
    shutil.rmtree(mirror)
    assert len(load_mt_bench().questions) == 80  # from the cache
    shutil.rmtree(tmp_path / "cache")
    with pytest.raises(DataUnavailable, match="offline.*mt_bench data_dir"):
        load_mt_bench()
    monkeypatch.delenv("SFTBENCH_OFFLINE")
    bad = mirror / FILES["question.jsonl"].repo / FILES["question.jsonl"].commit / FILES["question.jsonl"].path
    bad.parent.mkdir(parents=True)
    bad.write_text('{"question_id": 1}\n')
    with pytest.raises(DataUnavailable, match="sha256"):
        load_mt_bench()
