"""LLM-backed roles over the loopback server: parsing, bounded re-asks, failures, fingerprints, config, factory."""

from __future__ import annotations

import hashlib
import math
import re

import pytest
from pydantic import ValidationError
from sftbench.judges.llm import (
    ClientPool,
    CostLedger,
    LLMRoleConfig,
    ParseFailure,
    PromptTemplate,
    ResponseCache,
    make_llm_role,
)
from sftbench.judges.llm.prompts import PROMPTS_DIR
from sftbench.judges.pairwise import annotate_pairs
from sftbench.judges.protocols import PairwiseJudge, Rater, Teacher

from tests.judges.llm.conftest import KEY_ENV


def cfg(server, **kw) -> LLMRoleConfig:
    kw.setdefault("backoff_base_s", 0.01)
    return LLMRoleConfig(provider="openai_compatible", model="gpt-test", base_url=server.base_url,
                         api_key_env=KEY_ENV, **kw)


def rater_responder(messages, body):
    text = messages[-1]["content"]
    if "GOOD" in text:
        return "Score: 4.5\nAccurate and complete."
    if "FLAKY" in text:
        return "Score: 2\nPartly right." if "(Attempt 2" in text else "It is fine I guess."
    return "I would rather not say."


def test_rater_parses_reasks_and_records_failures(server, tmp_path):
    server.responder = rater_responder
    rater = make_llm_role("rater", cfg(server), ResponseCache(tmp_path / "c.sqlite"), CostLedger())
    assert isinstance(rater, Rater)
    rows = [{"instruction": "GOOD task", "input": "", "output": "x"},
            {"instruction": "FLAKY task", "input": "ctx", "output": "y"},
            {"instruction": "BAD task", "input": "", "output": "z"}]
    scores = rater.rate_many(rows)
    assert scores[:2] == [4.5, 2.0] and math.isnan(scores[2])
    assert server.by_prompt and sum(1 for k in server.by_prompt if "BAD" in k) == 3  # 1 + parse_retries (2)
    assert rater.n_failures == 1 and rater.failures[0]["raw"] == "I would rather not say."
    assert rater.failure_summary() == {"calls": 3, "failures": 1, "on_failure": "nan"}
    assert rater.rate(rows[0]) == 4.5  # single-row sync API, answered from the cache
    requests = server.requests
    assert math.isnan(rater.rate(rows[2])) and server.requests == requests  # failures are cached answers too
    strict = make_llm_role("rater", cfg(server, on_failure="raise", parse_retries=0))
    with pytest.raises(ParseFailure, match="rather not say"):
        strict.rate(rows[2])


def test_logprob_judge_reads_first_token_probabilities(server):
    server.responder = lambda msgs, body: {"text": "M", "top_logprobs": [("M", math.log(0.6)), (" m", math.log(0.2)),
                                                                         ("The", math.log(0.1))]}
    judge = make_llm_role("judge", cfg(server))
    assert isinstance(judge, PairwiseJudge)
    pref = judge.prefer({"instruction": "Say hi"}, "hi", "hello there")
    assert pref == pytest.approx(2 - 0.2 / 0.8)
    sent = server.arrivals  # the request asked for one token with top_logprobs
    assert len(sent) == 1
    prompts = [{"instruction": f"task {i}"} for i in range(6)]
    records = annotate_pairs(prompts, ["base"] * 6, ["model"] * 6, judge, "gen", "baseline", "loopback")
    assert all(1.0 <= r["preference"] <= 2.0 for r in records)
    assert {round(r["preference"], 6) for r in records} <= {1.25, 1.75}


def test_logprob_judge_without_labels_is_a_counted_failure(server):
    server.responder = lambda msgs, body: {"text": "The", "top_logprobs": [("The", -0.1), ("A", -2.0)]}
    judge = make_llm_role("judge", cfg(server, parse_retries=1))
    assert math.isnan(judge.prefer({"instruction": "q"}, "a", "b"))
    assert judge.n_failures == 1 and "neither label" in judge.failures[0]["reason"]


def test_text_judge_and_batch(server):
    def answer(msgs, body):
        second = msgs[-1]["content"].split("## Answer M")[1].split("## Your verdict")[0]
        return "M" if "better" in second else "m"
    server.responder = answer
    judge = make_llm_role("judge", cfg(server, judge_mode="text"))
    prefs = judge.prefer_many([{"instruction": "q1"}, {"instruction": "q2"}], ["better one", "meh"],
                              ["meh", "better two"])
    assert prefs == [1.0, 2.0]
    assert judge.fingerprint["mode"] == "text" and judge.fingerprint["decoding"]["max_tokens"] == 8


def test_anthropic_text_judge(server):
    server.responder = lambda msgs, body: "m"
    c = LLMRoleConfig(provider="anthropic", model="claude-3-5-haiku", base_url=server.anthropic_url,
                      api_key_env=KEY_ENV, judge_mode="text")
    assert make_llm_role("judge", c).prefer({"instruction": "q"}, "a", "b") == 1.0
    with pytest.raises(Exception, match="judge_mode: text"):
        make_llm_role("judge", c.model_copy(update={"judge_mode": "logprob"}))


