"""AlpacaEval on the built-in world: the world's eval prompts judged pairwise against its reference answers by any
judge role; the length-control anchor (df_gamed) comes from judging the references' verbose and concise variants
against themselves (`lctable`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from sftbench.common.hashing import hash_obj
from sftbench.common.jsonio import write_json_atomic
from sftbench.common.rows import Row, read_jsonl
from sftbench.suites.engine.roles import FailureLog
from sftbench.suites.engine.step import Step, StepContext, step_kind

BASELINE = "world_reference"


def eval_prompts(world_dir: Path) -> list[Row]:
    return read_jsonl(world_dir / "eval_prompts.jsonl", validate=False)


def outputs_of(path: Path) -> list[str]:
    return [r["output"] for r in read_jsonl(path, validate=False)]


def _annotations(prompts: Sequence[Row], baseline: Sequence[str], outputs: Sequence[str], judge: Any,
                 generator: str, randomize: bool) -> pd.DataFrame:
    from sftbench.judges.pairwise import annotate_pairs
    records = annotate_pairs(prompts, baseline, outputs, judge, generator=generator, baseline_name=BASELINE,
                             annotator=judge.fingerprint.get("model", "judge"), randomize_order=randomize)
    return pd.DataFrame(records)


@step_kind("lctable")
def lc_table_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict:
    """Judge the baseline's verbose and concise variants against itself: the GLM's length anchor (df_gamed)."""
    from sftbench.judges.length_control import build_df_gamed
    world_dir, randomize = inputs["world"], step.config["randomize_order"]
    judge = ctx.roles(step.args["roles"]).get("judge")
    prompts, baseline = eval_prompts(world_dir), outputs_of(world_dir / "baseline.jsonl")
    failures = FailureLog(judge=judge)
    gamed = {f"{BASELINE}_{kind}": _annotations(prompts, baseline, outputs_of(world_dir / f"baseline_{kind}.jsonl"),
                                                judge, f"{BASELINE}_{kind}", randomize)
             for kind in ("verbose", "concise")}
    failures.write(out)
    build_df_gamed(gamed).to_csv(out / "df_gamed.csv", index=False)
    return {"judge_fingerprint": judge.fingerprint, "n_failed": {m: int(a["failed"].sum()) for m, a in gamed.items()},
            "gamed_win_rates": {m: round(float((a["preference"] - 1).mean() * 100), 3) for m, a in gamed.items()}}


@step_kind("judge")
def judge_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict:
    """Pairwise judging of one checkpoint's answers against the world's references; win rate and LC win rate."""
    from sftbench.judges.length_control import lc_winrate
    world_dir, generator = inputs["world"], step.key.name
    judge = ctx.roles(step.args["roles"]).get("judge")
    prompts, baseline = eval_prompts(world_dir), outputs_of(world_dir / "baseline.jsonl")
    outputs = outputs_of(inputs["outputs"] / "outputs.jsonl")
    failures = FailureLog(judge=judge)
    df = _annotations(prompts, baseline, outputs, judge, generator, step.config["randomize_order"])
    failures.write(out)
    df["judge_fingerprint"] = hash_obj(judge.fingerprint)  # the full fingerprint is in the manifest
    df.to_json(out / "annotations.json", orient="records", indent=1, force_ascii=False)
    metrics: dict[str, Any] = lc_winrate(df.drop(columns=["swapped", "failed", "judge_fingerprint"]),
                                         inputs["lctable"] / "df_gamed.csv", glm_name=step.config["glm"])
    metrics.update(avg_length=float(df["output_2"].str.len().mean()), baseline=BASELINE,
                   n_failed=int(df["failed"].sum()))
    write_json_atomic(out / "metrics.json", metrics)
    return {"metrics": metrics, "judge_fingerprint": judge.fingerprint}
