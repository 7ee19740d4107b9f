"""Batch mode and prompt caching of the LLM client layer (judges/llm): wall time on a loopback server, and the USD of
the paper suite's judge load at list prices.

    .venv/bin/python benchmarks/llm_batch.py [--n 2000] [--latency 0.05] [--concurrency 64] [--poll 0.25]

Part 1, wall time: N chat requests through the synchronous path (concurrency C) and through the batch path (the
loopback server's OpenAI Files + Batches API, answering C items at a time), the same latency per request on both.
The batch path adds an upload, polls and a download; a real provider adds its queue (minutes to 24 h), which the
loopback server does not simulate.

Part 2, cost: suites/papers-llama3-8b.yaml judges 805 AlpacaEval pairs for each of 15 checkpoints (5 datasets x 3
seeds) with weighted_alpaca_eval_gpt4_turbo (gpt-4-1106-preview, 1 output token). Prompts are the annotator's own
template filled with the 805 instructions, the gpt4_1106_preview baseline outputs and, as the checkpoints' answers,
the mean length of Llama-3-8B-Instruct-SkillMix's and Meta-Llama-3-8B-Instruct's outputs (../shared/data/alpaca_eval);
tokens are estimated as characters / 4. Prices: the ledger's table (judges/llm/ledger.py, PRICES_AS_OF). Caching
rows follow the providers' rules: OpenAI caches a prompt prefix of at least 1,024 tokens (in 128-token steps) seen
recently, on gpt-4o and newer only; Anthropic caches what a request marks (this client marks the system prompt),
at least 1,024 tokens (Sonnet). "cache as marked" is what one judge step gets (the shared prefix within a step is
the template's head); "warm across checkpoints" assumes every checkpoint's request for an instruction finds the
previous one's prefix in the cache (judge steps of all 15 checkpoints back to back), the best case.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sftbench.judges.llm import ChatRequest, ChatResponse, LLMClient, OpenAIProvider, ResponseCache  # noqa: E402
from sftbench.judges.llm.ledger import DEFAULT_PRICES, PRICES_AS_OF, lookup_price  # noqa: E402
from sftbench.judges.llm.loopback.server import LoopbackServer  # noqa: E402

KEY_ENV, KEY = "SFTBENCH_BENCH_KEY", "sk-loopback-bench"
SHARED = Path(os.environ.get("SFTBENCH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CHARS_PER_TOKEN = 4.0
PAIRS, CHECKPOINTS = 805, 15
OPENAI_MIN_PREFIX, OPENAI_STEP, ANTHROPIC_MIN_PREFIX = 1024, 128, 1024


# --- part 1: wall time ----------------------------------------------------------------------------------------
def run_path(server: LoopbackServer, n: int, concurrency: int, batch: bool, poll_s: float, tmp: Path) -> dict:
    server.reset_stats()
    tag = "batch" if batch else "sync"
    client = LLMClient(OpenAIProvider(server.base_url, KEY_ENV, name="openai"),
                       cache=ResponseCache(tmp / f"{tag}.sqlite"), concurrency=concurrency, timeout_s=60,
                       batch=batch, batch_dir=tmp / "batches", batch_poll_s=poll_s, batch_min_requests=1)
    requests = [ChatRequest.from_prompt(f"request {i}: judge this answer", "gpt-bench", max_tokens=8)
                for i in range(n)]
    t0, c0 = time.perf_counter(), time.process_time()
    out = client.chat_many(requests, return_exceptions=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    client.close()
    ok = sum(isinstance(r, ChatResponse) for r in out)
    return {"path": tag, "wall": wall, "cpu": cpu, "ok": ok, "http": server.requests,
            "batches": server.batches_created, "polls": server.batch_polls,
            "texts": [r.text for r in out if isinstance(r, ChatResponse)]}


# --- part 2: cost -----------------------------------------------------------------------------------------------
def tokens(chars: float) -> int:
    return round(chars / CHARS_PER_TOKEN)


def load(name: str) -> list[dict]:
    path = SHARED / "alpaca_eval" / "results" / name / "model_outputs.json.gz"
    with gzip.open(path, "rt") as f:
        return json.load(f)


def judge_load() -> list[dict]:
    """Per instruction: prompt tokens, and the tokens of the prefix a warm cache could share across checkpoints."""
    from sftbench.judges.alpaca_eval.annotator import is_switched
    template = (SHARED / "alpaca_eval" / "src" / "alpaca_eval" / "evaluators_configs" / "alpaca_eval_clf_gpt4_turbo"
                / "alpaca_eval_clf.txt").read_text()
    head, rest = template.split("{instruction}", 1)
    middle, tail = rest.split("{output_1}", 1)
    between, end = tail.split("{output_2}", 1)
    system_chars = len(template.split("<|im_end|>", 1)[0].replace("<|im_start|>system", "").strip())
    baseline = load("gpt4_1106_preview")
    others = [load("Llama-3-8B-Instruct-SkillMix"), load("Meta-Llama-3-8B-Instruct")]
    rows = []
    for k, base in enumerate(baseline):
        model_chars = statistics.mean(len(o[k]["output"]) for o in others)
        instruction = base["instruction"]
        total = len(head) + len(instruction) + len(middle) + len(base["output"]) + len(between) + model_chars + len(end)
        # alpaca_eval's order is a function of the instruction only: the same for every checkpoint
        shared = len(head) + len(instruction) + len(middle)
        if not is_switched(instruction, 0):  # baseline first: the prefix through the baseline output is shared
            shared += len(base["output"]) + len(between)
        rows.append({"prompt": tokens(total), "shared": tokens(shared), "head": tokens(len(head)),
                     "system": tokens(system_chars)})
    return rows


def openai_cached(prefix: int) -> int:
    return 0 if prefix < OPENAI_MIN_PREFIX else prefix // OPENAI_STEP * OPENAI_STEP


def costs(model: str, rows: list[dict], completion: int = 1) -> dict[str, float]:
    price = lookup_price(model, DEFAULT_PRICES)
    anthropic = model.startswith("claude")
    caches = price.cached_input_per_m < price.input_per_m  # this model has prompt caching at all
    out = {"sync": 0.0, "batch": 0.0, "batch + cache as marked": 0.0, "batch + cache warm across checkpoints": 0.0}
    for row in rows:
        p = row["prompt"]
        out["sync"] += CHECKPOINTS * price.cost(p, completion)
        out["batch"] += CHECKPOINTS * price.cost(p, completion, batch=True)
        # one judge step: within it, requests share only what the client marks (Anthropic: the system prompt) or
        # the template's head (OpenAI), both far below the providers' 1,024-token minimum for this template
        marked = row["system"] if anthropic else row["head"]
        marked_hit = 0 if not caches or marked < (ANTHROPIC_MIN_PREFIX if anthropic else OPENAI_MIN_PREFIX) else \
            (marked if anthropic else openai_cached(marked))
        write = marked_hit if anthropic else 0
        out["batch + cache as marked"] += (price.cost(p, completion, 0, write, batch=True)
                                           + (CHECKPOINTS - 1) * price.cost(p, completion, marked_hit, batch=True))
        # best case (OpenAI automatic caching; Anthropic would need the baseline block marked, which it is not)
        warm = openai_cached(row["shared"]) if caches and not anthropic else 0
        out["batch + cache warm across checkpoints"] += (price.cost(p, completion, batch=True)
                                                         + (CHECKPOINTS - 1) * price.cost(p, completion, warm,
                                                                                          batch=True))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="requests in the wall-time comparison")
    ap.add_argument("--latency", type=float, default=0.05, help="seconds per request on the loopback server")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--poll", type=float, default=0.25, help="batch poll interval (s)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ[KEY_ENV] = KEY

    print(f"## Wall time: {args.n} requests, {args.latency * 1000:.0f} ms each, concurrency {args.concurrency} "
          f"(loopback; batch polls every {args.poll} s)\n")
    print("| path | wall s | client CPU s | answered | chat HTTP requests | batches | polls |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp, \
            LoopbackServer(api_key=KEY, latency_s=args.latency, batch_concurrency=args.concurrency) as server:
        results = [run_path(server, args.n, args.concurrency, batch, args.poll, Path(tmp)) for batch in (False, True)]
    for r in results:
        print(f"| {r['path']} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['ok']} | {r['http']} | {r['batches']} | "
              f"{r['polls']} |")
    same = results[0]["texts"] == results[1]["texts"]
    print(f"\nbatch answers identical to sync answers: {same}; ideal (latency x n / concurrency): "
          f"{args.latency * args.n / args.concurrency:.2f} s\n")

    if not (SHARED / "alpaca_eval").is_dir():
        print(f"(no {SHARED / 'alpaca_eval'}: cost table skipped; set SFTBENCH_SHARED_DATA)")
        return
    rows = judge_load()
    mean_prompt = statistics.mean(r["prompt"] for r in rows)
    long_enough = sum(openai_cached(r["shared"]) > 0 for r in rows)
    print(f"## USD of the paper suite's judge load: {PAIRS} pairs x {CHECKPOINTS} checkpoints = "
          f"{PAIRS * CHECKPOINTS:,} calls, 1 output token\n")
    print(f"mean prompt {mean_prompt:.0f} tokens (chars / {CHARS_PER_TOKEN:.0f}); template head "
          f"{rows[0]['head']} tokens, system prompt {rows[0]['system']} tokens; instructions whose cross-checkpoint "
          f"shared prefix reaches OpenAI's 1,024-token minimum: {long_enough} of {PAIRS}\n")
    print(f"prices: {PRICES_AS_OF}\n")
    models = ["gpt-4-1106-preview", "gpt-4o", "gpt-4.1", "claude-3-5-sonnet"]
    table = {m: costs(m, rows) for m in models}
    scenarios = list(next(iter(table.values())))
    print("| judge model | " + " | ".join(scenarios) + " |")
    print("|---|" + "---:|" * len(scenarios))
    for m in models:
        note = " (the suite's judge)" if m == "gpt-4-1106-preview" else ""
        print(f"| {m}{note} | " + " | ".join(f"${table[m][s]:,.2f}" for s in scenarios) + " |")
    print("\ngpt-4-1106-preview has no prompt caching; claude-3-5-sonnet reads no logprobs (text-mode judge, "
          "priced here with the same 1 output token).")


if __name__ == "__main__":
    main()
