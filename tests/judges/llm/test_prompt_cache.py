"""Issue #19: prompt caching — Anthropic's cache_control on the stable prefix, cached-token usage fields of both
providers read and priced (OpenAI cached input 50%, Anthropic reads 10% / writes 125%), savings in the ledger."""

from __future__ import annotations

import json

import pytest
from sftbench.judges.llm import (
    AnthropicProvider,
    ChatRequest,
    ChatResponse,
    CostLedger,
    LLMClient,
    LLMRoleConfig,
    OpenAIProvider,
    ResponseCache,
    estimate_usd,
    make_llm_role,
)
from sftbench.judges.llm.ledger import DEFAULT_PRICES, PRICES_AS_OF, ModelPrice, as_price, lookup_price

from tests.judges.llm.conftest import KEY_ENV

SYSTEM = "You are a careful and impartial judge of answers. " * 20  # 180 words: 180 loopback tokens
SYSTEM_TOKENS = len(SYSTEM.split())


def ask(c: LLMClient, model: str, prompt: str) -> ChatResponse:
    return c.chat(ChatRequest.from_prompt(prompt, model, system=SYSTEM, max_tokens=8))


def test_openai_cached_tokens_are_read_and_priced_at_half(server):
    server.prompt_cache = True
    ledger = CostLedger()
    c = LLMClient(OpenAIProvider(server.base_url, KEY_ENV, name="openai"), ledger=ledger)
    first, second = ask(c, "gpt-4o-mini", "question one"), ask(c, "gpt-4o-mini", "question two")
    assert first.cached_prompt_tokens == 0 and second.cached_prompt_tokens == SYSTEM_TOKENS
    assert first.prompt_tokens == second.prompt_tokens == SYSTEM_TOKENS + 2  # cached tokens are part of the prompt
    price = DEFAULT_PRICES["gpt-4o-mini"]
    assert price.cached_input_per_m == price.input_per_m / 2
    full = (first.prompt_tokens * 0.15 + first.completion_tokens * 0.60) / 1e6
    cached = ((2 * 0.15 + SYSTEM_TOKENS * 0.075) + second.completion_tokens * 0.60) / 1e6
    totals = ledger.totals()
    assert totals["usd"] == pytest.approx(full + cached, rel=1e-9)
    assert totals["cached_prompt_tokens"] == SYSTEM_TOKENS and totals["cache_write_tokens"] == 0
    assert totals["usd_saved_prompt_cache"] == pytest.approx(SYSTEM_TOKENS * 0.075 / 1e6, rel=1e-9)
    assert totals["by_model"]["gpt-4o-mini"]["cached_prompt_tokens"] == SYSTEM_TOKENS
    c.close()


