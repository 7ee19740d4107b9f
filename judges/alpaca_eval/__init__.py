"""AlpacaEval 2.0 (Dubois et al., 2024): pairwise judgments against gpt4_1106_preview, win rate and LC win rate.

    data        the 805 instructions + baseline outputs (pinned GitHub file, hub, or local), df_gamed (hub/local)
    configs     alpaca_eval annotator configs by name, from the installed package
    annotator   the exact port of alpaca_eval's pairwise annotation over sftbench's LLM clients
    metrics     WR, LC (alpaca_eval's GLM), avg length, bootstrap CIs with a GLM refit per resample
    injection   judge-injection flags shared by AlpacaEval, MT-Bench and WildBench

    eval_set = load_eval_set()                                   # or load_eval_set("model_outputs.json.gz")
    annotator = AlpacaEvalAnnotator.from_role_config(judge_cfg, client)   # weighted_alpaca_eval_gpt4_turbo
    result = run_alpaca_eval(eval_set, outputs, annotator, generator="my-model", df_gamed=df_gamed_path(...))
    result.metrics["win_rate"], result.metrics["lc_win_rate_ci"]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from sftbench.judges.alpaca_eval.annotator import AlpacaEvalAnnotator, is_switched, parse_preference, render_messages
from sftbench.judges.alpaca_eval.configs import DEFAULT_ANNOTATOR, AnnotatorConfig, available_annotators, load_annotator_config
from sftbench.judges.alpaca_eval.data import BASELINE, EvalSet, df_gamed_path, load_eval_set, slice_df_gamed
from sftbench.judges.injection import flag_judge_injection
from sftbench.judges.alpaca_eval.metrics import alpaca_eval_metrics, annotation_arrays, load_annotations


@dataclass
class AlpacaEvalResult:
    annotations: list[dict[str, Any]]
    metrics: dict[str, Any]


def run_alpaca_eval(eval_set: EvalSet, outputs: Sequence[str], annotator: AlpacaEvalAnnotator, generator: str,
                    df_gamed: str | Path, glm_name: str = "length_controlled_v1") -> AlpacaEvalResult:
    """Annotate the model's outputs (aligned with `eval_set.rows`) against the baseline and compute the metrics."""
    if len(outputs) != len(eval_set.rows):
        raise ValueError(f"run_alpaca_eval: {len(outputs)} outputs for {len(eval_set.rows)} eval instructions")
    annotations = annotator.annotate(eval_set.instructions, eval_set.baseline_outputs, list(outputs),
                                     generator_1=eval_set.baseline_name, generator_2=generator,
                                     datasets=[r.get("dataset", "") for r in eval_set.rows])
    metrics = alpaca_eval_metrics(annotations, df_gamed, glm_name=glm_name)
    metrics["judge_fingerprint"] = annotator.fingerprint
    metrics["eval_set"] = eval_set.provenance
    return AlpacaEvalResult(annotations, metrics)


__all__ = ["AlpacaEvalAnnotator", "AlpacaEvalResult", "AnnotatorConfig", "EvalSet", "run_alpaca_eval",
           "alpaca_eval_metrics", "annotation_arrays", "load_annotations", "load_eval_set", "df_gamed_path", "slice_df_gamed",
           "load_annotator_config",
           "available_annotators", "flag_judge_injection", "is_switched", "parse_preference", "render_messages",
           "DEFAULT_ANNOTATOR", "BASELINE"]
