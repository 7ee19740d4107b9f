"""What a plan will cost and what a run cost: `sftbench plan`'s totals (LLM calls and $ per role, estimated
GPU-hours) and the summary `sftbench run` ends with (wall time, GPU-hours, LLM calls, cache hits and $, files)."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from sftbench.suites.engine.plan import Plan
from sftbench.suites.engine.step import gpus_used

# The GPU-hour estimate's assumptions, printed with it: sustained training throughput of one GPU (about 40% of an
# A100's bf16 peak) and the share of a training example's max_length its tokens fill on average.
SUSTAINED_TFLOPS = 125.0
FILL = 0.5


def model_params(plan: Plan) -> float | None:
    """Parameters of the suite's base model, known before anything is downloaded (None: unknown)."""
    bm = plan.suite.base_model
    if bm.kind == "tiny":
        from sftbench.suites.models.tiny_config import TinyModelConfig
        c = TinyModelConfig.model_validate(bm.config)
        vocab = plan.suite.base_model.tokenizer.vocab_size
        kv = (c.kv_heads or c.heads) / c.heads
        layer = c.hidden_size ** 2 * (2 + 2 * kv) + 3 * c.hidden_size * c.intermediate_size
        return float(c.layers * layer + vocab * c.hidden_size * (1 if c.tie_word_embeddings else 2))
    found = re.search(r"(\d+(?:\.\d+)?)\s*[bB]\b", str(bm.id or bm.path or ""))
    return float(found.group(1)) * 1e9 if found else None


def dataset_rows(plan: Plan) -> dict[str, int]:
    """Rows each dataset will have, from its size parameter (k, n, max_rows) or the pool's size."""
    from sftbench.datasets_builders.registry import get_builder, parse_params
    from sftbench.suites.engine.cost_estimate import pool_size
    out = {}
    for ds in plan.suite.datasets:
        field = getattr(get_builder(ds.builder), "SIZE_FIELD", None)
        size = getattr(parse_params(ds.builder, ds.params), field, None) if field else None
        out[ds.name] = int(size) if isinstance(size, int) else pool_size(plan.suite) or 1000
    return out


def gpu_hours_estimate(plan: Plan) -> tuple[float | None, str]:
    """(GPU-hours of the pending train steps, how it was estimated)."""
    params = model_params(plan)
    recipe = plan.suite.recipe
    rows = dataset_rows(plan)
    pending = [s for s in plan.steps if s.key.kind == "train" and not plan.store.is_done(s.key)]
    if params is None:
        return None, "unknown: the base model's size is not known before download"
    tokens = sum(rows[s.key.name.rsplit("-s", 1)[0]] for s in pending) * recipe.max_length * FILL * recipe.epochs
    per_token = 6 if recipe.finetune == "full" else 4  # adapters: no weight gradients for the frozen base
    hours = per_token * params * tokens / (SUSTAINED_TFLOPS * 1e12) / 3600
    return hours, (f"{len(pending)} fine-tunes of a {params / 1e9:.3g}B model, {per_token} x params x tokens FLOPs "
                   f"at {SUSTAINED_TFLOPS:.0f} TFLOP/s per GPU, examples filling {FILL:.0%} of max_length "
                   f"{recipe.max_length}; generation and evaluation not included")


def usd_up(usd: float) -> str:
    """A worst-case amount in dollars, rounded up to the cent (so "<= $X" holds)."""
    return f"{math.ceil(usd * 100 - 1e-9) / 100:.2f}"