def test_anthropic_marks_the_stable_prefix_and_prices_reads_and_writes(server):
    server.prompt_cache = True
    bodies = []
    server.responder = lambda messages, body: (bodies.append(body), "fine")[1]
    ledger = CostLedger()
    c = LLMClient(AnthropicProvider(server.anthropic_url, KEY_ENV), ledger=ledger)
    model = "claude-3-5-sonnet-20241022"
    first, second = ask(c, model, "question one"), ask(c, model, "question two")
    assert bodies[0]["system"] == [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    assert (first.cache_write_tokens, first.cached_prompt_tokens) == (SYSTEM_TOKENS, 0)
    assert (second.cache_write_tokens, second.cached_prompt_tokens) == (0, SYSTEM_TOKENS)
    assert first.prompt_tokens == second.prompt_tokens == SYSTEM_TOKENS + 2  # input + cache read + cache write
    price = lookup_price(model, DEFAULT_PRICES)
    assert (price.input_per_m, price.cached_input_per_m, price.cache_write_per_m) == (3.0, 0.3, 3.75)
    usd_1 = (2 * 3.0 + SYSTEM_TOKENS * 3.75 + 1 * 15.0) / 1e6  # cache write: 125% of input
    usd_2 = (2 * 3.0 + SYSTEM_TOKENS * 0.30 + 1 * 15.0) / 1e6  # cache read: 10% of input
    totals = ledger.totals()
    assert totals["usd"] == pytest.approx(usd_1 + usd_2, rel=1e-9)
    list_usd = 2 * ((SYSTEM_TOKENS + 2) * 3.0 + 15.0) / 1e6
    assert totals["usd_saved_prompt_cache"] == pytest.approx(list_usd - usd_1 - usd_2, rel=1e-9)
    assert totals["usd_saved_prompt_cache"] > 0  # one write at 125% is paid back by one read at 10%
    c.close()


def test_prompt_cache_off_sends_a_plain_system_prompt(server):
    server.prompt_cache = True
    bodies = []
    server.responder = lambda messages, body: (bodies.append(body), "m")[1]
    cfg = LLMRoleConfig(provider="anthropic", model="claude-3-5-haiku", base_url=server.anthropic_url,
                        api_key_env=KEY_ENV, prompt_cache=False, judge_mode="text",
                        prompt_text="<|im_start|>system\nJudge well.<|im_end|>\n<|im_start|>user\n"
                                    "{instruction} {output_1} {output_2}<|im_end|>")
    judge = make_llm_role("judge", cfg)
    judge.prefer({"instruction": "q"}, "a", "b")
    assert bodies[0]["system"] == "Judge well."
    on = make_llm_role("judge", cfg.model_copy(update={"prompt_cache": True}))
    on.prefer({"instruction": "q2"}, "a", "b")
    assert len(bodies) == 2 and bodies[1]["system"][0]["cache_control"] == {"type": "ephemeral"}


def test_batch_and_prompt_cache_discounts_stack(server, tmp_path):
    server.prompt_cache = True
    ledger = CostLedger(prices={"claude-test": {"input_per_m": 1000.0, "output_per_m": 3000.0,
                                                "cached_input_per_m": 100.0, "cache_write_per_m": 1250.0}})
    c = LLMClient(AnthropicProvider(server.anthropic_url, KEY_ENV), cache=ResponseCache(tmp_path / "c.sqlite"),
                  ledger=ledger, batch=True, batch_dir=tmp_path / "b", batch_poll_s=0.05, batch_min_requests=1)
    out = c.chat_many([ChatRequest.from_prompt(f"q {i}", "claude-test", system=SYSTEM, max_tokens=4)
                       for i in range(10)])
    assert sum(r.cache_write_tokens for r in out) == SYSTEM_TOKENS
    assert sum(r.cached_prompt_tokens for r in out) == 9 * SYSTEM_TOKENS
    no_batch = (10 * 2 * 1000 + SYSTEM_TOKENS * 1250 + 9 * SYSTEM_TOKENS * 100 + 10 * 2 * 3000) / 1e6
    totals = ledger.totals()
    assert totals["usd"] == pytest.approx(no_batch / 2, rel=1e-9)
    assert totals["usd_saved_batch"] == pytest.approx(no_batch / 2, rel=1e-9)
    list_usd = (10 * (SYSTEM_TOKENS + 2) * 1000 + 10 * 2 * 3000) / 1e6
    assert totals["usd_saved_prompt_cache"] == pytest.approx(list_usd - no_batch, rel=1e-9)
    # the cache keeps the usage fields
    again = c.chat_many([ChatRequest.from_prompt(f"q {i}", "claude-test", system=SYSTEM, max_tokens=4)
                         for i in range(10)])
    assert all(r.cached for r in again) and [r.cached_prompt_tokens for r in again] == \
        [r.cached_prompt_tokens for r in out]
    c.close()


def test_price_table_fields_and_old_cache_entries():
    assert "2025" in PRICES_AS_OF and "openai.com" in PRICES_AS_OF
    assert all(p.batch_discount == 0.5 for p in DEFAULT_PRICES.values())
    assert as_price({"input_per_m": 2, "output_per_m": 4}) == ModelPrice(2.0, 4.0)
    assert as_price({"input_per_m": 2, "output_per_m": 4, "batch_discount": 0.25, "cached_input_per_m": None}) == \
        ModelPrice(2.0, 4.0, batch_discount=0.25)
    assert ModelPrice(2.0, 4.0).cost(1000, 100, cached_tokens=500, batch=True) == \
        pytest.approx((500 * 2 + 500 * 1 + 100 * 4) / 1e6 / 2)
    assert estimate_usd("gpt-4o", 10, 1000, 10, batch=True) == pytest.approx(estimate_usd("gpt-4o", 10, 1000, 10) / 2)
    old = json.dumps({"text": "t", "model": "m", "prompt_tokens": 3, "completion_tokens": 1, "top_logprobs": None,
                      "finish_reason": "stop", "raw": None})  # written before the usage fields existed
    r = ChatResponse.from_json(old)
    assert (r.cached_prompt_tokens, r.cache_write_tokens) == (0, 0)
