"""Persistent cache, cost ledger and budget: no duplicate paid calls, exact totals, safe concurrent writers."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import signal

import pytest
from sftbench.judges.llm import (
    BudgetExceeded,
    ChatRequest,
    ChatResponse,
    CostLedger,
    LLMClient,
    LLMRoleConfig,
    OpenAIProvider,
    ResponseCache,
    estimate_role_usd,
    estimate_usd,
)
from sftbench.judges.llm.ledger import DEFAULT_PRICES, lookup_price
from sftbench.judges.llm.loopback.server import default_answer

from tests.judges.llm.conftest import FAKE_KEY, KEY_ENV, files_containing

PRICES = {"gpt-test": (1000.0, 3000.0)}  # USD per 1M tokens: 0.001 per prompt token, 0.003 per completion token


def client(server, cache=None, ledger=None, **kw) -> LLMClient:
    return LLMClient(OpenAIProvider(server.base_url, KEY_ENV, name="openai"), cache=cache, ledger=ledger,
                     backoff_base_s=0.01, **kw)


def req(prompt: str, **kw) -> ChatRequest:
    kw.setdefault("max_tokens", 4)
    return ChatRequest.from_prompt(prompt, "gpt-test", **kw)


def test_cache_hit_sends_nothing_and_costs_nothing(server, tmp_path):
    cache, ledger = ResponseCache(tmp_path / "cache.sqlite"), CostLedger(prices=PRICES)
    c = client(server, cache, ledger, concurrency=4)
    prompts = [f"question number {i}" for i in range(12)]
    first = c.chat_many([req(p) for p in prompts])
    assert server.billable == server.requests == 12
    again = c.chat_many([req(p) for p in prompts])
    assert server.requests == 12  # not one more request
    assert [r.text for r in again] == [r.text for r in first] and all(r.cached for r in again)
    totals = ledger.totals()
    assert totals["calls"] == 12 and totals["cached_calls"] == 12
    # a different decoding parameter is a different request
    c.chat(req(prompts[0], temperature=0.5))
    assert server.requests == 13
    # a fresh process-like client over the same file still hits
    c2 = client(server, ResponseCache(tmp_path / "cache.sqlite"))
    assert c2.chat(req(prompts[3])).cached and server.requests == 13
    c.close(), c2.close()


def test_ledger_totals_are_exact_despite_retries(server):
    server.schedule = {"q1": ["429", "500"], "q2": ["truncated"]}
    ledger = CostLedger(prices=PRICES)
    c = client(server, ledger=ledger, concurrency=3)
    prompts = ["q1 alpha", "q2 beta gamma", "q3 delta epsilon zeta"]
    c.chat_many([req(p) for p in prompts])
    prompt_tokens = sum(len(p.split()) for p in prompts)            # the loopback server counts words
    completion_tokens = 2 * len(prompts)                             # "answer <hex>"
    totals = ledger.totals()
    assert (totals["calls"], totals["prompt_tokens"], totals["completion_tokens"]) == (3, prompt_tokens,
                                                                                        completion_tokens)
    assert totals["usd"] == pytest.approx(prompt_tokens * 0.001 + completion_tokens * 0.003, abs=1e-12)
    assert totals["by_model"]["gpt-test"]["usd"] == pytest.approx(totals["usd"], abs=1e-12)
    c.chat(req("q4 one more"))  # a later step's share of the same (run-wide) ledger
    step = ledger.totals_since(totals)
    assert (step["calls"], step["prompt_tokens"], step["completion_tokens"]) == (1, 3, 2)
    assert step["usd"] == pytest.approx(3 * 0.001 + 2 * 0.003) and list(step["by_model"]) == ["gpt-test"]
    c.close()


def test_budget_stops_before_exceeding_and_keeps_the_cache(server, tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    ledger = CostLedger(prices=PRICES, max_usd=0.05)
    c = client(server, cache, ledger, concurrency=4)
    prompts = [f"question number {i}" for i in range(20)]
    out = c.chat_many([req(p) for p in prompts], return_exceptions=True)
    done = [r for r in out if isinstance(r, ChatResponse)]
    refused = [r for r in out if isinstance(r, BudgetExceeded)]
    assert done and refused and len(done) + len(refused) == 20
    assert server.billable == len(done) == len(cache)
    assert ledger.totals()["usd"] <= 0.05
    assert "max_usd=0.0500" in str(refused[0])
    # sequentially: new calls go on while they fit (reservations of finished calls were released) ...
    with pytest.raises(BudgetExceeded):
        for i in range(100):
            before = server.requests
            c.chat(req(f"new question number {i}"))
    assert server.requests == before  # ... and the first that may not fit is refused before sending
    estimate = ledger.estimate("openai", req(f"new question number {i}"))  # the refused call's worst case
    assert 0.05 - estimate < ledger.totals()["usd"] <= 0.05
    answered = [p for p, r in zip(prompts, out) if isinstance(r, ChatResponse)]
    assert c.chat(req(answered[0])).cached and server.requests == before
    c.close()


def test_requests_queued_behind_the_limit_reserve_no_budget(server):
    ledger = CostLedger(prices=PRICES, max_usd=0.1)
    c = client(server, ledger=ledger, concurrency=1)
    requests = [req(f"question number {i}") for i in range(20)]
    out = c.chat_many(requests, return_exceptions=True)
    spent, fits = 0.0, 0  # one at a time: a call goes if spent + its estimate fits, and then costs 0.009 (3 + 2 tokens)
    for r in requests:
        if spent + ledger.estimate("openai", r) > 0.1:
            break
        spent, fits = spent + 0.009, fits + 1
    assert sum(isinstance(r, ChatResponse) for r in out) == fits == server.billable
    assert fits == 9 and ledger.totals()["usd"] == pytest.approx(0.081)


def test_estimates_and_price_table():
    assert lookup_price("gpt-4o-mini-2024-07-18", DEFAULT_PRICES) == DEFAULT_PRICES["gpt-4o-mini"]
    assert lookup_price("claude-3-5-sonnet-20241022", DEFAULT_PRICES) == DEFAULT_PRICES["claude-3-5-sonnet"]
    assert estimate_usd("gpt-4-1106-preview", calls=1000, prompt_tokens=1000, completion_tokens=1) == \
        pytest.approx(1000 * (1000 * 10 + 1 * 30) / 1e6)
    assert estimate_usd("my-model", 10, 100, 10, prices={"my-model": {"input_per_m": 1, "output_per_m": 2}}) == \
        pytest.approx(10 * (100 + 20) / 1e6)
    assert estimate_usd("whatever", 10, 100, 10, provider="llamacpp_server") == 0.0
    assert estimate_usd("unknown-model", 10, 100, 10) is None
    judge = LLMRoleConfig(provider="openai", model="gpt-4o-mini")
    usd = estimate_role_usd("judge", judge, calls=805, content_chars_per_call=3000)
    assert 805 * 1000 * 0.15 / 1e6 < usd < 805 * 2000 * 0.15 / 1e6 + 805 * 0.6 / 1e6
    assert estimate_role_usd("rater", LLMRoleConfig(provider="llamacpp_server"), 10_000, 2000) == 0.0


def _writer(path: str, worker: int, n: int) -> None:
    cache = ResponseCache(path, busy_timeout_s=60)
    for i in range(n):
        shared = i % 5 == 0  # both processes also write the same keys
        r = ChatRequest.from_prompt(f"shared {i}" if shared else f"w{worker} {i}", "m")
        cache.put("openai", r, ChatResponse(text=f"t{i}" if shared else f"w{worker} t{i}", model="m",
                                            prompt_tokens=i, completion_tokens=1))


def test_two_processes_write_one_cache_concurrently(tmp_path):
    path = str(tmp_path / "cache.sqlite")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 300)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    cache = ResponseCache(path)
    assert len(cache) == 2 * 240 + 60
    assert cache.get("openai", ChatRequest.from_prompt("w2 7", "m")).text == "w2 t7"


def _killed_run(base_url: str, path: str) -> None:
    c = LLMClient(OpenAIProvider(base_url, KEY_ENV, name="openai"), cache=ResponseCache(path))
    for i in range(20):
        c.chat(req(f"killed run {i}"))
        if i == 9:
            os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_run_keeps_every_answer_it_had(server, tmp_path):
    path = str(tmp_path / "cache.sqlite")
    p = mp.get_context("spawn").Process(target=_killed_run, args=(server.base_url, path))
    p.start()
    p.join(120)
    assert p.exitcode == -signal.SIGKILL and server.billable == 10
    c = client(server, ResponseCache(path))
    out = c.chat_many([req(f"killed run {i}") for i in range(20)])
    assert sum(r.cached for r in out) == 10 and server.billable == 20
    assert out[3].text == default_answer([{"role": "user", "content": "killed run 3"}])
    c.close()


def test_the_key_never_reaches_files_or_logs(server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    server.schedule = {"k1": ["429", "500", "garbage"]}
    cache, ledger = ResponseCache(tmp_path / "runs" / "llm_cache.sqlite"), CostLedger(prices=PRICES)
    c = client(server, cache, ledger, concurrency=2)
    c.chat_many([req(f"k{i}") for i in range(6)])
    c.chat_many([req(f"k{i}") for i in range(6)])
    ledger.export(tmp_path / "runs" / "cost.json")
    (tmp_path / "runs" / "totals.json").write_text(json.dumps({"totals": ledger.totals(), "client": repr(c)}))
    c.close(), cache.close()
    assert server.auth_failures == 0  # the key was sent, in headers
    assert files_containing(tmp_path, FAKE_KEY) == []
    assert FAKE_KEY not in caplog.text
    assert len(list((tmp_path / "runs").iterdir())) >= 3