def test_teacher_writes_alpaca_rows(server):
    def teach(msgs, body):
        skills = re.search(r"skills to answer well: (.*)\.", msgs[-1]["content"]).group(1)
        return f"Instruction: Use {skills} (seed {body['seed']}).\nInput: none\nResponse: Done with {skills}."
    server.responder = teach
    teacher = make_llm_role("teacher", cfg(server))
    assert isinstance(teacher, Teacher)
    row = teacher.write_example(["algebra", "poetry"], "a question", seed=7)
    assert row["instruction"] == "Use algebra, poetry (seed 7)." and row["input"] == ""
    assert row["output"] == "Done with algebra, poetry." and row["meta"]["skills"] == ["algebra", "poetry"]
    rows = teacher.write_many([(["a"], "q", 1), (["a"], "q", 2)])
    assert rows[0]["instruction"] != rows[1]["instruction"] and server.billable == 3
    assert teacher.fingerprint["decoding"]["temperature"] == 0.7


def test_fingerprint_reports_server_model_prompt_hash_and_parser(server, tmp_path):
    server.model_suffix = "-2024-08-06"
    server.responder = lambda msgs, body: "Score: 3"
    rater = make_llm_role("rater", cfg(server))
    fp = rater.fingerprint
    assert fp["model"] == "gpt-test" and fp["provider"] == "openai_compatible"
    expected_sha = hashlib.sha256((PROMPTS_DIR / "rater_quality.txt").read_bytes()).hexdigest()
    assert fp["prompt_sha256"] == expected_sha and fp["parser_version"] == "rating-v1"
    rater.rate({"instruction": "i", "input": "", "output": "o"})
    assert rater.fingerprint["model"] == "gpt-test-2024-08-06" and rater.fingerprint["configured_model"] == "gpt-test"
    custom = tmp_path / "my_rater.txt"
    custom.write_text("Rate 0-5. Instruction: {instruction} Input: {input} Answer: {output}")
    other = make_llm_role("rater", cfg(server, prompt_path=custom))
    assert other.fingerprint["prompt_sha256"] != expected_sha
    assert other.rate({"instruction": "i", "input": "", "output": "o"}) == 3.0
    assert server.by_prompt["Rate 0-5. Instruction: i Input: (none) Answer: o"] == 1  # plain text: one user message
    with pytest.raises(ValueError, match=r"\{output_2\}"):
        make_llm_role("judge", cfg(server, prompt_text="Compare {instruction} {output_1}"))


def test_prompt_values_are_not_reparsed():
    t = PromptTemplate("<|im_start|>user\nQ: {instruction}\nA: {output_1} / {output_2}<|im_end|>", "inline")
    msgs = t.render(instruction="{output_2} <|im_end|>", output_1="x", output_2="y")
    assert msgs == ({"role": "user", "content": "Q: {output_2} <|im_end|>\nA: x / y"},)


def test_config_is_strict_and_keys_stay_out():
    with pytest.raises(ValidationError, match="extra"):
        LLMRoleConfig(provider="openai", model="gpt-4o", api_key="sk-123")
    with pytest.raises(ValidationError, match="api_key_env"):
        LLMRoleConfig(provider="openai", model="gpt-4o", api_key_env="sk-live-123")
    with pytest.raises(ValidationError, match="base_url"):
        LLMRoleConfig(provider="openai_compatible", model="m")
    with pytest.raises(ValidationError, match="needs `model`"):
        LLMRoleConfig(provider="anthropic")
    r = LLMRoleConfig(provider="openai", model="gpt-4o").resolved("judge")
    assert (r.api_key_env, r.max_tokens, r.temperature, r.concurrency) == ("OPENAI_API_KEY", 1, 0.0, 8)
    local = LLMRoleConfig(provider="llamacpp_server").resolved("teacher")
    assert local.model_path.endswith(".gguf") and local.model == "SmolLM2-135M-Instruct.Q4_1"
    assert local.concurrency == 1 and local.max_tokens == 1024
    ident = LLMRoleConfig(provider="llamacpp_server", base_url="http://127.0.0.1:5555/v1", concurrency=3).identity("judge")
    assert ident == LLMRoleConfig(provider="llamacpp_server", threads=2).identity("judge")  # port, limits: no matter
    assert ident["model_path"] == "SmolLM2-135M-Instruct.Q4_1.gguf" and ident["max_tokens"] == 1
    with pytest.raises(Exception, match="managed_endpoints"):
        make_llm_role("rater", LLMRoleConfig(provider="llamacpp_server"))


def test_client_pool_shares_one_limit_per_endpoint(server):
    server.latency_s = 0.05
    server.responder = lambda msgs, body: {"text": "Score: 1", "top_logprobs": [("m", -0.1)]}
    pool = ClientPool()
    rater = make_llm_role("rater", cfg(server, concurrency=3), clients=pool)
    judge = make_llm_role("judge", cfg(server, concurrency=3), clients=pool)
    assert rater.client is judge.client
    rows = [{"instruction": f"r{i}", "input": "", "output": "o"} for i in range(9)]
    import threading
    t = threading.Thread(target=rater.rate_many, args=(rows,))
    t.start()
    judge.prefer_many([{"instruction": f"j{i}"} for i in range(9)], ["a"] * 9, ["b"] * 9)
    t.join()
    assert server.max_in_flight == 3
    pool.close()
