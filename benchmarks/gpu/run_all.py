"""GPU truth in one run: SFT throughput and MFU (Llama-3.2-1B full, Llama-3-8B LoRA), generation throughput, a CUDA
end-to-end suite, and bf16-vs-fp32 loss parity (+ QLoRA where bitsandbytes is installed).

    python benchmarks/gpu/run_all.py                 # on a GPU machine: real shapes, about 7 minutes in all
    python benchmarks/gpu/run_all.py --dry-run       # anywhere (CPU): tiny shapes, every part, a few minutes
    python benchmarks/gpu/run_all.py --parts 3 --gen-batch 128     # one part again, with other settings

Parts run in order under one time budget (--budget-s): each gets a share of what is left, stops its loops when its
share is spent (what it skipped says "skipped: out of time") and is interrupted past a grace period; a part that
fails is recorded and the next one runs. After every part the raw results go to OUT/results.json and the tables to
OUT/results.md (OUT: --out, else $OUT, else benchmarks/gpu/results/). See benchmarks/gpu/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common
from common import Deadline, OutOfTime, time_limit


@dataclass(frozen=True)
class Profile:
    """Sizes of every part: `gpu` (real shapes) or `dry` (tiny shapes for a CPU)."""

    small_shape: str
    big_shape: str
    seq: int
    train_rows: int
    train_batch: int
    big_rows: int
    big_batch: int
    gen_prompts: int
    gen_batch: int
    gen_max_new: int
    parity_batch: int
    peak_sizes: tuple[tuple[int, int], ...]  # (matrix size, repetitions)
    budget_s: float
    threads: int


GPU = Profile("llama-3.2-1b", "llama-3-8b", 2048, 256, 8, 64, 4, 805, 256, 512, 4, ((8192, 100), (16384, 12)), 420, 8)
DRY = Profile("tiny", "tiny", 128, 48, 8, 32, 4, 32, 8, 16, 4, ((1024, 3),), 420, 1)
# part -> (title, weight of the remaining budget, minimum seconds worth starting with)
PARTS: dict[str, tuple[str, float, float]] = {
    "1": ("SFT throughput and MFU, small shape, full fine-tuning", 70, 20),
    "2": ("SFT throughput and MFU, big shape, LoRA", 130, 40),
    "3": ("Generation throughput", 120, 20),
    "4": ("End-to-end suite on this device", 70, 30),
    "5": ("bf16 vs fp32 loss parity; QLoRA", 30, 10),
}
GRACE_S = 30  # past its share, a part is interrupted after this much more


class Run:
    def __init__(self, args: argparse.Namespace, profile: Profile, out: Path, work: Path) -> None:
        self.args, self.p, self.out, self.work = args, profile, out, work
        self.results: dict[str, Any] = {}
        self.checkpoints: dict[str, Path] = {}
        self.tokenizer: Path | None = None
        self.partial: dict[str, Any] = {}  # what the running part has finished so far (kept if it is interrupted)

    def checkpoint(self, shape: str) -> Path:
        """The random-initialised base of `shape` (built once per run, bf16 on a GPU, fp32 on CPU)."""
        import torch

        if shape not in self.checkpoints:
            if self.tokenizer is None:
                self.tokenizer = common.make_tokenizer(self.work / "tokenizer")
            dtype = "bfloat16" if torch.cuda.is_available() else "float32"
            self.checkpoints[shape] = common.make_checkpoint(shape, self.p.seq, self.tokenizer,
                                                             self.work / f"base-{shape}", dtype)
        return self.checkpoints[shape]

    def drop_checkpoint(self, shape: str) -> None:
        path = self.checkpoints.pop(shape, None)
        if path is not None and shape != self.p.small_shape:
            shutil.rmtree(path, ignore_errors=True)

    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "results.json").write_text(json.dumps(self.results, indent=1, default=str) + "\n")
        (self.out / "results.md").write_text(render(self.results) + "\n")


# -- the parts ---------------------------------------------------------------------------------------------------

def part_train(run: Run, deadline: Deadline, big: bool) -> dict[str, Any]:
    import part_train

    p = run.p
    shape = p.big_shape if big else p.small_shape
    t0 = time.perf_counter()
    base = run.checkpoint(shape)
    build_s = time.perf_counter() - t0
    case = part_train.TrainCase(
        name=f"{shape} ({'LoRA r=16, all linear layers' if big else 'full'})", base=base, seq=p.seq,
        rows=p.big_rows if big else p.train_rows, batch=p.big_batch if big else p.train_batch,
        finetune="lora" if big else "full", extra={"checkpoint_build_s": round(build_s, 1)})
    try:
        return part_train.run_case(case, run.results["peak"]["flops"], deadline, run.work / f"scratch-{shape}",
                                   out=run.partial)
    finally:
        if big:
            run.drop_checkpoint(shape)


def part_generate(run: Run, deadline: Deadline) -> dict[str, Any]:
    import part_generate

    a, p = run.args, run.p
    return part_generate.run(run.checkpoint(p.small_shape), a.gen_prompts or p.gen_prompts, a.gen_batch or p.gen_batch,
                             a.gen_max_new or p.gen_max_new, deadline)


def part_e2e(run: Run, deadline: Deadline) -> dict[str, Any]:
    import part_e2e

    return part_e2e.run(run.work / "e2e-runs", run.args.threads or run.p.threads, max(deadline.left(), 1),
                        keep=run.out)


def part_parity(run: Run, deadline: Deadline) -> dict[str, Any]:
    import part_parity

    return part_parity.run(run.checkpoint(run.p.small_shape), run.p.seq, run.p.parity_batch, run.work / "scratch-p5")


RUNNERS: dict[str, Callable[[Run, Deadline], dict[str, Any]]] = {
    "1": lambda r, d: part_train(r, d, big=False), "2": lambda r, d: part_train(r, d, big=True),
    "3": part_generate, "4": part_e2e, "5": part_parity,
}


# -- report ------------------------------------------------------------------------------------------------------

def render(results: dict[str, Any]) -> str:
    import part_e2e
    import part_generate
    import part_parity
    import part_train

    env, peak = results.get("environment", {}), results.get("peak", {})
    v = env.get("versions", {})
    device = env.get("gpu") or f"CPU ({env.get('cpus')} cores, {env.get('torch_threads')} torch threads)"
    lines = [(f"GPU benchmarks ({'dry run, tiny shapes' if results.get('dry_run') else 'real shapes'}), "
              f"{results.get('started', '')}"), "",
             f"- device: {device}" + (f", {env.get('gpu_memory_gib')} GiB, CUDA {env.get('cuda')}" if env.get("gpu")
                                      else ""),
             "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
             f"- sftbench imported from: {env.get('sftbench_from')}",
             f"- command: `{results.get('command', '')}`",
             (f"- measured bf16 matmul peak: {peak.get('flops', 0) / 1e12:.1f} TFLOP/s "
              f"({', '.join(str(s['size']) for s in peak.get('runs', []))}-square)"),
             f"- wall: {results.get('wall_s', 'running')} s of a {results.get('budget_s')} s budget", ""]
    renderers = {"1": part_train.markdown, "2": part_train.markdown, "3": part_generate.markdown,
                 "4": part_e2e.markdown, "5": part_parity.markdown}
    for key, part in results.get("parts", {}).items():
        lines += [f"### Part {key}: {PARTS[key][0]} ({part['status']}, {part.get('wall_s', 0):.0f} s)", ""]
        if part.get("result"):
            lines.append(renderers[key](part["result"]))
        if part.get("error"):
            lines += ["", "```", part["error"].strip()[-1500:], "```"]
        lines.append("")
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------------------------

def default_out(dry_run: bool) -> Path:
    if os.environ.get("OUT"):
        return Path(os.environ["OUT"])
    return HERE / "results" / ("dry-run" if dry_run else "gpu")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes on whatever device (CPU is fine)")
    parser.add_argument("--parts", default="1,2,3,4,5", help="comma-separated subset of 1..5 (default: all)")
    parser.add_argument("--budget-s", type=float, default=None, help="wall-clock budget of all parts "
                        "(default 420 on a GPU: leaves an 8-minute device run time to install the wheels)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default $OUT or benchmarks/gpu/results/)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder for checkpoints (default: a temp dir)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 8 GPU / 1 dry run)")
    parser.add_argument("--gen-prompts", type=int, default=None, help="part 3 prompts (default 805)")
    parser.add_argument("--gen-batch", type=int, default=None, help="part 3 batch size (default 256)")
    parser.add_argument("--gen-max-new", type=int, default=None, help="part 3 cap on new tokens (default 512)")
    args = parser.parse_args(argv)
    parts = [s.strip() for s in args.parts.split(",") if s.strip()]
    unknown = [s for s in parts if s not in PARTS]
    if unknown:
        parser.error(f"--parts: unknown part(s) {unknown}; choose from {', '.join(PARTS)}")

    started = time.monotonic()
    sftbench_from = common.ensure_sftbench()
    import torch
    from sftbench.suites.models.torch_setup import setup_torch

    if not args.dry_run and not torch.cuda.is_available():
        parser.error("no CUDA device: the real shapes need a GPU; use --dry-run for the tiny CPU version")
    profile = DRY if args.dry_run else GPU
    setup_torch(args.threads or profile.threads, 0)
    budget = args.budget_s or profile.budget_s
    out = args.out or default_out(args.dry_run)
    work = args.work or Path(tempfile.mkdtemp(prefix="sftbench-gpu-"))
    run = Run(args, profile, out, work)
    run.results = {"dry_run": args.dry_run, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "budget_s": budget,
                   "command": "python benchmarks/gpu/run_all.py " + shlex.join(sys.argv[1:] if argv is None else argv),
                   "profile": profile.__dict__, "environment": common.environment(sftbench_from), "parts": {}}
    runs = [common.measure_peak_bf16(size, reps) for size, reps in profile.peak_sizes]
    run.results["peak"] = {"flops": max(r["flops"] for r in runs), "runs": runs}
    run.save()
    print(f"sftbench from {sftbench_from}; device {run.results['environment'].get('gpu') or 'CPU'}; bf16 peak "
          f"{run.results['peak']['flops'] / 1e12:.1f} TFLOP/s; budget {budget:.0f} s; work {work}", flush=True)
    try:
        for i, key in enumerate(parts):
            left = budget - (time.monotonic() - started)
            weights = sum(PARTS[k][1] for k in parts[i:])
            share = left * PARTS[key][1] / weights
            record: dict[str, Any] = {"title": PARTS[key][0], "share_s": round(share, 1)}
            if share < PARTS[key][2]:
                record.update(status="skipped: out of time", wall_s=0.0)
            else:
                print(f"== part {key}: {PARTS[key][0]} ({share:.0f} s)", flush=True)
                t0 = time.perf_counter()
                run.partial = {}
                try:
                    with time_limit(share + GRACE_S):
                        record.update(status="ok", result=RUNNERS[key](run, Deadline(share)))
                except OutOfTime as exc:
                    record.update(status=f"out of time: interrupted ({exc})", error=traceback.format_exc())
                except Exception as exc:  # noqa: BLE001 - a part's failure is recorded; the next part runs
                    record.update(status=f"error: {type(exc).__name__}: {str(exc)[:300]}",
                                  error=traceback.format_exc())
                if "result" not in record and run.partial.get("results"):
                    record["result"] = run.partial  # the configurations that finished before it stopped
                record["wall_s"] = round(time.perf_counter() - t0, 1)
                common.free_memory()
            run.results["parts"][key] = record
            run.results["wall_s"] = round(time.monotonic() - started, 1)
            run.save()
            print(f"   part {key}: {record['status']} ({record['wall_s']} s)", flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n" + render(run.results))
    print(f"\nraw results: {out / 'results.json'}; tables: {out / 'results.md'}")
    bad = problems(run.results["parts"])
    if bad:
        print("not all ok:\n  " + "\n  ".join(bad[:20]))
    return 1 if bad else 0


def problems(obj: Any, where: str = "part") -> list[str]:
    """Every `status` inside the results that is neither ok nor a documented 'not run'."""
    found = []
    if isinstance(obj, dict):
        status = obj.get("status")
        if isinstance(status, str) and status != "ok" and not status.startswith("not run"):
            found.append(f"{where}: {status[:200]}")
        for key, value in obj.items():
            found += problems(value, f"{where}/{obj.get('config', key)}" if isinstance(value, (dict, list)) else where)
    elif isinstance(obj, list):
        for value in obj:
            found += problems(value, where)
    return found


if __name__ == "__main__":
    sys.exit(main())
