"""Issue #15 (LLM calls): a refused key or a dead endpoint stops the client early, retries are summarised by kind,
attempts abandoned after sending are counted as possibly billed. All against the real loopback server."""

from __future__ import annotations

import logging
import socket

import pytest
from sftbench.judges.llm import (
    AnthropicProvider,
    ChatRequest,
    ChatResponse,
    CostLedger,
    LLMClient,
    LLMEndpointError,
    LLMRoleConfig,
    OpenAIProvider,
    make_llm_role,
)
from sftbench.judges.llm.chat import LLMAuthError, LLMCircuitOpen
from sftbench.judges.llm.loopback.server import default_answer

from tests.judges.llm.conftest import FAKE_KEY, KEY_ENV

PRICES = {"gpt-test": (1000.0, 3000.0)}  # 0.001 USD per prompt token, 0.003 per completion token


def client(base_url: str, **kw) -> LLMClient:
    kw.setdefault("backoff_base_s", 0.001)
    kw.setdefault("timeout_s", 5.0)
    return LLMClient(OpenAIProvider(base_url, KEY_ENV, name="openai"), **kw)


def req(prompt: str, **kw) -> ChatRequest:
    kw.setdefault("max_tokens", 4)
    return ChatRequest.from_prompt(prompt, "gpt-test", **kw)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed: connection refused


@pytest.mark.parametrize("status", ["401", "403"])
def test_a_refused_key_stops_the_client_after_exactly_one_request(server, monkeypatch, caplog, status):
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-key-ECHOED-BY-SERVER-0123456789"
    if status == "401":
        monkeypatch.setenv(KEY_ENV, wrong)
    else:
        server.schedule = {"row": ["403"]}
    c = client(server.base_url, concurrency=8)
    out = c.chat_many([req(f"row {i}") for i in range(100)], return_exceptions=True)
    assert server.requests == 1 and c.requests_sent == 1  # not one more request, at concurrency 8
    assert all(isinstance(r, LLMAuthError) for r in out)
    assert len({str(r) for r in out}) == 1  # every pending call fails with the same clear error
    msg = str(out[0])
    assert f"HTTP {status}" in msg and KEY_ENV in msg and "no further request" in msg
    assert isinstance(out[0], RuntimeError)  # the CLI maps RuntimeError to exit code 1
    with pytest.raises(LLMAuthError):  # later calls fail fast too
        c.chat(req("later"))
    assert server.requests == 1
    for text in (msg, caplog.text, repr(c.retry_summary())):
        assert wrong not in text and FAKE_KEY not in text
    assert c.retry_summary()["stopped"].startswith("LLMAuthError")
    c.close()


