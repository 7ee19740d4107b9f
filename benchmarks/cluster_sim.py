"""The papers suite's DAG on a simulated cluster of 2 nodes x 8 GPUs: makespan against the ideal lower bounds.

    .venv/bin/python benchmarks/cluster_sim.py [--gpus-per-run 1,4,8] [--api-concurrency 8,64] [--real 3600]

The plan is the real one (`make_plan` of suites/papers-llama3-8b.yaml with `recipe.gpus_per_run` overridden; planning
needs no network) and it runs through the real `run_dag` (suites/engine/executors/dag.py) on a simulated Backend: a
discrete-event simulator of the nodes' GPUs and CPUs. Each submitted step takes the resources its kind declares
(`step_resources`, as the Ray backend asks for them), starts first-fit on the first node with enough free GPUs and
CPUs (a step never spans nodes), and otherwise waits in a queue; every queued step that fits starts as soon as
resources free up (no reservation for big steps, as Ray schedules). `wait` moves a virtual clock to the next
completion; nothing sleeps (`--real X` sleeps the simulated time divided by X instead).

Every step's duration comes from a stated model (the ASSUMPTIONS printed with the tables): training from the
FLOP arithmetic of `gpu_hours_estimate` (suites/engine/summary.py), generation and OpenLLM from a per-prompt cost on
one GPU, LLM steps from an API latency model over the run's one shared OpenAI endpoint, data steps small constants.
It measures the scheduling (how well the DAG packs onto the GPUs), not the speed of any step.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

NODES, GPUS_PER_NODE, CPUS_PER_NODE = 2, 8, 64

# --- the duration model -----------------------------------------------------------------------------------------
DP_EFFICIENCY = 0.9        # a train step on g > 1 GPUs of one node runs at g x 90% of one GPU's throughput
LIMA_ROWS = 1030           # GAIR/lima's train split (summary.dataset_rows falls back to the pool's size for it)
DECODE_STEP_S = 0.030      # one greedy decoding step of the 8B model on one GPU (bf16, a batch of <= 16, HF generate)
MT_BENCH = (80, 2)         # MT-Bench: questions x turns
ALPACA_EVAL_PROMPTS = 805
WILDBENCH_TASKS = 1024
# OpenLLM v1 (lm-eval, hf backend): forward passes and their mean few-shot context in tokens per task; each is
# 2 x params FLOPs a token at the training throughput (MMLU's one-token answers share one pass per question, lm-eval's
# logits reuse; the other tasks' choices are one pass each); GSM8K's 1,319 5-shot generations decode up to 256
# tokens at DECODE_STEP_S per step in batches of 16.
OPENLLM_LOGLIK = {"arc_challenge (25-shot)": (1172 * 4, 1000), "hellaswag (10-shot)": (10042 * 4, 800),
                  "mmlu (5-shot)": (14042, 600), "truthfulqa_mc2 (0-shot)": (817 * 8, 400),
                  "winogrande (5-shot)": (1267 * 2, 200), "gsm8k prompts (5-shot)": (1319, 900)}
GSM8K_GEN = (1319, 256, 16)
# API latency per call: time to first token + completion tokens / decoding speed of the model behind the role.
API_FIRST_TOKEN_S = 0.6
API_CALL = {  # (role, step kind) -> (completion tokens per call, tokens/s)
    ("rater", "build"): (20, 80.0),          # gpt-3.5-turbo, AlpaGasus's short "Score: x" rating
    ("teacher", "build"): (600, 30.0),       # gpt-4-turbo, a SkillMix turn (max_tokens 2048)
    ("judge", "aejudge"): (1, 30.0),         # gpt-4-1106-preview, logprob preference: one token
    ("judge", "noisefloor"): (1, 30.0),
    ("judge", "mtjudge"): (250, 30.0),       # a 1-10 grade with its explanation
    ("judge", "wbjudge"): (600, 30.0),       # checklist analysis + score / pairwise reward
    ("judge", "mtnoisefloor"): (250, 30.0),  # the judge-noise floors grade a sample again, as first graded
    ("judge", "wbnoisefloor"): (600, 30.0),
}
DATA_S = {"world": 60.0,    # load and hash the Alpaca-52k pool
          "build": 60.0,    # a builder without LLM calls (random, longest, lima), or the non-API part of one with
          "base": 600.0,    # download Meta-Llama-3-8B (16 GB) and write it once as safetensors
          "aedata": 30.0}   # the AlpacaEval eval set
CPU_STEP_S = 30.0          # any other CPU step (plus its API time)


@dataclass
class Cost:
    work: float            # seconds alone (an API step: with the whole endpoint to itself)
    gpus: int
    cpus: int
    api: float = 0.0       # of which call-seconds / concurrency through the shared endpoint


def step_costs(plan: Any, api_concurrency: int) -> dict[str, Cost]:
    """Each planned step's cost under the model above."""
    from sftbench.datasets_builders.registry import expected_calls, parse_params
    from sftbench.suites.engine.cost_estimate import pool_size
    from sftbench.suites.engine.step import step_resources
    from sftbench.suites.engine.summary import FILL, SUSTAINED_TFLOPS, dataset_rows, model_params
    from sftbench.suites.evaluations import registered
    suite = plan.suite
    params = model_params(plan)
    rows = {**dataset_rows(plan), **{d.name: LIMA_ROWS for d in suite.datasets if d.builder == "lima"}}
    specs = {d.name: d for d in suite.datasets}
    sections = [(p, suite.evaluation_section(p.name)) for p in registered()]
    gen = {"generate": (ALPACA_EVAL_PROMPTS, suite.generation.max_new_tokens, suite.generation.batch_size),
           "mtanswers": (MT_BENCH[0] * MT_BENCH[1], suite.evaluation_section("mt_bench").max_new_tokens,
                         suite.evaluation_section("mt_bench").batch_size),
           "wbanswers": (WILDBENCH_TASKS, suite.evaluation_section("wildbench").max_new_tokens,
                         suite.evaluation_section("wildbench").batch_size)}
    flops_per_s = SUSTAINED_TFLOPS * 1e12
    openllm = sum(n * ctx for n, ctx in OPENLLM_LOGLIK.values()) * 2 * params / flops_per_s \
        + GSM8K_GEN[0] * GSM8K_GEN[1] * DECODE_STEP_S / GSM8K_GEN[2]
    out = {}
    for step in plan.steps:
        kind = step.key.kind
        res = step_resources(step, gpus_available=True)
        gpus, cpus = int(res.get("num_gpus", 0)), int(res.get("num_cpus", 1))
        calls: dict[str, int] = {}
        if kind == "build":
            spec = specs[step.key.name]
            calls = dict(expected_calls(spec.builder, parse_params(spec.builder, spec.params), pool_size(suite)))
        for plugin, section in sections:
            if section is not None:
                for role, n in plugin.expected_calls(suite, section, step).items():
                    calls[role] = calls.get(role, 0) + n
        api = 0.0
        for role, n in calls.items():
            tokens, speed = API_CALL[(role, kind)]
            api += n * (API_FIRST_TOKEN_S + tokens / speed) / api_concurrency
        if kind == "train":
            recipe = suite.recipe_for(step.seed or 0)
            tokens = rows[step.key.name.rsplit("-s", 1)[0]] * recipe.max_length * FILL * recipe.epochs
            flops = (6 if recipe.finetune == "full" else 4) * params * tokens
            work = flops / flops_per_s / gpus / (DP_EFFICIENCY if gpus > 1 else 1.0)
        elif kind in gen:
            n, new_tokens, batch = gen[kind]
            work = n * new_tokens * DECODE_STEP_S / batch
        elif kind == "openllm":
            work = openllm
        else:
            work = DATA_S.get(kind, CPU_STEP_S if not api else 0.0) + api
        out[step.key.dirname] = Cost(work, gpus, cpus, api)
    return out


