"""WildBench v2 (Lin et al., 2024): real-user tasks judged with task-specific checklists.

    data     templates (GitHub, pinned), tasks and reference outputs (hub, or local files), task groups/weights
    score    WB-Score: 1-10 grades, (S - 5) * 2, task-macro averaged (`judge_scores`, `wb_score_metrics`)
    reward   WB-Reward: pairwise vs reference models, length penalty K (`judge_rewards`, `wb_reward_metrics`)

    tasks = load_tasks("wildbench_v2.jsonl")       # or load_tasks() with the hub reachable
    result = run_wildbench(tasks, outputs, grader, model_id="my-model", references={"haiku": haiku_outputs})
    result.score_metrics["WB_score"], result.reward_metrics["haiku"]["reward"], result.mixture["mixture_of_rewards"]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from sftbench.judges.text_grader import TextGrader
from sftbench.judges.wildbench.data import (REFERENCE_MODELS, TASK_GROUPS, TASK_WEIGHTS, load_reference_outputs, load_tasks,
                                   load_template, task_categories)
from sftbench.judges.wildbench.reward import (DEFAULT_K, judge_rewards, mixture_of_rewards, wb_reward_items,
                                              wb_reward_metrics)
from sftbench.judges.wildbench.score import (JUDGE_MAX_TOKENS, JUDGE_TEMPERATURE, judge_scores, wb_score_items,
                                             wb_score_metrics)


@dataclass
class WildBenchResult:
    score_records: list[dict[str, Any]]
    score_metrics: dict[str, Any]
    reward_records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    reward_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    mixture: dict[str, Any] | None = None


def make_grader(cfg: Any, client: Any, progress: bool = False) -> TextGrader:
    """A TextGrader with WildBench's judge decoding (temperature 0, 1024 tokens) for a judge role config."""
    return TextGrader.from_config(cfg, client, temperature=JUDGE_TEMPERATURE, max_tokens=JUDGE_MAX_TOKENS,
                                  progress=progress)


def generate_outputs(tasks: Sequence[dict[str, Any]],
                     generate_chat: Callable[[list[list[dict[str, str]]]], list[str]]) -> dict[str, str]:
    """session_id -> the model's answer to the task's conversation (its own chat template, in the runner)."""
    convs = [[{"role": m["role"], "content": m["content"]} for m in t["conversation_input"]] for t in tasks]
    answers = list(generate_chat(convs))
    if len(answers) != len(tasks):
        raise ValueError(f"generate_chat returned {len(answers)} answers for {len(tasks)} WildBench tasks")
    return {t["session_id"]: str(a) for t, a in zip(tasks, answers)}


def run_wildbench(tasks: Sequence[dict[str, Any]], outputs: Mapping[str, str], grader: TextGrader, model_id: str,
                  references: Mapping[str, Mapping[str, str]] | None = None, K: int = DEFAULT_K,
                  templates_dir: str | Path | None = None) -> WildBenchResult:
    """WB-Score of `outputs` and, for each reference model given (name -> session_id -> output), WB-Reward."""
    categories = {t["session_id"]: task_categories(t) for t in tasks}
    records = judge_scores(tasks, outputs, grader, load_template("score", templates_dir), model_id)
    result = WildBenchResult(records, wb_score_metrics(records, categories))
    if references:
        pairwise = load_template("pairwise", templates_dir)
        for name, ref_outputs in references.items():
            ref_model = REFERENCE_MODELS.get(name, name)
            recs = judge_rewards(tasks, outputs, ref_outputs, grader, pairwise, model_id, ref_model)
            result.reward_records[name] = recs
            result.reward_metrics[name] = wb_reward_metrics(recs, K=K, categories=categories)
        result.mixture = mixture_of_rewards(result.reward_metrics)
    return result


__all__ = ["WildBenchResult", "run_wildbench", "make_grader", "generate_outputs", "load_tasks", "load_template",
           "load_reference_outputs", "task_categories", "judge_scores", "wb_score_metrics", "wb_score_items",
           "judge_rewards", "wb_reward_metrics", "wb_reward_items", "mixture_of_rewards", "TASK_GROUPS", "TASK_WEIGHTS",
           "REFERENCE_MODELS", "DEFAULT_K"]
