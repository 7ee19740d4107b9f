"""The quickstart sequentially and with `--jobs N` (default 2), side by side in one run: wall time of each from a fresh
store (nothing cached), their ratio (aim on a 2-core machine: >= 1.6x; the quickstart's goal: < 120 s), then the
all-cached re-run of each. Repeats alternate the order (sequential first, then parallel first, ...).

    .venv/bin/python benchmarks/parallel.py [--repeats 1] [--jobs 2] [--suite quickstart] [--threads N] [--max-load L]

Other people's processes may load a shared machine: the load average (`uptime`) is printed before every run, and a
ratio measured under a changing load is only as good as that load was even. Besides the wall times it prints where the
time went, from each step's "done (X s)" line (timestamped as it arrives) and its manifest's `wall_time_s`: the time
before the first step starts and after the last one ends (planning, worker start-up, leaderboard), how many steps
ran at once, what each step kind cost in each mode, and the plan's own bound for N slots (its critical path and
its total step time / N, from the sequential run's step times).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from tabulate import tabulate

DONE = re.compile(r"^\[\s*(\d+)/(\d+)\] .* done \(([\d.]+)s(?: on (.+))?\)\s*$")
CACHED = re.compile(r"^\[\s*(\d+)/(\d+)\] .* cached\s*$")


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def sftbench_run(suite: str, runs: Path, store: Path, jobs: int, threads: int | None) -> dict:
    """One `sftbench run --quiet`; each step's done line is timestamped (seconds since the command started)."""
    cmd = [sys.executable, "-m", "sftbench.suites.engine.cli", "run", suite, "--runs-dir", str(runs), "--store",
           str(store), "--quiet"] + (["--jobs", str(jobs)] if jobs > 1 else []) + \
          (["--threads", str(threads)] if threads else [])
    load = os.getloadavg()[0]
    load_line = uptime()
    steps: dict[int, dict] = {}
    cached = 0
    tail: list[str] = []
    with tempfile.TemporaryFile("w+") as out:
        start = time.time()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert proc.stderr is not None
        for line in proc.stderr:
            now = time.time() - start
            tail = (tail + [line])[-40:]
            if m := DONE.match(line.strip()):
                wall = float(m.group(3))
                steps[int(m.group(1)) - 1] = {"end": now, "start": now - wall, "wall": wall, "where": m.group(4) or ""}
            elif CACHED.match(line.strip()):
                cached += 1
        proc.wait()
        wall = time.time() - start
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{''.join(tail[-5:])}")
    return {"jobs": jobs, "wall": wall, "load": load, "uptime": load_line, "steps": steps, "cached": cached}


def settle(max_load: float | None, max_wait: float) -> None:
    """Wait (up to `max_wait` s) until the 1-minute load average is below `max_load`: other people's jobs come and go."""
    if max_load is None:
        return
    deadline = time.time() + max_wait
    while os.getloadavg()[0] >= max_load and time.time() < deadline:
        time.sleep(10)


def fresh_and_cached(args: argparse.Namespace, jobs: int) -> tuple[dict, dict]:
    """A fresh run in a new store, then the all-cached re-run; a failed run is tried once more in a new store (the
    working tree may be under someone's edit)."""
    for attempt in (1, 2):
        settle(args.max_load, args.max_wait)
        with tempfile.TemporaryDirectory(prefix="sftbench-parallel-") as tmp:
            runs_dir, store = Path(tmp) / "runs", Path(tmp) / "store"
            try:
                fresh = sftbench_run(args.suite, runs_dir, store, jobs, args.threads)
                fresh["manifest"] = manifests(store)
                fresh["index"] = json.loads(next(runs_dir.glob("*/steps.json")).read_text())["steps"]
                again = sftbench_run(args.suite, runs_dir, store, jobs, args.threads)
                return fresh, again
            except RuntimeError as exc:
                print(f"  attempt {attempt} failed: {exc}", flush=True)
    sys.exit("two failed attempts")


def manifests(store: Path) -> dict[str, float]:
    """Step directory -> the manifest's wall_time_s (the body's time inside the store's writer)."""
    out = {}
    for path in store.glob("*/manifest.json"):
        out[path.parent.name] = json.loads(path.read_text()).get("wall_time_s", 0.0)
    return out