@dataclass
class Job:
    handle: int
    step: Any
    cost: Cost
    left: float            # API work at full endpoint rate still to do, or seconds left
    node: int = -1
    start: float = -1.0
    end: float = -1.0


class SimCluster:
    """A Backend for run_dag: `nodes` x (`gpus` GPUs, `cpus` CPUs) on a virtual clock. API steps running at once share
    the one endpoint equally (the engine shares an endpoint's concurrency across every process of a run), so each
    progresses at 1/n of its alone-speed while n run."""

    def __init__(self, costs: dict[str, Cost], nodes: int, gpus: int, cpus: int, real: float | None = None,
                 priority: dict[str, float] | None = None):
        self.costs, self.real, self.priority = costs, real, priority
        self.free = [[gpus, cpus] for _ in range(nodes)]
        self.size = (gpus, cpus)
        self.now = 0.0
        self.queue: list[Job] = []
        self.running: dict[int, Job] = {}
        self.finished: dict[int, Job] = {}
        self.jobs: list[Job] = []

    def submit(self, step: Any) -> int:
        cost = self.costs[step.key.dirname]
        if cost.gpus > self.size[0] or cost.cpus > self.size[1]:
            raise RuntimeError(f"{step.key.dirname} needs {cost.gpus} GPUs / {cost.cpus} CPUs: more than one node has")
        job = Job(len(self.jobs), step, cost, cost.work)
        self.jobs.append(job)
        self.queue.append(job)
        self._place()
        return job.handle

    def _place(self) -> None:
        """FIFO: every queued step that fits starts, in submission order (run_dag's order; Ray does the same).
        With `priority` (a what-if): the queue in descending priority, and a GPU step that does not fit holds the node
        nearest to fitting it, so lower-priority steps cannot start there meanwhile."""
        queue = list(self.queue) if self.priority is None else \
            sorted(self.queue, key=lambda j: -self.priority[j.step.key.dirname])  # type: ignore[index]
        held: set[int] = set()
        for job in queue:
            fits = [n for n, (g, c) in enumerate(self.free)
                    if n not in held and g >= job.cost.gpus and c >= job.cost.cpus]
            if fits:
                n = fits[0]
                self.free[n] = [self.free[n][0] - job.cost.gpus, self.free[n][1] - job.cost.cpus]
                job.node, job.start = n, self.now
                self.queue.remove(job)
                self.running[job.handle] = job
            elif self.priority is not None and job.cost.gpus:
                free = [n for n in range(len(self.free)) if n not in held]
                if free:
                    held.add(max(free, key=lambda n: self.free[n][0]))

    @staticmethod
    def _calling(job: Job) -> bool:
        """In its API part (a step's own, non-API seconds come first)."""
        return bool(job.cost.api) and job.left <= job.cost.api + 1e-9

    def _advance(self, limit: float | None) -> None:
        n_api = max(1, sum(1 for j in self.running.values() if self._calling(j)))
        rates = {h: 1.0 / n_api if self._calling(j) else 1.0 for h, j in self.running.items()}
        dt = min(self._until_change(j, rates[h]) for h, j in self.running.items())
        if limit is not None:
            dt = min(dt, limit)
        if self.real:
            time.sleep(dt / self.real)
        self.now += dt
        for h, job in list(self.running.items()):
            job.left -= rates[h] * dt
            if job.left <= 1e-9:
                job.end = self.now
                self.free[job.node][0] += job.cost.gpus
                self.free[job.node][1] += job.cost.cpus
                self.finished[h] = self.running.pop(h)
        self._place()

    @staticmethod
    def _until_change(job: Job, rate: float) -> float:
        """Seconds until the job ends or its rate changes (its own part done, its API part starts)."""
        own_left = job.left - job.cost.api if job.cost.api else 0.0
        return own_left if own_left > 1e-9 else job.left / rate

    def wait(self, handles: list[int], timeout: float) -> list[tuple[int, Any]]:
        from sftbench.suites.engine.executors.dag import Outcome
        if not any(h in self.finished for h in handles):
            if not self.running:
                if self.queue:
                    raise RuntimeError("deadlock: queued steps fit no node")
                return []
            while not self.finished and self.running:
                self._advance(timeout * self.real if self.real else None)
                if self.real:
                    break
        out = []
        for h in handles:
            job = self.finished.pop(h, None)
            if job is not None:
                out.append((h, Outcome(True, wall_s=job.end - job.start, where=f"node{job.node}")))
        return out

    def slots(self) -> int:
        return 1 << 30  # queued here, like Ray

    def where(self, handle: int) -> str:
        job = self.jobs[handle]
        return f"node{job.node}" if job.node >= 0 else "queued"

    def close(self) -> None:
        pass


