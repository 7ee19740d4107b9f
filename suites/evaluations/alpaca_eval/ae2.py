"""AlpacaEval 2.0 as a suite evaluation: the real eval set, the checkpoint's answers, alpaca_eval's annotator.

Three step kinds: `aedata` materialises the eval set (805 instructions + gpt4_1106_preview
outputs, or the first `max_instances`) and the length-control anchor `df_gamed.csv` sliced to match; `generate`
answers the instructions with the checkpoint (the same step as for the world); `aejudge` annotates each answer
against the baseline with an alpaca_eval annotator config (judges/alpaca_eval) over the suite's LLM judge and
writes `annotations.json` + `metrics.json` in the layout the leaderboard reads for every pairwise benchmark.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sftbench.common.hashing import hash_file, hash_local
from sftbench.common.jsonio import write_json_atomic
from sftbench.common.rows import read_jsonl, write_jsonl
from sftbench.suites.engine.roles import RoleSession
from sftbench.suites.engine.step import Step, StepContext, step_kind
from sftbench.suites.evaluations.alpaca_eval.spec import AlpacaEvalSpec

BENCHMARK = "alpaca_eval_2"
EVAL_FILE, DF_GAMED_FILE = "eval_set.jsonl", "df_gamed.csv"


def data_identity(spec: Any) -> dict[str, Any]:
    """What decides the data step's content, known before anything is downloaded (for its step hash)."""
    from sftbench.judges.alpaca_eval.data import DF_GAMED_HUB, EVAL_SET, EVAL_SET_HUB
    if spec.data_path is not None:
        eval_id = {"local_sha256": hash_local(spec.data_path, "evaluation.alpaca_eval.data_path")}
    elif spec.source == "hub":
        eval_id = {"hub": f"{EVAL_SET_HUB.repo_id}@{EVAL_SET_HUB.revision}:{EVAL_SET_HUB.filename}"}
    else:
        eval_id = {"pinned_sha256": EVAL_SET.sha256}
    gamed_id = ({"local_sha256": hash_local(spec.df_gamed, "evaluation.alpaca_eval.df_gamed")}
                if spec.df_gamed is not None else {"hub": f"{DF_GAMED_HUB.repo_id}@{DF_GAMED_HUB.revision}"})
    return {"eval_set": eval_id, "df_gamed": gamed_id, "max_instances": spec.max_instances, "version": 1}


@step_kind("aedata")
def data_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict[str, Any]:
    """Write the eval set (in AlpacaEval order) and the df_gamed rows of exactly those instructions."""
    spec = AlpacaEvalSpec.model_validate(step.args["spec"])
    from sftbench.judges.alpaca_eval.data import df_gamed_path, load_eval_set, slice_df_gamed
    from sftbench.judges.length_control import check_df_gamed
    eval_set = load_eval_set(spec.data_path, spec.source)
    gamed = df_gamed_path(spec.df_gamed)
    n_all = len(eval_set.rows)
    if spec.max_instances is not None and spec.max_instances < n_all:
        eval_set = eval_set.head(spec.max_instances)
        slice_df_gamed(gamed, range(spec.max_instances), out / DF_GAMED_FILE)
    else:
        shutil.copyfile(gamed, out / DF_GAMED_FILE)
    check_df_gamed(out / DF_GAMED_FILE, len(eval_set.rows))
    write_jsonl(out / EVAL_FILE, eval_set.rows)
    return {"n_instructions": len(eval_set.rows), "of": n_all, "eval_set": eval_set.provenance,
            "df_gamed": {"path": str(spec.df_gamed or gamed), "sha256": hash_file(gamed)}}


def instructions_file(data_dir: Path) -> Path:
    return data_dir / EVAL_FILE


def make_annotator(spec: Any, session: RoleSession, uncached: bool = False) -> Any:
    from sftbench.judges.alpaca_eval import AlpacaEvalAnnotator
    cfg, client = session.llm_client("judge", "AlpacaEval 2.0", uncached=uncached)
    return AlpacaEvalAnnotator.from_role_config(cfg, client, spec.annotator, progress=session.progress)


@step_kind("aejudge")
def judge_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict[str, Any]:
    """Annotate the checkpoint's answers against the baseline; failed annotations stay in (as ties) and counted."""
    from sftbench.judges.alpaca_eval import EvalSet, run_alpaca_eval
    spec, session = AlpacaEvalSpec.model_validate(step.args["spec"]), ctx.roles(step.args["roles"])
    data_dir, outputs_dir, generator = inputs["eval_data"], inputs["outputs"], step.key.name
    rows = read_jsonl(data_dir / EVAL_FILE, validate=False)
    outputs = [r["output"] for r in read_jsonl(outputs_dir / "outputs.jsonl", validate=False)]
    annotator = make_annotator(spec, session)
    result = run_alpaca_eval(EvalSet(rows), outputs, annotator, generator, data_dir / DF_GAMED_FILE,
                             glm_name=spec.glm)
    write_json_atomic(out / "annotations.json", result.annotations)
    metrics = {**result.metrics, "length_controlled_winrate": result.metrics["lc_win_rate"],
               "benchmark": BENCHMARK}
    write_json_atomic(out / "metrics.json", metrics)
    headline = ("win_rate", "lc_win_rate", "n", "n_failed", "n_flagged_injection", "avg_length")
    return {"metrics": {k: metrics.get(k) for k in headline}, "judge_fingerprint": annotator.fingerprint}


def rejudge(spec: Any, session: RoleSession) -> Any:
    """The noise floor's re-judging for AlpacaEval 2.0: the same annotator, never answering from the cache."""
    annotator = make_annotator(spec, session, uncached=True)

    def again(annotations: list[dict[str, Any]]) -> list[float | None]:
        records = annotator.annotate([a["instruction"] for a in annotations],
                                     [a["output_1"] for a in annotations], [a["output_2"] for a in annotations],
                                     generator_1="baseline", generator_2="model")
        return [None if r["failed"] else float(r["preference"]) for r in records]

    return again, annotator.fingerprint