def _tokens(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def estimate_lines(est: Any) -> list[str]:
    """The LLM cost estimate (suites/engine/cost_estimate.py) as printed by `sftbench plan` and `sftbench run`: per
    role (with its price's source), per step kind within the role, per step kind overall, and warnings."""
    from sftbench.judges.llm.ledger import PRICES_DATE, PRICES_SOURCE
    from sftbench.suites.engine.cost_estimate import CHARS_PER_TOKEN
    lines: list[str] = []
    if est.roles:
        lines.append(f"LLM calls of the steps to run (an estimate: every answer max_tokens long, prompts at "
                     f"~{CHARS_PER_TOKEN:g} characters a token; list prices as of {PRICES_DATE} from {PRICES_SOURCE}, "
                     "unless a role's params.prices overrides them):")
    for role in est.roles.values():
        usd = ("unknown (no price for this model)" if role.usd is None else
               "$0 (a local model)" if not role.paid else f"<= ${usd_up(role.usd)}")
        lines.append(f"LLM {role.role}: {role.provider}/{role.model}: ~{role.calls} calls, {usd}")
        for line in (x for x in est.lines if x.role == role.role):
            text = (f"  {line.kind}: ~{line.calls} calls, ~{_tokens(line.prompt_tokens)} prompt + "
                    f"~{_tokens(line.completion_tokens)} completion tokens")
            if role.paid and line.usd_sync is not None:
                text += f"; sync <= ${usd_up(line.usd_sync)}, batch <= ${usd_up(line.usd_batch)}"
            lines.append(text)
        mode = "batch mode: billed at batch prices" if role.batch else "sync calls (params.batch: true halves it)"
        lines.append(f"  price: {role.price_from}" + (f"; {mode}" if role.paid and role.usd is not None else ""))
    kinds = est.by_kind()
    if any(r.paid for r in est.roles.values()) and kinds:
        lines.append("LLM cost by step kind: " + ", ".join(
            f"{kind} ~{e['calls']} calls <= ${usd_up(e['usd'])}" + (" + unpriced calls" if e["unpriced"] else "")
            for kind, e in kinds.items()))
    lines += [f"warning: {w}" for w in est.warnings]
    return lines


def plan_totals(plan: Plan, est: Any) -> list[str]:
    """The totals `sftbench plan` ends with: LLM calls and $ (the estimate of cost_estimate.py), GPU-hours."""
    if est.roles:
        unknown = est.unpriced
        llm = (f"total: ~{est.calls} LLM calls, <= ${usd_up(est.usd)}"
               + (f" plus the unpriced calls of {', '.join(unknown)}" if unknown else "")
               + f" (each role at its own mode; all sync <= ${usd_up(est.usd_sync)}, all batch <= "
                 f"${usd_up(est.usd_batch)}); ~{_tokens(est.prompt_tokens)} prompt + "
                 f"~{_tokens(est.completion_tokens)} completion tokens")
    else:
        llm = "total: no LLM calls to pay for (the world's roles, or every LLM step done)"
    hours, how = gpu_hours_estimate(plan)
    gpu = "unknown" if hours is None else f"~{hours:.3g} GPU-hours"
    return [llm, f"training compute: {gpu} ({how})"]


def run_summary(plan: Plan, ran: list[str], wall_s: float, root: Path) -> list[str]:
    """Lines for the end of `sftbench run`: what ran, how long, GPU-hours, LLM calls and $, where the files are."""
    from sftbench.common.jsonio import read_json
    by_kind: dict[str, float] = defaultdict(float)
    gpu_s = 0.0
    llm: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    usd_by_kind: dict[str, float] = defaultdict(float)
    for step in plan.steps:
        if step.key.dirname not in ran:
            continue
        manifest = read_json(plan.store.path(step.key) / "manifest.json")
        by_kind[step.key.kind] += manifest.get("wall_time_s", 0.0)
        gpu_s += manifest.get("wall_time_s", 0.0) * gpus_used(step, manifest)
        usd_by_kind[step.key.kind] += (manifest.get("llm_cost") or {}).get("usd", 0.0) or 0.0
        for model, entry in (manifest.get("llm_cost") or {}).get("by_model", {}).items():
            for k in ("calls", "cached_calls", "usd"):
                llm[model][k] += entry.get(k, 0) or 0
    steps = ", ".join(f"{kind} {s:.0f}s" for kind, s in sorted(by_kind.items(), key=lambda kv: -kv[1]))
    lines = [f"ran {len(ran)} of {len(plan.steps)} steps ({len(plan.steps) - len(ran)} cached) in {wall_s:.0f}s"
             + (f": {steps}" if steps else ""),
             f"GPU-hours: {gpu_s / 3600:.3g}" + ("" if gpu_s else " (no GPU used)")]
    roles = _roles_of_models(plan)
    for model, e in sorted(llm.items()):
        lines.append(f"LLM {model} ({', '.join(roles.get(model, ['?']))}): {int(e['calls'])} calls, "
                     f"{int(e['cached_calls'])} cache hits, ${e['usd']:.4f}")
    if not llm:
        lines.append("LLM calls: none (world roles, or every answer cached)")
    elif any(usd_by_kind.values()):
        lines.append("LLM $ per step kind: " + ", ".join(f"{k} ${v:.4f}" for k, v in sorted(
            usd_by_kind.items(), key=lambda kv: -kv[1]) if v))
    lines.append(f"files: {root}/leaderboard.{{md,csv,json,tex,html}}, {root}/results.json, "
                 f"{root}/suite.resolved.yaml; steps under {plan.store.root}")
    return lines


def _roles_of_models(plan: Plan) -> dict[str, list[str]]:
    from sftbench.suites.engine.roles import llm_config
    out: dict[str, list[str]] = defaultdict(list)
    for role in ("teacher", "rater", "judge"):
        spec = getattr(plan.suite.roles, role)
        if spec.provider != "world":
            out[str(llm_config(role, spec).resolved(role).model)].append(role)
    return out