def test_a_refused_key_stops_an_anthropic_role(server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-ant-wrong")
    cfg = LLMRoleConfig(provider="anthropic", model="claude-3-5-haiku", base_url=server.anthropic_url,
                        api_key_env=KEY_ENV, concurrency=4, backoff_base_s=0.001)
    rater = make_llm_role("rater", cfg)
    rows = [{"instruction": f"task {i}", "input": "", "output": "x"} for i in range(20)]
    with pytest.raises(LLMAuthError, match=KEY_ENV):
        rater.rate_many(rows)
    assert server.requests == 1 and server.auth_failures == 1


def test_a_dead_endpoint_stops_after_the_breaker_threshold_not_after_every_item(fake_key, caplog):
    caplog.set_level(logging.DEBUG)
    c = client(f"http://127.0.0.1:{closed_port()}/v1", concurrency=8, max_retries=3, breaker_failures=5)
    out = c.chat_many([req(f"row {i}") for i in range(200)], return_exceptions=True)
    assert all(isinstance(r, LLMEndpointError) for r in out)
    tripped = [r for r in out if isinstance(r, LLMCircuitOpen)]
    exhausted = [r for r in out if not isinstance(r, LLMCircuitOpen)]
    assert len(exhausted) <= 5 + 8 and len(tripped) == 200 - len(exhausted)
    # without the breaker: 200 x 4 = 800 attempts; with it: about breaker_failures x (max_retries + 1)
    assert c.requests_sent <= 5 * 4 + 8 + 8, c.requests_sent
    assert "5 calls in a row failed after 4 attempt(s)" in str(tripped[0]) and "breaker_failures" in str(tripped[0])
    summary = c.retry_summary()
    assert summary["retries_by_kind"] == {"connection": summary["retries"]} and 5 <= summary["failed_calls"] <= 5 + 8
    assert summary["stopped"].startswith("LLMCircuitOpen") and summary["refused_calls"] >= len(tripped) - 8
    with pytest.raises(LLMCircuitOpen):
        c.chat(req("later"))
    c.close()


def test_the_breaker_lets_a_flaky_but_alive_endpoint_finish(server):
    # many failures, but never breaker_failures calls in a row that exhaust their retries: everything answers
    server.schedule = {f"row {i}": ["500", "503"] for i in range(0, 40, 2)}
    c = client(server.base_url, concurrency=4, max_retries=3, breaker_failures=2)
    out = c.chat_many([req(f"row {i}") for i in range(40)])
    assert [r.text for r in out] == [default_answer([{"role": "user", "content": f"row {i}"}]) for i in range(40)]
    assert c.retry_summary()["stopped"] is None and c.retries == 40
    c.close()


def test_retry_summary_counts_kinds_and_logs_one_line(server, caplog):
    caplog.set_level(logging.DEBUG, logger="sftbench.llm")
    server.slow_s = 2.0
    server.schedule = {"a": ["429", "429", "500"], "b": ["503", "529"], "c": ["slow"], "d": ["drop"],
                       "e": ["garbage", "truncated"], "f": ["409"]}
    ledger = CostLedger(prices=PRICES)
    c = client(server.base_url, ledger=ledger, concurrency=6, timeout_s=0.5)
    out = c.chat_many([req(p) for p in "abcdefg"])
    assert all(isinstance(r, ChatResponse) for r in out)
    summary = c.retry_summary()
    assert summary["retries_by_kind"] == {"429": 2, "5xx": 3, "other_4xx": 1, "timeout": 1, "connection": 1,
                                          "unreadable": 2}
    assert summary["retries"] == c.retries == 10 and summary["failed_calls"] == 0 and summary["stopped"] is None
    totals = ledger.totals()  # the manifest's llm_cost carries them too
    assert totals["retries"] == 10 and totals["retries_429"] == 2 and totals["retries_unreadable"] == 2
    per_retry = [r for r in caplog.records if "; retry " in r.getMessage()]
    assert len(per_retry) == 10 and all(r.levelno == logging.DEBUG for r in per_retry)
    summaries = [r for r in caplog.records if "retries so far" in r.getMessage()]
    assert 1 <= len(summaries) <= 2 and all(r.levelno == logging.WARNING for r in summaries)
    assert "10 retries so far" in summaries[-1].getMessage()
    c.close()


def test_a_timed_out_request_is_in_the_ledgers_upper_bound(server):
    server.slow_s = 1.5
    server.schedule = {"slow one": ["slow"]}
    ledger = CostLedger(prices=PRICES)
    c = client(server.base_url, ledger=ledger, timeout_s=0.3)
    before = ledger.totals()
    r = c.chat(req("slow one", max_tokens=10))
    assert r.text == default_answer([{"role": "user", "content": "slow one"}])
    totals = ledger.totals()
    answered = 2 * 0.001 + 2 * 0.003  # the answer: 2 prompt words, 2 completion words
    abandoned = ledger.estimate("openai", req("slow one", max_tokens=10))  # its prompt estimate + max_tokens
    assert totals["calls"] == 1 and totals["possibly_billed_calls"] == 1
    assert totals["usd"] == pytest.approx(answered)
    assert totals["usd_upper_bound"] == pytest.approx(answered + abandoned) and abandoned >= 10 * 0.003
    step = ledger.totals_since(before)
    assert step["possibly_billed_calls"] == 1 and step["usd_upper_bound"] == pytest.approx(answered + abandoned)
    assert totals["by_model"]["gpt-test"]["possibly_billed_calls"] == 1
    assert c.retry_summary()["possibly_billed"] == 1
    # the abandoned answer was served in the end: the server billed 2, the ledger's bound covers both
    import time
    deadline = time.monotonic() + 5
    while server.billable < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.billable == 2
    c.close()


def test_the_budget_counts_possibly_billed_attempts(server):
    server.slow_s = 1.0
    server.schedule = {"slow": ["slow"]}
    ledger = CostLedger(prices=PRICES, max_usd=0.05)
    c = client(server.base_url, ledger=ledger, timeout_s=0.2, max_retries=0)
    with pytest.raises(LLMEndpointError, match="timeout"):
        c.chat(req("slow", max_tokens=10))
    bound = ledger.totals()["usd_upper_bound"]
    assert bound > 0 and ledger.totals()["usd"] == 0
    assert "abandoned attempts" in _refusal(c, ledger, bound)
    c.close()


def _refusal(c: LLMClient, ledger: CostLedger, bound: float) -> str:
    from sftbench.judges.llm import BudgetExceeded
    for i in range(100):
        try:
            c.chat(req(f"fits {i}", max_tokens=10))
        except BudgetExceeded as exc:
            assert ledger.totals()["usd"] + bound <= 0.05 + 1e-12
            return str(exc)
    raise AssertionError("the budget never refused a call")


def test_anthropic_auth_error_names_the_variable(server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-ant-nope")
    c = LLMClient(AnthropicProvider(server.anthropic_url, KEY_ENV), backoff_base_s=0.001)
    with pytest.raises(LLMAuthError) as err:
        c.chat(ChatRequest.from_prompt("hi", "claude-3-5-haiku", max_tokens=5))
    assert err.value.key_env == KEY_ENV and "sk-ant-nope" not in str(err.value)
    c.close()
