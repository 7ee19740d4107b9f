"""An AlpacaEval run of a tiny model judged by SmolLM2-135M-Instruct behind the managed llama.cpp server, offline,
with the logprob-weighted annotator (weighted_alpaca_eval_gpt4_turbo's prompt, order and parser): WR and LC with CIs.

The LC GLM needs a df_gamed covering the prompts judged. Two ways were possible: have SmolLM2 judge a verbose and
a concise variant of the baseline on the same 8 prompts and `build_df_gamed` them (16 more judge calls; the
loopback test in test_alpaca_eval.py covers that path), or slice the AlpacaEval df_gamed to the 8 prompts. This
test slices the derived rebuild (../shared/data/alpaca_eval/derived/df_gamed.csv) with `slice_df_gamed`: each of
the 8 instructions keeps its difficulty and its two gamed-baseline rows, renumbered 0..7 in the order of the
eval subset. That is what alpaca_eval itself does for every annotator config (its GLM always reads the one
df_gamed.csv built from GPT-4 Turbo judgments, whatever the judge), and it keeps the test at 8 judge calls, which
matters on 2 shared CPU cores (a ~400-token judge prompt takes 2-20 s there, depending on load).
"""

from __future__ import annotations

import importlib.util
import os

import pytest
from sftbench.judges.alpaca_eval import (
    AlpacaEvalAnnotator,
    load_eval_set,
    run_alpaca_eval,
    slice_df_gamed,
)
from sftbench.judges.alpaca_eval.data import EvalSet
from sftbench.judges.alpaca_eval.metrics import annotation_arrays
from sftbench.judges.llm import (
    ClientPool,
    LLMRoleConfig,
    ResponseCache,
    managed_endpoints,
)
from sftbench.leaderboard.lc_refit import bootstrap_cis

from tests.conftest import shared_data

N_PROMPTS = 8
PROMPTS = [0, 3, 10, 42, 100, 250, 500, 700]  # spread over the eval set's source datasets


def _server_deps_missing() -> list[str]:
    return [m for m in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
            if importlib.util.find_spec(m) is None]


def tiny_model(instruction: str) -> str:
    """The 'tiny model under test': a short, generic answer."""
    return f"Here is a short answer to your request: {instruction[:60].rstrip()}... I hope this helps."


@pytest.mark.slow
@pytest.mark.skipif(bool(_server_deps_missing()), reason="llama.cpp server deps missing: "
                                                         "pip install 'llama-cpp-python[server]'")
def test_alpaca_eval_run_judged_by_smollm2_through_llamacpp(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    full = load_eval_set(shared_data("alpaca_eval/results/gpt4_1106_preview/model_outputs.json.gz"))
    # baseline answers cut to 200 characters: keeps the judge's prompts short on 2 CPU cores
    subset = full.subset(PROMPTS[:N_PROMPTS])
    eval_set = EvalSet([{**r, "output": r["output"][:200]} for r in subset.rows],
                       {**subset.provenance, "baseline_truncated_chars": 200})
    df_gamed = slice_df_gamed(shared_data("alpaca_eval/derived/df_gamed.csv"), PROMPTS[:N_PROMPTS],
                              tmp_path / "df_gamed.csv")
    threads = int(os.environ.get("SFTBENCH_TEST_THREADS", "1"))  # 1 beats 2 on a loaded 2-core machine
    cfg = LLMRoleConfig(provider="llamacpp_server", threads=threads, ctx_size=1024, parse_retries=0)
    with managed_endpoints({"judge": cfg}, log_dir=tmp_path / "logs") as cfgs:
        pool = ClientPool(ResponseCache(tmp_path / "llm_cache.sqlite"))
        judge_cfg = cfgs["judge"]
        annotator = AlpacaEvalAnnotator.from_role_config(judge_cfg, pool.get(judge_cfg.resolved("judge")))
        outputs = [tiny_model(i) for i in eval_set.instructions]
        result = run_alpaca_eval(eval_set, outputs, annotator, "tiny-model", df_gamed)
        pool.close()
    ann, m = result.annotations, result.metrics
    m.update(bootstrap_cis(*annotation_arrays(ann), df_gamed, 20))
    print(f"\nSmolLM2 judge, {N_PROMPTS} prompts: WR {m['win_rate']:.2f} CI {m['win_rate_ci']}, "
          f"LC {m['lc_win_rate']:.2f} CI {m['lc_win_rate_ci']}, failed {m['n_failed']}, "
          f"preferences {[round(a['preference'], 3) for a in ann]}")
    assert len(ann) == N_PROMPTS and all(1.0 <= a["preference"] <= 2.0 for a in ann)
    assert m["n"] == N_PROMPTS and 0 <= m["n_failed"] <= N_PROMPTS
    assert 0 <= m["win_rate"] <= 100 and 0 <= m["lc_win_rate"] <= 100
    for key in ("win_rate_ci", "lc_win_rate_ci"):
        lo, hi = m[key]
        assert 0 <= lo <= hi <= 100, (key, m[key])
    fp = m["judge_fingerprint"]
    assert fp["model"] == "SmolLM2-135M-Instruct.Q4_1" and fp["provider"] == "llamacpp_server"
    assert fp["annotator"] == "weighted_alpaca_eval_gpt4_turbo" and fp["decoding"]["max_tokens"] == 1
    parsed = [a for a in ann if not a["failed"]]
    assert all(a["raw_completion"]["logprobs"]["content"][0]["top_logprobs"] for a in parsed)