def critical_path(plan: Any, dur: dict[str, float]) -> tuple[float, list[str]]:
    best: dict[str, tuple[float, list[str]]] = {}
    for s in plan.steps:
        prev = max((best[d] for d in s.deps.values() if d in best), key=lambda x: x[0], default=(0.0, []))
        best[s.key.dirname] = (prev[0] + dur[s.key.dirname], prev[1] + [s.key.dirname])
    return max(best.values(), key=lambda x: x[0])


def remaining_path(plan: Any, dur: dict[str, float]) -> dict[str, float]:
    """Each step's duration plus the longest chain of steps that need it (its bottom level)."""
    after: dict[str, list[str]] = {s.key.dirname: [] for s in plan.steps}
    for s in plan.steps:
        for d in s.deps.values():
            if d in after:
                after[d].append(s.key.dirname)
    level: dict[str, float] = {}
    for s in reversed(plan.steps):
        name = s.key.dirname
        level[name] = dur[name] + max((level[a] for a in after[name]), default=0.0)
    return level


def simulate(gpus_per_run: int, api_concurrency: int, real: float | None, policy: str = "fifo") -> dict[str, Any]:
    from sftbench.suites.engine.executors.dag import run_dag
    from sftbench.suites.engine.plan import make_plan
    from sftbench.suites.engine.schema import load_suite, resolve_suite_path
    suite = load_suite(resolve_suite_path("papers-llama3-8b"), {"recipe.gpus_per_run": gpus_per_run})
    with tempfile.TemporaryDirectory(prefix="sftbench-sim-") as tmp:
        plan = make_plan(suite, Path(tmp), progress=False, store=tmp)
        costs = step_costs(plan, api_concurrency)
        priority = remaining_path(plan, {k: c.work for k, c in costs.items()}) if policy == "priority" else None
        cluster = SimCluster(costs, NODES, GPUS_PER_NODE, CPUS_PER_NODE, real, priority)
        ran = run_dag(plan, cluster, say=lambda text: None)
    assert len(ran) == len(plan.steps)
    makespan = max(j.end for j in cluster.jobs)
    gpu_s = sum(c.work * c.gpus for c in costs.values())
    cp, chain = critical_path(plan, {k: c.work for k, c in costs.items()})
    api_s = sum(c.api for c in costs.values())
    trains = [j for j in cluster.jobs if j.step.key.kind == "train"]
    builds = [j for j in cluster.jobs if j.step.key.kind == "build"]
    return {"builds_done": max(j.end for j in builds), "plan": plan, "costs": costs, "makespan": makespan, "gpu_s": gpu_s, "cp": cp, "chain": chain,
            "api_s": api_s, "steps": len(plan.steps), "trains": trains,
            "train_span": (min(j.start for j in trains), max(j.end for j in trains))}


