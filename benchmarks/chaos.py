"""The longer kill -9 campaign (CI runs three kills in tests/suites/test_reliability.py): a small suite is killed
at N random moments (a seeded draw over the clean run's duration, every third one the moment a training
checkpoint appears, i.e. mid-save), resumed after each kill, and finally compared with a run never killed:
leaderboard equal (but for its wall-clock columns), every training step's weights byte-identical, no temporary directory or resume checkpoint left.

    python benchmarks/chaos.py --kills 12 [--seed 7]

`--kills` counts kills that hit a running process: a round (a fresh store) is killed until a resume finishes before
its kill, then checked, and rounds go on until that many kills landed. Prints one row per attempt (when, which step
was being written) and each round's verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from sftbench.leaderboard.table_rows import deterministic

ROOT = Path(__file__).resolve().parents[1]


def suite_file(folder: Path) -> Path:
    data = yaml.safe_load((ROOT / "tests" / "assets" / "tiny_suite.yaml").read_text())
    data.update(name="chaos", datasets=data["datasets"][:2])
    data["recipe"] = {**data["recipe"], "epochs": 2, "save_steps": 2}
    data["leaderboard"].update(noise_floor_sample=0, n_bootstrap_lc=0)
    path = folder / "chaos.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def start(suite: Path, runs: Path, store: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sftbench.suites.engine.cli", "run", str(suite), "--runs-dir",
                             str(runs), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SFTBENCH_STORE": str(store)}, cwd=ROOT, start_new_session=True)


def writing(store: Path) -> str:
    tmp = sorted(p.name.split("~")[0][5:] for p in store.glob(".tmp-*"))
    ckpt = sorted(p.parent.name + "/" + p.name for p in store.glob(".resume/*/checkpoint-*"))
    return ", ".join(tmp + ckpt[-1:]) or "(between steps)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sftbench-chaos-") as d:
        folder = Path(d)
        suite = suite_file(folder)
        t0 = time.time()
        clean = start(suite, folder / "clean", folder / "clean-store")
        _, err = clean.communicate()
        duration = time.time() - t0
        if clean.returncode != 0:
            print(err[-3000:])
            return 1
        rng = random.Random(args.seed)
        print(f"clean run: {duration:.1f}s\n\n| round | attempt | at s | writing when killed | outcome |\n"
              "|---|---|---|---|---|")
        killed, attempt, rounds, verdicts = 0, 0, 0, []
        while killed < args.kills:  # a round: one fresh store, killed until a run finishes first, then checked
            if rounds >= 2 * args.kills:
                print(f"\nonly {killed} kills landed in {rounds} rounds: the runs end before the kills")
                return 1
            rounds += 1
            store, runs = folder / f"store-{rounds}", folder / f"runs-{rounds}"
            while killed < args.kills:
                attempt += 1
                before = set(store.glob(".resume/*/checkpoint-*"))  # a killed run's checkpoints are not new
                proc, began = start(suite, runs, store), time.time()
                if attempt % 3 == 0:  # the moment a new training checkpoint appears: mid-save
                    while time.time() - began < duration and not set(store.glob(".resume/*/checkpoint-*")) - before:
                        time.sleep(0.005)
                else:
                    time.sleep(rng.uniform(0.05, 0.95) * duration)
                state = writing(store)
                finished = proc.poll() is not None
                if not finished:
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed += 1
                _, err = proc.communicate()
                if finished and proc.returncode != 0:  # a resume that fails on its own is the verdict
                    print(f"| {rounds} | {attempt} | {time.time() - began:.1f} | {state} | failed |\n{err[-2000:]}")
                    return 1
                print(f"| {rounds} | {attempt} | {time.time() - began:.1f} | {state} | "
                      f"{'finished before the kill' if finished else 'killed'} |")
                if finished:
                    break
            verdicts.append(check(suite, folder, runs, store))
            print(f"round {rounds}: {verdicts[-1][1]}")
            if not verdicts[-1][0]:
                break
        ok = all(v[0] for v in verdicts)
        print(f"\nafter {killed} kills in {rounds} round(s): {'every resume identical to the run never killed' if ok else 'MISMATCH'}")
        return 0 if ok else 1


def check(suite: Path, folder: Path, runs: Path, store: Path) -> tuple[bool, str]:
    """Resume to the end, then compare with the clean run: leaderboard, every training step's weights, leftovers."""
    final = start(suite, runs, store)
    _, err = final.communicate()
    if final.returncode != 0:
        return False, f"the resume failed: {err[-2000:]}"
    board = deterministic(json.loads((runs / "chaos" / "leaderboard.json").read_text())["leaderboard"])
    same_board = board == deterministic(
        json.loads((folder / "clean" / "chaos" / "leaderboard.json").read_text())["leaderboard"])
    same_weights = all((t / "model.safetensors").read_bytes() ==
                       (folder / "clean-store" / t.name / "model.safetensors").read_bytes()
                       for t in store.glob("train-*"))
    leftovers = [p.name for p in [*store.glob(".tmp-*"), *store.glob(".resume/*")]]
    return same_board and same_weights and not leftovers, (
        f"leaderboard identical: {same_board}; weights byte-identical: {same_weights}; "
        f"leftovers: {leftovers or 'none'}")


if __name__ == "__main__":
    sys.exit(main())
