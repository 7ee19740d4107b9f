"""The engine against a real loopback HTTP server: faults, retries, timeouts, limits, errors, both wire formats."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from sftbench.judges.llm import (
    AnthropicProvider,
    ChatRequest,
    LLMClient,
    LLMEndpointError,
    LLMError,
    OpenAIProvider,
)
from sftbench.judges.llm.loopback.server import default_answer

from tests.judges.llm.conftest import FAKE_KEY, KEY_ENV


def client(server, **kw) -> LLMClient:
    kw.setdefault("backoff_base_s", 0.01)
    kw.setdefault("timeout_s", 5.0)
    return LLMClient(OpenAIProvider(server.base_url, KEY_ENV, name="openai_compatible"), **kw)


def req(prompt: str, **kw) -> ChatRequest:
    return ChatRequest.from_prompt(prompt, "gpt-test", **kw)


def expected(prompt: str) -> str:
    return default_answer([{"role": "user", "content": prompt}])


def test_every_fault_kind_is_retried_until_the_right_answer(server):
    server.schedule = {"p1": ["429", "500"], "p2": ["503", "truncated"], "p3": ["garbage", "drop"],
                       "p4": ["529", "429", "500", "truncated"]}
    c = client(server, concurrency=4)
    prompts = [f"p{i}" for i in range(1, 9)]
    out = c.chat_many([req(p) for p in prompts])
    assert [r.text for r in out] == [expected(p) for p in prompts]
    assert server.by_prompt["p4"] == 5 and server.by_prompt["p5"] == 1
    assert server.billable == len(prompts)
    assert c.retries == 10  # one per injected fault
    c.close()


def test_retry_after_is_honoured(server):
    server.retry_after = "1"
    server.schedule = {"slowpoke": ["429"]}
    c = client(server)
    assert c.chat(req("slowpoke")).text == expected("slowpoke")
    first, second = server.arrivals["slowpoke"]
    assert second - first >= 1.0
    c.close()


def test_per_call_timeout_then_retry(server):
    server.slow_s = 3.0
    server.schedule = {"late": ["slow"]}
    c = client(server, timeout_s=0.4)
    t0 = time.monotonic()
    assert c.chat(req("late")).text == expected("late")
    assert time.monotonic() - t0 < 2.5
    assert server.by_prompt["late"] == 2
    c.close()


def test_error_after_last_retry_names_endpoint_and_status_not_key(server, caplog):
    caplog.set_level(logging.DEBUG)
    server.schedule = {"doomed": ["500"] * 10}
    c = client(server, max_retries=2)
    with pytest.raises(LLMEndpointError) as err:
        c.chat(req("doomed"))
    msg = str(err.value)
    assert server.base_url in msg and "gpt-test" in msg and "HTTP 500" in msg and "3 attempt" in msg
    assert err.value.status == 500 and server.by_prompt["doomed"] == 3
    assert FAKE_KEY not in msg and FAKE_KEY not in caplog.text
    c.close()


def test_bad_key_fails_at_once_and_is_scrubbed_from_the_error(server, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-key-ECHOED-BY-SERVER-0123456789"
    monkeypatch.setenv(KEY_ENV, wrong)
    c = client(server)
    with pytest.raises(LLMEndpointError) as err:
        c.chat(req("hello"))
    assert err.value.status == 401 and server.requests == 1  # 4xx other than 429/408/409/425: no retry
    assert wrong not in str(err.value) and "***" in str(err.value) and wrong not in caplog.text
    assert wrong not in repr(c) and wrong not in repr(c.provider)
    c.close()


def test_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("SFTBENCH_UNSET_KEY", raising=False)
    with pytest.raises(LLMError, match="SFTBENCH_UNSET_KEY"):
        OpenAIProvider(api_key_env="SFTBENCH_UNSET_KEY")


def test_concurrency_limit_is_respected(server):
    server.latency_s = 0.05
    c = client(server, concurrency=4)
    out = c.chat_many([req(f"c{i}") for i in range(40)])
    assert len(out) == 40 and server.max_in_flight == 4
    c.close()


def test_identical_requests_in_flight_are_sent_once(server):
    server.latency_s = 0.05
    c = client(server, concurrency=8)
    out = c.chat_many([req("same")] * 6)
    assert {r.text for r in out} == {expected("same")} and server.billable == 1
    c.close()


def test_logprobs_wire_format_and_reported_model(server):
    server.model_suffix = "-2024-05-13"
    server.responder = lambda msgs, body: {"text": "M", "top_logprobs": [("M", -0.3), ("m", -1.4), ("x", -6.0)]}
    c = client(server)
    r = c.chat(req("which?", max_tokens=1, logprobs=True, top_logprobs=3))
    assert r.text == "M" and r.first_token_logprobs() == {"M": -0.3, "m": -1.4, "x": -6.0}
    assert r.model == "gpt-test-2024-05-13" == c.reported_model
    assert (r.prompt_tokens, r.completion_tokens) == (1, 1)
    c.close()


def test_async_api_from_another_event_loop(server):
    c = client(server, concurrency=3)

    async def main():
        return await asyncio.gather(*(c.achat(req(f"a{i}")) for i in range(5)))
    out = asyncio.run(main())
    assert [r.text for r in out] == [expected(f"a{i}") for i in range(5)]
    c.close()


def test_anthropic_wire_format_with_retries(server):
    server.schedule = {"hi claude": ["529", "429"]}
    c = LLMClient(AnthropicProvider(server.anthropic_url, KEY_ENV), backoff_base_s=0.01)
    r = c.chat(ChatRequest.from_prompt("hi claude", "claude-3-5-haiku", system="Be brief.", max_tokens=50))
    assert r.text == expected("hi claude") and r.model == "claude-3-5-haiku"
    assert (r.prompt_tokens, r.completion_tokens) == (4, 2) and r.finish_reason == "end_turn"
    assert server.by_prompt["hi claude"] == 3
    with pytest.raises(LLMEndpointError, match="no logprobs"):
        c.chat(ChatRequest.from_prompt("x", "claude-3-5-haiku", logprobs=True))
    c.close()


def test_max_tokens_is_sent(server):
    server.responder = lambda msgs, body: "one two three four five six"
    c = client(server)
    r = c.chat(req("long", max_tokens=3))
    assert r.text == "one two three" and r.finish_reason == "length" and r.completion_tokens == 3
    c.close()
