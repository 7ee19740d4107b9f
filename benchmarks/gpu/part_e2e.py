"""Part 4: `sftbench run` end to end on this machine's device (e2e_suite.yaml), then what its manifests recorded.

The suite runs as a subprocess of the real CLI (building, pretraining the tiny base, bf16 training and generation on
CUDA when there is a GPU, judging, leaderboard) in a fresh runs directory, under a hard time limit. Afterwards every
step's manifest.json is read for the device and dtype it recorded: `hardware.gpus`, the train steps'
`stats.precision`, the answering steps' `decoding.dtype`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SUITE = HERE / "e2e_suite.yaml"


def _find(obj: Any, key: str) -> list[Any]:
    """Every value stored under `key` anywhere inside a JSON object."""
    found = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                found.append(v)
            found += _find(v, key)
    elif isinstance(obj, list):
        for v in obj:
            found += _find(v, key)
    return found


def walk(root: Path) -> list[Path]:
    """Every file under `root`, following links (a runs directory links its steps into the step store)."""
    return sorted(Path(d) / f for d, _, files in os.walk(root, followlinks=True) for f in files)


def manifests(runs: Path) -> dict[str, Any]:
    """Every step's manifest.json under the runs view, by step directory name."""
    found = {}
    for path in [p for p in walk(runs / "view") if p.name == "manifest.json"]:
        try:
            found[path.parent.name] = json.loads(path.read_text())
        except ValueError:
            continue
    return found


def read_manifests(runs: Path) -> dict[str, Any]:
    """Per step: the GPUs its manifest's `hardware` lists, the train stats' precision, the decoding dtype."""
    steps = []
    for name, manifest in manifests(runs).items():
        hardware = manifest.get("hardware") or {}
        stats = manifest.get("stats") if isinstance(manifest.get("stats"), dict) else {}
        decoding = (_find(manifest, "decoding") or [{}])[0]
        steps.append({"step": name, "gpus": hardware.get("gpus"), "precision": stats.get("precision"),
                      "dtype": decoding.get("dtype") if isinstance(decoding, dict) else None,
                      "wall_s": manifest.get("wall_time_s")})
    return {"steps": steps,
            "gpus_recorded": sorted({g for s in steps for g in (s["gpus"] or [])}),
            "steps_without_gpu": [s["step"] for s in steps if not s["gpus"]],
            "train_precision": sorted({s["precision"] for s in steps if s["precision"]}),
            "generate_dtype": sorted({s["dtype"] for s in steps if s["dtype"]})}


def run(runs: Path, threads: int, limit_s: float, keep: Path | None = None) -> dict[str, Any]:
    """Run the suite in `runs`; with `keep`, also write there (flat: the device tool returns at most 8 files,
    2 folders deep) e2e_manifests.json (every manifest), e2e_leaderboard.md and e2e_run.log."""
    runs.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(HERE / "sftbench_cli.py"), "run", str(SUITE), "--runs-dir", str(runs / "view"),
           "--threads", str(threads), "--quiet"]
    log = runs / "sftbench_run.log"
    start = time.perf_counter()
    # a fresh step store: nothing cached from an earlier run on this machine (e.g. a CPU dry run) is reused
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SFTBENCH_STORE": str(runs / "store")}
    with open(log, "w") as fh:
        try:  # cwd: the runs dir, so a source checkout's ./sftbench never shadows an installed sftbench
            rc = subprocess.run(cmd, cwd=runs, stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=limit_s,
                                check=False).returncode
            status = "ok" if rc == 0 else f"error: sftbench run exited {rc}"
        except subprocess.TimeoutExpired:
            rc, status = None, f"out of time: killed after {limit_s:.0f} s"
    wall = time.perf_counter() - start
    tail = log.read_text(errors="replace").splitlines()[-25:]
    boards = [p for p in walk(runs / "view") if p.name == "leaderboard.md"]
    out = {"status": status, "returncode": rc, "wall_s": round(wall, 1), "command": " ".join(cmd[1:]),
           "log_tail": tail, **read_manifests(runs)}
    if boards:
        out["leaderboard_md"] = boards[0].read_text()
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / "e2e_manifests.json").write_text(json.dumps(manifests(runs), indent=1, default=str) + "\n")
        shutil.copy2(log, keep / "e2e_run.log")
        if boards:
            shutil.copy2(boards[0], keep / "e2e_leaderboard.md")
    return out


def markdown(out: dict[str, Any]) -> str:
    lines = [(f"`sftbench run benchmarks/gpu/e2e_suite.yaml`: {out['status']} in {out['wall_s']} s; "
              f"{len(out['steps'])} steps with manifests"), "",
             f"- GPUs recorded in manifests: {', '.join(out['gpus_recorded']) or 'none'}"
             + (f" (steps without: {len(out['steps_without_gpu'])})" if out["gpus_recorded"] else ""),
             f"- training precision recorded: {', '.join(out['train_precision']) or 'none'}",
             f"- generation dtype recorded: {', '.join(out['generate_dtype']) or 'none'}"]
    if out["status"] != "ok":
        lines += ["", "Last lines of the run's log:", "", "```", *out["log_tail"][-12:], "```"]
    if out.get("leaderboard_md"):
        lines += ["", "Leaderboard (first lines):", "", *out["leaderboard_md"].strip().splitlines()[:12]]
    return "\n".join(lines)
