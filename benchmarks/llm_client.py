"""Benchmark of the LLM client layer (judges/llm) against a loopback OpenAI-compatible server.

    .venv/bin/python benchmarks/llm_client.py [--n 1000] [--latency 0.05] [--fault-rate 0.1]

Prints one table: N chat requests with simulated latency at several concurrency limits, the same with injected
429/500 faults, the all-cached re-run; then N pairwise annotations by our logprob judge and by alpaca_eval's own
PairwiseAnnotator (weighted_alpaca_eval_gpt4_turbo's settings and prompt, OpenAI client pointed at the same
server through a client-config file; its caches in a temp dir), and the ratio of their wall times.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sftbench.judges.llm import (ChatRequest, ChatResponse, LLMClient, LLMRoleConfig, OpenAIProvider,  # noqa: E402
                        ResponseCache, make_llm_role)
from sftbench.judges.llm.loopback.server import LoopbackServer  # noqa: E402

KEY_ENV, KEY = "SFTBENCH_BENCH_KEY", "sk-loopback-bench"


def judge_responder(messages, body):
    return {"text": "m", "top_logprobs": [("m", math.log(0.7)), ("M", math.log(0.3))]}


def run_chat(server: LoopbackServer, n: int, concurrency: int, cache_path: Path, tag: str) -> dict:
    server.reset_stats()
    client = LLMClient(OpenAIProvider(server.base_url, KEY_ENV, name="openai_compatible"),
                       cache=ResponseCache(cache_path), concurrency=concurrency, timeout_s=30, max_retries=8)
    requests = [ChatRequest.from_prompt(f"{tag} request {i}: say something", "gpt-bench", max_tokens=16)
                for i in range(n)]
    t0 = time.perf_counter()
    out = client.chat_many(requests, return_exceptions=True)
    wall = time.perf_counter() - t0
    client.close()
    ok = sum(isinstance(r, ChatResponse) for r in out)
    return {"wall": wall, "ok": ok, "sent": server.requests, "faults": sum(server.faults_served.values()),
            "in_flight": server.max_in_flight}


def pairs(n: int, tag: str = "") -> list[dict]:
    return [{"instruction": f"Task {tag}{i}: explain item {i} briefly.", "output_1": f"Short answer {i}.",
             "output_2": f"A longer and more detailed answer about item {i}."} for i in range(n)]


def run_our_judge(server: LoopbackServer, n: int, concurrency: int, cache_path: Path, prompt: Path,
                  tag: str = "") -> dict:
    server.reset_stats()
    cfg = LLMRoleConfig(provider="openai_compatible", model="gpt-4-1106-preview", base_url=server.base_url,
                        api_key_env=KEY_ENV, concurrency=concurrency, prompt_path=prompt, temperature=1.0)
    judge = make_llm_role("judge", cfg, ResponseCache(cache_path))
    ps = pairs(n, tag)
    t0 = time.perf_counter()
    prefs = judge.prefer_many([{"instruction": p["instruction"]} for p in ps], [p["output_1"] for p in ps],
                              [p["output_2"] for p in ps])
    wall = time.perf_counter() - t0
    judge.client.close()
    return {"wall": wall, "ok": sum(1 for p in prefs if 1 <= p <= 2), "sent": server.requests,
            "faults": sum(server.faults_served.values()), "in_flight": server.max_in_flight}


def alpaca_eval_annotator(server: LoopbackServer, workdir: Path, concurrency: int):
    import yaml
    import alpaca_eval
    from alpaca_eval.annotators import PairwiseAnnotator
    prompt = Path(alpaca_eval.__file__).parent / "evaluators_configs/alpaca_eval_clf_gpt4_turbo/alpaca_eval_clf.txt"
    workdir.mkdir(parents=True, exist_ok=True)
    clients = workdir / "client_configs.yaml"
    clients.write_text(yaml.safe_dump({"default": [{"api_key": KEY, "base_url": server.base_url}]}))
    cfg_dir = workdir / "configs" / f"loopback_weighted_c{concurrency}"
    cfg_dir.mkdir(parents=True, exist_ok=True)
    (cfg_dir / "configs.yaml").write_text(yaml.safe_dump({cfg_dir.name: {
        "prompt_template": str(prompt), "fn_completions": "openai_completions",
        "completions_kwargs": {"model_name": "gpt-4-1106-preview", "max_tokens": 1, "temperature": 1,
                               "logprobs": True, "top_logprobs": 5, "num_procs": concurrency,
                               "client_config_path": str(clients)},
        "fn_completion_parser": "logprob_parser",
        "completion_parser_kwargs": {"numerator_token": "m", "denominator_tokens": ["m", "M"],
                                     "is_binarize": False},
        "completion_key": "completions_all", "batch_size": 1}}))
    return lambda: PairwiseAnnotator(annotators_config=str(cfg_dir / "configs.yaml"), seed=0,
                                     caching_path=str(workdir / f"annotations_c{concurrency}.json"))


def run_alpaca_eval(server: LoopbackServer, make_annotator, n: int, tag: str = "") -> dict:
    server.reset_stats()
    annotator = make_annotator()
    logging.getLogger().setLevel(logging.ERROR)  # alpaca_eval logs every batch at INFO
    t0 = time.perf_counter()
    try:
        out = annotator.annotate_pairs(pairs(n, tag))
        ok = sum(1 for a in out if a.get("preference") is not None and 1 <= a["preference"] <= 2)
    except Exception as exc:  # noqa: BLE001 - report, don't hide
        print(f"  alpaca_eval failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        ok = 0
    wall = time.perf_counter() - t0
    return {"wall": wall, "ok": ok, "sent": server.requests, "faults": sum(server.faults_served.values()),
            "in_flight": server.max_in_flight}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="requests / pairs per scenario")
    ap.add_argument("--latency", type=float, default=0.05, help="simulated server latency in seconds")
    ap.add_argument("--fault-rate", type=float, default=0.10, help="share of requests answered 429 or 500")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--judge-concurrency", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--no-alpaca-eval", action="store_true")
    args = ap.parse_args()
    os.environ[KEY_ENV] = KEY
    os.environ.setdefault("TQDM_DISABLE", "1")
    logging.basicConfig(level=logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    rows: list[tuple] = []

    def add(scenario: str, client: str, conc: int, r: dict) -> None:
        rows.append((scenario, client, conc, r["ok"], r["sent"], r["faults"], r["in_flight"], r["wall"],
                     args.n / r["wall"]))
        print(f"  {scenario:<22} {client:<12} c={conc:<3} {r['wall']:8.2f} s", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="sftbench-llm-bench-") as tmp, \
            LoopbackServer(latency_s=args.latency, api_key=KEY, retry_after="0") as server:
        tmp = Path(tmp)
        for conc in args.concurrency:
            add("chat", "sftbench", conc, run_chat(server, args.n, conc, tmp / f"clean{conc}.sqlite", f"c{conc}"))
        server.fault_rate = args.fault_rate
        for conc in args.concurrency:
            add(f"chat, {args.fault_rate:.0%} 429/500", "sftbench", conc,
                run_chat(server, args.n, conc, tmp / f"faults{conc}.sqlite", f"f{conc}"))
        server.fault_rate = 0.0
        last = args.concurrency[-1]
        add("chat, all cached", "sftbench", last, run_chat(server, args.n, last, tmp / f"clean{last}.sqlite",
                                                           f"c{last}"))
        server.responder = judge_responder
        import alpaca_eval
        prompt = Path(alpaca_eval.__file__).parent / "evaluators_configs/alpaca_eval_clf_gpt4_turbo/alpaca_eval_clf.txt"
        ratios = []
        for conc in args.judge_concurrency:
            ours = run_our_judge(server, args.n, conc, tmp / f"judge{conc}.sqlite", prompt)
            add("pairwise judge", "sftbench", conc, ours)
            if not args.no_alpaca_eval:
                make = alpaca_eval_annotator(server, tmp / "alpaca_eval", conc)
                theirs = run_alpaca_eval(server, make, args.n)
                add("pairwise judge", "alpaca_eval", conc, theirs)
                ratios.append((conc, theirs["wall"] / ours["wall"]))
        server.fault_rate, conc = args.fault_rate, args.judge_concurrency[0]
        ours = run_our_judge(server, args.n, conc, tmp / "judge-faults.sqlite", prompt, tag="f")
        add(f"pairwise, {args.fault_rate:.0%} 429/500", "sftbench", conc, ours)
        if not args.no_alpaca_eval:
            theirs = run_alpaca_eval(server, alpaca_eval_annotator(server, tmp / "alpaca_eval_faults", conc), args.n,
                                     tag="f")
            add(f"pairwise, {args.fault_rate:.0%} 429/500", "alpaca_eval", conc, theirs)
            ratios.append((f"{conc}, {args.fault_rate:.0%} faults", theirs["wall"] / ours["wall"]))
        server.fault_rate, conc = 0.0, args.judge_concurrency[-1]
        ours = run_our_judge(server, args.n, conc, tmp / f"judge{conc}.sqlite", prompt)
        add("pairwise, all cached", "sftbench", conc, ours)
        if not args.no_alpaca_eval:
            theirs = run_alpaca_eval(server, make, args.n)
            add("pairwise, all cached", "alpaca_eval", conc, theirs)
            ratios.append((f"{conc}, cached", theirs["wall"] / ours["wall"]))

    header = ("scenario", "client", "conc", "ok", "HTTP reqs", "faults", "max in flight", "wall s", "items/s")
    print(f"\n{args.n} items per row; loopback server latency {args.latency * 1000:.0f} ms; "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {r[6]} | {r[7]:.2f} | {r[8]:.0f} |")
    for conc, ratio in ratios:
        print(f"\nalpaca_eval wall time / sftbench wall time at concurrency {conc}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
