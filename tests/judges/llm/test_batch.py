"""Issue #19: batch mode over the loopback server's OpenAI and Anthropic batch APIs — same answers and cache entries
as the synchronous path, re-attachment after a kill, expired and failed items retried, half price."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pytest
from pydantic import ValidationError
from sftbench.judges.llm import (
    AnthropicProvider,
    BudgetExceeded,
    ChatRequest,
    ChatResponse,
    ClientPool,
    CostLedger,
    LLMClient,
    LLMRoleConfig,
    OpenAIProvider,
    ResponseCache,
    estimate_role_usd,
    make_llm_role,
)
from sftbench.judges.llm.batch_wire import OpenAIBatchWire, chunks
from sftbench.judges.llm.chat import LLMAuthError
from sftbench.judges.llm.loopback.server import default_answer

from tests.judges.llm.conftest import FAKE_KEY, KEY_ENV, files_containing

PRICES = {"gpt-test": (1000.0, 3000.0), "claude-test": (1000.0, 3000.0)}


def provider(server, kind: str):
    if kind == "openai":
        return OpenAIProvider(server.base_url, KEY_ENV, name="openai")
    return AnthropicProvider(server.anthropic_url, KEY_ENV)


def model(kind: str) -> str:
    return "gpt-test" if kind == "openai" else "claude-test"


def client(server, kind: str, tmp_path: Path, batch: bool = True, cache: str = "cache.sqlite", **kw) -> LLMClient:
    kw.setdefault("backoff_base_s", 0.001)
    kw.setdefault("batch_poll_s", 0.05)
    kw.setdefault("batch_min_requests", 1)
    return LLMClient(provider(server, kind), cache=ResponseCache(tmp_path / cache), batch=batch,
                     batch_dir=tmp_path / "batches", **kw)


def req(kind: str, prompt: str, **kw) -> ChatRequest:
    kw.setdefault("max_tokens", 8)
    return ChatRequest.from_prompt(prompt, model(kind), system="You are a careful judge.", **kw)


def expected(prompt: str) -> str:
    return default_answer([{"role": "user", "content": prompt}])


def state(tmp_path: Path) -> list[dict]:
    files = list((tmp_path / "batches").glob("batches-*.json"))
    return [b for f in files for b in json.loads(f.read_text())["batches"]]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_batch_answers_equal_sync_answers_and_share_the_cache(server, tmp_path, kind):
    prompts = [f"question {i}" for i in range(40)]
    sync = client(server, kind, tmp_path, batch=False, cache="sync.sqlite")
    want = sync.chat_many([req(kind, p) for p in prompts])
    server.reset_stats()
    ledger = CostLedger(prices=PRICES)
    c = client(server, kind, tmp_path, ledger=ledger)
    got = c.chat_many([req(kind, p) for p in prompts])
    assert [r.text for r in got] == [r.text for r in want] == [expected(p) for p in prompts]
    assert [(r.prompt_tokens, r.completion_tokens, r.finish_reason) for r in got] == \
        [(r.prompt_tokens, r.completion_tokens, r.finish_reason) for r in want]
    assert server.requests == 0 and server.batches_created == 1 and server.batch_items == 40
    assert ledger.totals()["batch_calls"] == 40 and state(tmp_path) == []  # collected: nothing left to re-attach
    # the same cache keys as the synchronous path: a later synchronous run hits every answer
    later = client(server, kind, tmp_path, batch=False)
    again = later.chat_many([req(kind, p) for p in prompts])
    assert all(r.cached for r in again) and server.requests == 0 and [r.text for r in again] == [r.text for r in want]
    c.close(), sync.close(), later.close()


def judge_responder(messages, body):
    return {"text": "m", "top_logprobs": [("m", math.log(0.7)), ("M", math.log(0.3))]}


def test_a_logprob_judge_in_batch_mode_prefers_exactly_as_in_sync_mode(server, tmp_path):
    server.responder = judge_responder
    prompts = [{"instruction": f"task {i}"} for i in range(20)]
    outs_1, outs_2 = [f"a{i}" for i in range(20)], [f"b{i}" for i in range(20)]

    def role(batch: bool, cache: str):
        cfg = LLMRoleConfig(provider="openai_compatible", model="gpt-test", base_url=server.base_url,
                            api_key_env=KEY_ENV, batch=batch, batch_poll_s=0.05, batch_min_requests=1)
        pool = ClientPool(ResponseCache(tmp_path / cache), CostLedger(prices=PRICES))
        pool.set_batch_dir(tmp_path / "step-scratch" / "llm_batches")
        return make_llm_role("judge", cfg, pool.cache, pool.ledger, clients=pool), pool
    sync_judge, _ = role(False, "sync.sqlite")
    want = sync_judge.prefer_many(prompts, outs_1, outs_2)
    server.reset_stats()
    batch_judge, pool = role(True, "batch.sqlite")
    got = batch_judge.prefer_many(prompts, outs_1, outs_2)
    assert got == want and all(v == pytest.approx(2 - 0.7) for v in got)
    assert server.requests == 0 and server.batches_created == 1
    assert batch_judge.client.batch_dir == tmp_path / "step-scratch" / "llm_batches"
    summary = pool.retry_summary()
    (only,) = summary.values()
    assert only["batch"]["items_answered"] == 20 and only["retries"] == 0


def _killed_while_waiting(kind: str, base_url: str, anthropic_url: str, tmp: str) -> None:
    prov = OpenAIProvider(base_url, KEY_ENV, name="openai") if kind == "openai" \
        else AnthropicProvider(anthropic_url, KEY_ENV)
    c = LLMClient(prov, cache=ResponseCache(Path(tmp) / "cache.sqlite"), batch=True,
                  batch_dir=Path(tmp) / "batches", batch_poll_s=0.05, batch_min_requests=1)
    c.chat_many([req(kind, f"kill me {i}") for i in range(30)])  # waits (the server holds the batch) until killed


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_killed_process_reattaches_to_its_batch_and_never_submits_it_twice(server, tmp_path, kind):
    server.batch_hold = True
    p = mp.get_context("spawn").Process(target=_killed_while_waiting,
                                        args=(kind, server.base_url, server.anthropic_url, str(tmp_path)))
    p.start()
    deadline = time.monotonic() + 60
    while not (server.batch_polls and state(tmp_path) and state(tmp_path)[0]["id"]):  # waiting on a saved batch
        assert time.monotonic() < deadline and p.is_alive()
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.join(30)
    assert p.exitcode == -signal.SIGKILL
    (saved,) = state(tmp_path)
    assert len(saved["items"]) == 30 and server.batches_created == 1
    uploads = server.files_uploaded
    server.batch_hold = False
    ledger = CostLedger(prices=PRICES)
    c = client(server, kind, tmp_path, ledger=ledger)  # a new process's client over the same batch_dir
    out = c.chat_many([req(kind, f"kill me {i}") for i in range(30)])
    assert [r.text for r in out] == [expected(f"kill me {i}") for i in range(30)]
    assert server.batches_created == 1 and server.files_uploaded == uploads  # 0 new batch creations, 0 uploads
    assert server.requests == 0 and server.batch_items == 30
    assert c.retry_summary()["batch"]["batches_reattached"] == 1 and state(tmp_path) == []
    assert ledger.totals()["batch_calls"] == 30  # billed once, booked once (the killed process booked nothing)
    c.close()


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_expired_and_partially_failed_batches_complete_through_retries(server, tmp_path, kind):
    server.batch_faults = ["expire"]  # half the batch answered, the rest expired
    server.schedule = {"item 3": ["500"], "item 5": ["429"], "item 7": ["expired"]}  # failed items in that half
    ledger = CostLedger(prices=PRICES)
    c = client(server, kind, tmp_path, ledger=ledger)
    out = c.chat_many([req(kind, f"item {i}") for i in range(20)])
    assert [r.text for r in out] == [expected(f"item {i}") for i in range(20)]
    assert server.batches_created == 1 and server.requests == 13  # 10 expired + 3 failed: synchronously
    stats = c.retry_summary()["batch"]
    assert (stats["items_answered"], stats["items_failed"], stats["items_expired"], stats["items_sync"]) == \
        (7, 2, 11, 13)
    totals = ledger.totals()
    assert (totals["calls"], totals["batch_calls"]) == (20, 7)
    assert all(ChatResponse is type(r) for r in out)
    c.close()


def test_a_batch_that_fails_as_a_whole_is_answered_synchronously(server, tmp_path):
    server.batch_faults = ["fail"]
    c = client(server, "openai", tmp_path)
    out = c.chat_many([req("openai", f"item {i}") for i in range(12)])
    assert [r.text for r in out] == [expected(f"item {i}") for i in range(12)]
    assert server.batches_created == 1 and server.requests == 12 and state(tmp_path) == []
    log = (tmp_path / "batches").glob("*.log.jsonl")
    assert any("injected batch failure" in f.read_text() for f in log)
    c.close()


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_the_batch_price_is_half(server, tmp_path, kind):
    prompts = [f"price {i}" for i in range(10)]
    sync_ledger, batch_ledger = CostLedger(prices=PRICES), CostLedger(prices=PRICES)
    client(server, kind, tmp_path, batch=False, cache="s.sqlite", ledger=sync_ledger).chat_many(
        [req(kind, p) for p in prompts])
    client(server, kind, tmp_path, cache="b.sqlite", ledger=batch_ledger).chat_many([req(kind, p) for p in prompts])
    s, b = sync_ledger.totals(), batch_ledger.totals()
    assert (s["prompt_tokens"], s["completion_tokens"]) == (b["prompt_tokens"], b["completion_tokens"])
    assert b["usd"] == pytest.approx(s["usd"] / 2) and b["usd_saved_batch"] == pytest.approx(b["usd"])
    assert s["batch_calls"] == 0 and b["batch_calls"] == 10 and s["usd_saved_batch"] == 0


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_batch_that_would_cross_the_budget_is_not_submitted_at_all(server, tmp_path, kind):
    """All or nothing: a collection whose worst case passes max_usd sends no batch and spends nothing (not the
    part that fits); one that fits is submitted whole."""
    prompts = [f"budget {i}" for i in range(10)]
    one = CostLedger(prices=PRICES).estimate(provider(server, kind).name, req(kind, prompts[0]), batch=True)
    tight = CostLedger(prices=PRICES, max_usd=one * 5.5)  # room for five and a half of ten
    got = client(server, kind, tmp_path, cache="t.sqlite", ledger=tight).chat_many(
        [req(kind, p) for p in prompts], return_exceptions=True)
    assert all(isinstance(r, BudgetExceeded) for r in got), got
    assert server.batches_created == 0 and server.requests == 0 and tight.totals()["usd"] == 0
    assert tight._reserved == pytest.approx(0.0)  # every booking released

    roomy = CostLedger(prices=PRICES, max_usd=one * 10.5)
    got = client(server, kind, tmp_path, cache="r.sqlite", ledger=roomy).chat_many([req(kind, p) for p in prompts])
    assert [r.text for r in got] == [expected(p) for p in prompts]
    assert server.batches_created == 1 and server.batch_items == 10 and roomy.totals()["usd"] <= one * 10.5


def test_batches_are_split_within_the_providers_limits(server, tmp_path, monkeypatch):
    assert chunks([b"x" * 10] * 7, max_requests=3, max_bytes=10**6) == [(0, 3), (3, 6), (6, 7)]
    assert chunks([b"x" * 100] * 5, max_requests=100, max_bytes=300) == [(0, 2), (2, 4), (4, 5)]  # 2 x 101 + 64
    assert OpenAIBatchWire.max_requests == 50_000 and OpenAIBatchWire.max_bytes == 200 * 2**20
    monkeypatch.setattr(OpenAIBatchWire, "max_requests", 10)
    c = client(server, "openai", tmp_path)
    out = c.chat_many([req("openai", f"split {i}") for i in range(25)])
    assert [r.text for r in out] == [expected(f"split {i}") for i in range(25)]
    assert server.batches_created == 3 and server.files_uploaded == 3 and server.requests == 0
    c.close()


def test_small_collections_go_synchronously(server, tmp_path):
    c = client(server, "openai", tmp_path, batch_min_requests=16)
    out = c.chat_many([req("openai", f"few {i}") for i in range(5)])
    assert [r.text for r in out] == [expected(f"few {i}") for i in range(5)]
    assert server.batches_created == 0 and server.requests == 5
    c.close()


def test_parse_reasks_follow_in_a_second_batch(server, tmp_path):
    def responder(messages, body):
        text = messages[-1]["content"]
        return "Score: 4\nfine" if "GOOD" in text or "(Attempt 2" in text else "no idea"
    server.responder = responder
    cfg = LLMRoleConfig(provider="openai_compatible", model="gpt-test", base_url=server.base_url, api_key_env=KEY_ENV,
                        batch=True, batch_poll_s=0.05, batch_min_requests=2)
    rater = make_llm_role("rater", cfg, ResponseCache(tmp_path / "c.sqlite"), CostLedger(prices=PRICES))
    rater.client.batch_dir = tmp_path / "batches"
    rows = [{"instruction": f"{'GOOD' if i % 2 else 'MEH'} {i}", "input": "", "output": "x"} for i in range(10)]
    assert rater.rate_many(rows) == [4.0] * 10
    assert server.batches_created == 2 and server.requests == 0  # first asks, then the 5 re-asks


def test_a_refused_key_stops_batch_mode_too(server, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-wrong-batch-key")
    c = client(server, "openai", tmp_path)
    out = c.chat_many([req("openai", f"k {i}") for i in range(20)], return_exceptions=True)
    assert all(isinstance(r, LLMAuthError) for r in out) and KEY_ENV in str(out[0])
    assert server.auth_failures == 1 and server.files_uploaded == 0 and state(tmp_path) == []
    assert "sk-wrong-batch-key" not in str(out[0])
    c.close()


def test_no_key_in_batch_files(server, tmp_path):
    c = client(server, "anthropic", tmp_path)
    c.chat_many([req("anthropic", f"secret {i}") for i in range(5)])
    c.close()
    assert files_containing(tmp_path, FAKE_KEY) == []


def test_batch_config_fields_and_validation():
    cfg = LLMRoleConfig(provider="openai", model="gpt-4o-mini", batch=True)
    assert cfg.batch and cfg.batch_poll_s == 30 and cfg.batch_min_requests == 16 and cfg.breaker_failures == 5
    sync = cfg.model_copy(update={"batch": False})
    assert estimate_role_usd("judge", cfg, 805, 3000) == pytest.approx(estimate_role_usd("judge", sync, 805, 3000) / 2)
    with pytest.raises(ValidationError, match="no batch API"):
        LLMRoleConfig(provider="llamacpp_server", batch=True)
