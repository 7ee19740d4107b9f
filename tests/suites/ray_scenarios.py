"""Scenarios on a real multi-node Ray cluster, run inside a network namespace that holds only loopback (`unshare -n`,
then `ip link set lo up`): a head node (no CPUs: it only coordinates) and two worker nodes, each its own raylet
process, all on 127.0.0.1. tests/suites/test_ray_executor.py runs this module and checks the JSON it writes.

    unshare -n python -m tests.suites.ray_scenarios OUT_DIR [basic|faults]

`basic`: the sequential run and the same suite on the cluster (in CI). `faults` (marked long): a node killed
mid-training, two runs at once (sequential + Ray, Ray + Ray), one train step over two gloo processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from sftbench.leaderboard.table_rows import deterministic

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PORT = 6399
ADDRESS = f"127.0.0.1:{PORT}"
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT)}


def suite(out: Path, name: str, **extra) -> Path:
    data = yaml.safe_load((ROOT / "tests" / "assets" / "tiny_suite.yaml").read_text())
    data.update(name=name, datasets=data["datasets"][:2])
    data["recipe"] = {**data["recipe"], "epochs": 2, "save_steps": 2, **extra.pop("recipe", {})}
    data["leaderboard"].update(noise_floor_sample=0, n_bootstrap_lc=0)
    data.update(extra)
    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def start_run(suite_path: Path, runs: Path, store: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "sftbench"), "run", str(suite_path), "--runs-dir", str(runs), "--store",
                             str(store), "--quiet", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV, cwd=ROOT, start_new_session=True)


def finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=900)
    return {"code": proc.returncode, "stderr": err[-6000:], "done": err.count(" done (")}


def board(runs: Path, name: str) -> list | None:
    path = runs / name / "leaderboard.json"
    return deterministic(json.loads(path.read_text())["leaderboard"]) if path.is_file() else None


def ray(*args: str) -> None:
    subprocess.run([str(BIN / "ray"), *args], env=ENV, check=True, capture_output=True, timeout=300)


def main(out: Path, part: str = "basic") -> int:
    if part not in ("basic", "faults"):
        raise SystemExit(f"part must be basic or faults, not {part!r}")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    ray("start", "--head", "--node-ip-address=127.0.0.1", f"--port={PORT}", "--num-cpus=0", "--include-dashboard=false",
        "--disable-usage-stats")
    for _ in range(2):
        ray("start", f"--address={ADDRESS}", "--node-ip-address=127.0.0.1", "--num-cpus=2")
    results: dict = {}
    try:
        s = suite(out, "ray")
        ray_args = ("--executor", "ray", "--address", ADDRESS)
        if part == "basic":
            # the sequential reference, then the same suite on the cluster
            results["sequential"] = finish(start_run(s, out / "seq", out / "seq-store"))
            results["ray"] = finish(start_run(s, out / "ray", out / "ray-store", *ray_args))
            results["steps"] = len(json.loads((out / "ray" / "ray" / "steps.json").read_text())["steps"])
            return _write(out, results, ("sequential", "ray"), ())
        # the node that runs the train step dies mid-step (its raylet and workers killed): retried elsewhere
        proc = start_run(s, out / "kill", out / "kill-store", *ray_args)
        victim = None
        deadline = time.time() + 600
        while time.time() < deadline and victim is None:
            for lease in (out / "kill-store" / ".leases").glob("train-*.lock"):
                holder = lease.read_text().strip()
                if holder and list((out / "kill-store" / ".resume").glob(f"{lease.stem}/checkpoint-*")):
                    victim = json.loads(holder)["pid"]
            time.sleep(0.05)
        raylet = int(Path(f"/proc/{victim}/stat").read_text().split(")")[1].split()[1]) if victim else None
        for pid in (victim, raylet):
            if pid:
                os.kill(pid, signal.SIGKILL)
        results["kill"] = {**finish(proc), "victim": victim, "raylet": raylet}
        trains = [json.loads(p.read_text()) for p in (out / "kill-store").glob("train-*/manifest.json")]
        results["kill"]["resumed_from"] = sorted(t["stats"].get("resumed_from_step") or 0 for t in trains)
        ray("start", f"--address={ADDRESS}", "--node-ip-address=127.0.0.1", "--num-cpus=2")  # replace the node

        # two runs of one suite into one store at once: sequential + Ray, then Ray + Ray
        for name, (a_args, b_args) in {"seq+ray": ((), ray_args), "ray+ray": (ray_args, ray_args)}.items():
            a = start_run(s, out / f"{name}-a", out / f"{name}-store", *a_args)
            b = start_run(s, out / f"{name}-b", out / f"{name}-store", *b_args)
            results[name] = {"a": finish(a), "b": finish(b)}

        # one train step over 2 processes (gloo) inside one Ray task
        ddp = suite(out, "ddp", recipe={"gpus_per_run": 2})
        results["ddp"] = finish(start_run(ddp, out / "ddp", out / "ddp-store", *ray_args))
        trains = {p.parent.name: json.loads(p.read_text()) for p in (out / "ddp-store").glob("train-*/manifest.json")}
        results["ddp"]["world_sizes"] = sorted(t["stats"].get("world_size") for t in trains.values())
        results["ddp"]["train_dirs"] = sorted(trains)
    finally:
        subprocess.run([str(BIN / "ray"), "stop", "--force"], env=ENV, capture_output=True, timeout=120)
    return _write(out, results, ("kill",), ("seq+ray", "ray+ray"))


def _write(out: Path, results: dict, runs: tuple[str, ...], pairs: tuple[str, ...]) -> int:
    for name in runs:
        results[name]["board"] = board(out / {"sequential": "seq"}.get(name, name), "ray")
    for name in pairs:
        for side in ("a", "b"):
            results[name][side]["board"] = board(out / f"{name}-{side}", "ray")
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), *sys.argv[2:3]))