def hours(s: float) -> str:
    return f"{s / 3600:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus-per-run", default="1,4,8", help="recipe.gpus_per_run values, comma-separated")
    parser.add_argument("--api-concurrency", default="8,64",
                        help="concurrent calls of the run's one OpenAI endpoint (sftbench's default: 8)")
    parser.add_argument("--policy", default="fifo,priority",
                        help="queue policies: fifo (what run_dag and Ray do) and/or priority (a what-if: longest "
                             "remaining path first, and a waiting GPU step holds a node)")
    parser.add_argument("--real", type=float, help="sleep the simulated time divided by this (default: no sleeping)")
    args = parser.parse_args()
    rows, runs = [], []
    for policy in args.policy.split(","):
        for conc in (int(x) for x in args.api_concurrency.split(",")):
            for g in (int(x) for x in args.gpus_per_run.split(",")):
                r = simulate(g, conc, args.real, policy)
                runs.append((g, conc, r))
                rows.append(row(policy, g, conc, r))
    print(f"papers-llama3-8b on a simulated {NODES} nodes x {GPUS_PER_NODE} GPUs ({CPUS_PER_NODE} CPUs each), "
          "hours of simulated time:\n")
    print(tabulate(rows, headers=["queue", "gpus_per_run", "API conc.", "steps", "makespan h", "GPU-s / 16 h",
                                  "critical path h", "makespan / max(both)", "API bound h",
                                  "makespan / max(all 3)", "GPU busy", "last build done h",
                                  "train steps run h"], tablefmt="github"))
    print("\ncritical paths (step kind: hours alone):")
    for g, conc, r in runs[:len(runs) // len(args.policy.split(","))]:
        chain = " -> ".join(f"{d.split('-')[0]}{'-' + d.split('-')[1] if d.startswith('build') else ''} "
                            f"{r['costs'][d].work / 3600:.2f}" for d in r["chain"])
        print(f"  gpus_per_run {g}, API conc. {conc}: {chain}")
    print("\nstep costs by kind (one step; hours alone, GPUs):")
    for g, conc, r in runs[:len(runs) // len(args.policy.split(","))]:
        if g != int(args.gpus_per_run.split(",")[-1]):
            continue
        print()
        seen: dict[str, list] = {}
        for s in r["plan"].steps:
            c = r["costs"][s.key.dirname]
            name = s.key.kind + (f" {s.key.name}" if s.key.kind == "build" else "")
            seen.setdefault(name, [name, 0, hours(c.work), c.gpus, hours(c.api)])[1] += 1
        print(tabulate(list(seen.values()), headers=["kind", "steps", f"h alone (gpus_per_run {g}, API conc. {conc})",
                                                     "GPUs", "of which API h"], tablefmt="github"))
    print("\n" + ASSUMPTIONS)
    return 0


def row(policy: str, g: int, conc: int, r: dict[str, Any]) -> list:
    gpu_bound = r["gpu_s"] / (NODES * GPUS_PER_NODE)
    bound = max(gpu_bound, r["cp"])
    return [policy, g, conc, r["steps"], hours(r["makespan"]), hours(gpu_bound), hours(r["cp"]),
            f"{r['makespan'] / bound:.2f}", hours(r["api_s"]), f"{r['makespan'] / max(bound, r['api_s']):.2f}",
            f"{r['gpu_s'] / (NODES * GPUS_PER_NODE * r['makespan']):.0%}", hours(r["builds_done"]),
            f"{hours(r['train_span'][0])}-{hours(r['train_span'][1])}"]


ASSUMPTIONS = f"""assumptions:
- cluster: {NODES} nodes x {GPUS_PER_NODE} GPUs, {CPUS_PER_NODE} CPUs each; a step's resources are what its kind declares
  (suites/engine/step.py step_resources: train = gpus_per_run GPUs + 1 CPU; generate, mtanswers, wbanswers, openllm
  1 GPU + 1 CPU; everything else 1 CPU); first-fit over nodes. Queue "fifo": run_dag submits each step when its
  inputs are done (plan order among those ready) and every queued step that fits starts (backfill, no reservation:
  as Ray schedules). Queue "priority" (a what-if, not the engine): queued steps by longest remaining path first,
  and a GPU step that does not fit holds the node nearest to fitting it.
- train: 6 x params (8e9) x tokens FLOPs, tokens = rows x max_length 2048 x 50% fill x 15 epochs (the arithmetic of
  summary.gpu_hours_estimate) at 125 TFLOP/s per GPU; rows 1,000 per dataset, LIMA {LIMA_ROWS}; on g > 1 GPUs of one
  node at g x {DP_EFFICIENCY:.0%} (a full 8B fine-tune does not fit one 80 GB GPU without offloading: the
  gpus_per_run 1 row is a what-if).
- generation on one GPU: per prompt max_new_tokens x {DECODE_STEP_S * 1000:.0f} ms / batch size (every batch decodes to
  the limit): AlpacaEval {ALPACA_EVAL_PROMPTS} prompts (2048 tokens, batch 16), MT-Bench {MT_BENCH[0]} x {MT_BENCH[1]} turns (1024,
  batch 16), WildBench {WILDBENCH_TASKS} tasks (2048, batch 8).
- OpenLLM v1 on one GPU: {sum(n for n, _ in OPENLLM_LOGLIK.values()):,} forward passes (ARC 25-shot x 4 choices, HellaSwag 10 x 4,
  MMLU 5 x 1 (one-token answers share a pass), TruthfulQA mc2 0 x ~8, Winogrande 5 x 2, GSM8K prompts) of 200-1,000
  context tokens, {sum(n * c for n, c in OPENLLM_LOGLIK.values()) / 1e6:.0f}M tokens at 2 x params FLOPs a token and 125 TFLOP/s, plus 1,319 GSM8K
  generations of 256 tokens in batches of 16.
- LLM steps (CPU only): calls from the engine's own expected_calls (builders and evaluation plugins); a call takes
  {API_FIRST_TOKEN_S} s + completion tokens / speed (rater 20 tokens at 80/s; teacher 600 at 30/s; AlpacaEval judge 1 token;
  MT-Bench judge 250 and WildBench judge 600 at 30/s); teacher, rater and judge are one OpenAI endpoint whose
  concurrency every process of the run shares (judges/llm/factory.py, judges/llm/shared.py), so LLM steps running
  at once split it equally; "API bound" = all call-seconds / concurrency.
- data steps: world {DATA_S['world']:.0f} s, build {DATA_S['build']:.0f} s (+ its API time), base model {DATA_S['base']:.0f} s (16 GB download
  and write), aedata {DATA_S['aedata']:.0f} s; no retries, no failures, no start-up or scheduling latency; the store is shared.
- lower bounds: GPU-s / 16 (all GPU work on all GPUs), the critical path (the longest dependency chain of steps
  alone, API steps with the whole endpoint), and the API bound."""


if __name__ == "__main__":
    sys.exit(main())
