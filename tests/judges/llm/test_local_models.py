"""Real local models, offline: SmolLM2-135M-Instruct in-process (transformers + gguf) and behind a managed
llama.cpp server (llama-cpp-python[server]), including a logprob-based pairwise judgment."""

from __future__ import annotations

import importlib.util
import math

import pytest
from sftbench.judges.llm import (
    ChatRequest,
    ClientPool,
    LLMRoleConfig,
    ResponseCache,
    make_llm_role,
    managed_endpoints,
    smollm2_gguf_path,
)
from sftbench.judges.protocols import PairwiseJudge

QUESTION = {"instruction": "What is the capital of France?"}
GOOD, BAD = "The capital of France is Paris.", "Bananas are yellow."


def _server_deps_missing() -> list[str]:
    return [m for m in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
            if importlib.util.find_spec(m) is None]


@pytest.mark.slow
def test_in_process_smollm2_answers_offline_with_first_token_logprobs(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = LLMRoleConfig(provider="local", threads=1).resolved("rater")
    pool = ClientPool(ResponseCache(tmp_path / "cache.sqlite"))
    client = pool.get(cfg)
    req = ChatRequest.from_prompt("What is the capital of France? Answer in one word.", cfg.model, max_tokens=8,
                                  logprobs=True, top_logprobs=5)
    r = client.chat(req)
    assert "paris" in r.text.lower()
    assert r.model == smollm2_gguf_path().name and r.completion_tokens <= 8 and r.prompt_tokens > 10
    first = r.top_logprobs[0]
    assert len(first) == 5 and all(lp <= 0 for _, lp in first) and first[0][1] >= first[-1][1]
    assert sum(math.exp(lp) for _, lp in first) <= 1.0 + 1e-5
    assert client.chat(req).cached  # the second time from the cache, no generation
    judge = make_llm_role("judge", LLMRoleConfig(provider="local", top_logprobs=20), pool.cache, clients=pool)
    assert judge.client is client  # the same loaded model
    pref = judge.prefer(QUESTION, GOOD, BAD)
    assert 1.0 <= pref <= 2.0, judge.failures


@pytest.mark.slow
@pytest.mark.skipif(bool(_server_deps_missing()),
                    reason=f"llama.cpp server deps missing ({', '.join(_server_deps_missing())}): "
                           "pip install 'llama-cpp-python[server]'")
def test_managed_llamacpp_server_end_to_end(tmp_path):
    cfg = LLMRoleConfig(provider="llamacpp_server", top_logprobs=20, threads=2)
    with managed_endpoints({"judge": cfg, "teacher": cfg}, log_dir=tmp_path / "logs") as cfgs:
        assert cfgs["judge"].base_url == cfgs["teacher"].base_url  # one server for both roles
        assert cfgs["judge"].base_url.startswith("http://127.0.0.1:")
        pool = ClientPool(ResponseCache(tmp_path / "cache.sqlite"))
        client = pool.get(cfgs["judge"].resolved("judge"))
        r = client.chat(ChatRequest.from_prompt("Reply with one word: the capital of France?", cfgs["judge"].model,
                                                max_tokens=6, logprobs=True, top_logprobs=5))
        assert r.text.strip() and r.completion_tokens >= 1 and r.model == "SmolLM2-135M-Instruct.Q4_1"
        assert len(r.top_logprobs[0]) == 5
        judge = make_llm_role("judge", cfgs["judge"], pool.cache, None, clients=pool)
        assert isinstance(judge, PairwiseJudge)
        prefs = judge.prefer_many([QUESTION, QUESTION], [GOOD, BAD], [BAD, GOOD])
        assert all(1.0 <= p <= 2.0 for p in prefs), judge.failures
        assert judge.fingerprint["model"] == "SmolLM2-135M-Instruct.Q4_1"
        pool.close()
    log_files = list((tmp_path / "logs").iterdir())
    assert log_files
    import urllib.request
    with pytest.raises(OSError):  # stopped: the port no longer answers
        urllib.request.urlopen(f"{cfgs['judge'].base_url}/models", timeout=2)