def critical_path(plan_steps: list, dur: dict[str, float]) -> tuple[float, list[str]]:
    """Longest dependency chain of `dur` over the plan (steps come in dependency order)."""
    best: dict[str, tuple[float, list[str]]] = {}
    for s in plan_steps:
        name = s.key.dirname
        prev = max((best[d] for d in s.deps.values() if d in best), key=lambda x: x[0], default=(0.0, []))
        best[name] = (prev[0] + dur.get(name, 0.0), prev[1] + [name])
    return max(best.values(), key=lambda x: x[0])


def concurrency(steps: list[dict]) -> dict[int, float]:
    """Seconds during which k steps were running, from the first step's start to the last one's end."""
    events = sorted([(s["start"], 1) for s in steps] + [(s["end"], -1) for s in steps])
    out: dict[int, float] = defaultdict(float)
    level, last = 0, events[0][0]
    for t, delta in events:
        out[level] += t - last
        level, last = level + delta, t
    return dict(out)


STARTUP = {
    "interpreter + the worker module": "import sftbench.suites.engine.executors.worker",
    "+ every step kind registered": "import sftbench.suites.engine.executors.worker, sftbench.suites.data.steps, "
                                    "sftbench.suites.models.steps; from sftbench.suites.evaluations import registered; "
                                    "registered()",
    "+ torch, transformers, trl": "import sftbench.suites.engine.executors.worker, torch, transformers, trl",
}


