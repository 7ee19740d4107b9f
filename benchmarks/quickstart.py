"""Wall time of `sftbench run` on the default suite: a fresh run, then the all-cached re-run (target: < 5 min,
aim 2; re-run < 15 s). Prints a table with the machine named.

    .venv/bin/python benchmarks/quickstart.py [--suite quickstart] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate


def timed_run(suite: str, runs: Path, threads: int) -> tuple[float, str]:
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "sftbench.suites.engine.cli", "run", suite, "--runs-dir", str(runs), "--quiet",
                           "--threads", str(threads)], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode:
        sys.exit(f"sftbench run failed:\n{proc.stderr[-3000:]}")
    return time.time() - start, proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="quickstart")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh, log = timed_run(args.suite, Path(tmp), args.threads)
        cached, log2 = timed_run(args.suite, Path(tmp), args.threads)
    steps = [line for line in log.splitlines() if line.startswith("[")]
    slowest = sorted(steps, key=lambda line: -float(line.rsplit("(", 1)[-1].rstrip("s)")) if "(" in line else 0)[:5]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}, "
          f"threads={args.threads}, load average before: {os.getloadavg()[0]:.2f}")
    print(tabulate([["fresh run", f"{fresh:.1f}", len(steps)],
                    ["all-cached re-run", f"{cached:.1f}", log2.count("cached")]],
                   headers=["run", "wall s", "steps"], tablefmt="github"))
    print("\nslowest steps of the fresh run:\n" + "\n".join(slowest))


if __name__ == "__main__":
    main()