def startup_costs() -> list[list]:
    """What a fresh worker process pays before its first step's work (a spawned pool worker imports these)."""
    rows = []
    for what, code in STARTUP.items():
        start = time.time()
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        rows.append([what, f"{time.time() - start:.1f}", f"{os.getloadavg()[0]:.2f}"])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="quickstart")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch threads per step (default: the suite's)")
    parser.add_argument("--max-load", type=float,
                        help="before each fresh run, wait until the 1-minute load average is below this (default: "
                             "don't wait); the load is printed either way")
    parser.add_argument("--max-wait", type=float, default=600, help="seconds to wait for --max-load at most")
    parser.add_argument("--timeline", action="store_true",
                        help="also print every step's start and end in the first repeat's two runs")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    args = parser.parse_args()
    from sftbench.suites.engine.plan import make_plan
    from sftbench.suites.engine.schema import load_suite, resolve_suite_path

    pinned = tempfile.TemporaryDirectory(prefix="sftbench-parallel-suite-")
    source = resolve_suite_path(args.suite)
    suite_copy = Path(pinned.name) / Path(source).name  # every run reads this copy: the same suite side by side
    shutil.copy(source, suite_copy)
    args.suite = str(suite_copy)
    with tempfile.TemporaryDirectory(prefix="sftbench-parallel-") as tmp:
        plan = make_plan(load_suite(suite_copy), Path(tmp) / "plan", progress=False, store=Path(tmp) / "plan-store")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}, "
          f"suite {source} ({len(plan.steps)} steps, read from a copy made now), --jobs {args.jobs} vs sequential, "
          f"{args.repeats} repeat(s)")
    print("note: a shared machine; other processes' load (uptime, before each run) changes the numbers\n", flush=True)

    rows, runs = [], []
    for rep in range(args.repeats):
        order = [1, args.jobs] if rep % 2 == 0 else [args.jobs, 1]
        pair = {}
        for jobs in order:
            fresh, again = fresh_and_cached(args, jobs)
            label = "sequential" if jobs == 1 else f"--jobs {jobs}"
            print(f"  repeat {rep + 1}, {label}: {fresh['wall']:.1f} s fresh ({len(fresh['steps'])} steps ran), "
                  f"{again['wall']:.1f} s all cached ({again['cached']} cached); before: {fresh['uptime']}",
                  flush=True)
            pair[jobs] = fresh
            runs.append((rep, fresh, again))
        seq, par = pair[1], pair[args.jobs]
        for jobs in order:
            r = pair[jobs]
            again = next(a for rp, f, a in runs if f is r)
            rows.append([rep + 1, "sequential" if jobs == 1 else f"--jobs {jobs}", f"{r['load']:.2f}",
                         f"{r['wall']:.1f}", len(r["steps"]), f"{again['wall']:.1f}", f"{again['load']:.2f}",
                         f"{seq['wall'] / par['wall']:.2f}x" if jobs != 1 else ""])
    print()
    print(tabulate(rows, headers=["repeat", "run", "load before", "wall s (fresh)", "steps ran",
                                  "all-cached re-run s", "load before re-run", "seq / parallel"], tablefmt="github"))

    # where the time went, per run
    detail = []
    by_kind: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for rep, r, _ in runs:
        steps = list(r["steps"].values())
        first, last = min(s["start"] for s in steps), max(s["end"] for s in steps)
        conc = concurrency(steps)
        body = sum(r["manifest"].values())
        outside = sum(s["wall"] for s in steps) - body
        workers = {s["where"] for s in steps}
        label = "sequential" if r["jobs"] == 1 else f"--jobs {r['jobs']}"
        detail.append([rep + 1, label, f"{r['wall']:.1f}", f"{first:.1f}", f"{last - first:.1f}",
                       f"{r['wall'] - last:.1f}", f"{sum(s['wall'] for s in steps):.1f}", f"{body:.1f}",
                       f"{outside:.1f}", " / ".join(f"{conc.get(k, 0):.0f}" for k in range(r["jobs"] + 1)),
                       len(workers)])
        for i, s in r["steps"].items():
            by_kind[r["index"][i]["kind"]][label] += s["wall"]
        if r["jobs"] == 1:
            seq_durations = {r["index"][i]["dir"]: s["wall"] for i, s in r["steps"].items()}
    print("\nwhere the time went (s since the command started; step time = each step's done line; body = the "
          "manifests' wall_time_s; k running = seconds with 0 / 1 / ... steps running between the first start and "
          "the last end):")
    print(tabulate(detail, headers=["repeat", "run", "wall", "first step starts", "steps span", "after last step",
                                    "sum step s", "sum body s", "step s outside body", "k running 0/1/..",
                                    "processes"], tablefmt="github"))
    labels = ["sequential", f"--jobs {args.jobs}"]
    print(f"\nstep time by kind, summed over {args.repeats} repeat(s) (contention shows as --jobs {args.jobs} / "
          "sequential > 1):")
    print(tabulate([[k, *(f"{v[lb]:.1f}" for lb in labels), f"{v[labels[1]] / v[labels[0]]:.2f}" if v[labels[0]]
                     else ""] for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1][labels[0]])],
                   headers=["kind", *labels, "ratio"], tablefmt="github"))
    cp, chain = critical_path(plan.steps, seq_durations)
    total = sum(seq_durations.values())
    seq_last = runs[[r["jobs"] for _, r, _ in runs].index(1)][1]
    steps = list(seq_last["steps"].values())
    fixed = seq_last["wall"] - (max(s["end"] for s in steps) - min(s["start"] for s in steps))
    bound = fixed + max(cp, total / args.jobs)
    print(f"\nthe plan's bound for {args.jobs} slots, from the last sequential run's step times: critical path "
          f"{cp:.1f} s ({' -> '.join(c.rsplit('-', 1)[0] for c in chain)}), total step time / {args.jobs} = "
          f"{total / args.jobs:.1f} s; plus the {fixed:.1f} s outside the steps: best possible wall {bound:.1f} s, "
          f"i.e. at most {seq_last['wall'] / bound:.2f}x with perfectly shared cores and no start-up cost")
    if args.timeline:
        first = {r["jobs"]: r for rep, r, _ in runs if rep == 0}
        seq, par = first[1], first[args.jobs]
        order = sorted(par["steps"], key=lambda i: par["steps"][i]["start"])
        print(f"\ntimeline of repeat 1 (s since the command started), in the order the --jobs {args.jobs} run started them:")
        print(tabulate([[i + 1, par["index"][i]["label"][:48],
                         *(f"{r['steps'][i]['start']:.1f}-{r['steps'][i]['end']:.1f}" if i in r["steps"] else ""
                           for r in (seq, par)), par["steps"][i]["where"].rsplit(":", 1)[-1]] for i in order],
                       headers=["#", "step", "sequential", f"--jobs {args.jobs}", "worker pid"], tablefmt="github"))
    if args.json:
        args.json.write_text(json.dumps([{"repeat": rep + 1, "fresh": {k: v for k, v in r.items()},
                                          "cached": {k: v for k, v in a.items()}} for rep, r, a in runs],
                                        indent=1, default=str))
    print("\nstart-up of a fresh process (one spawned worker per job; in-process steps pay the imports once):")
    print(tabulate(startup_costs(), headers=["imports", "s", "load after"], tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
