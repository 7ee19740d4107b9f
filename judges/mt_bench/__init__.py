"""MT-Bench (Zheng et al., 2023): 80 two-turn questions, single-answer grading by an LLM judge, 1-10 ratings.

    data     the questions, GPT-4 reference answers and judge prompts (FastChat at a pinned commit, or local)
    judge    the model under test answers both turns (`answer_questions`); FastChat's judge prompts and rating
             parser over sftbench's LLM clients (`judge_answers`)
    scores   overall / per-turn / per-category tables, unparsed judgments counted
    grader   the text-answer grader shared with WildBench (cached, costed, parse retries)

    data = load_mt_bench()                          # or load_mt_bench("../shared/data/mt_bench")
    result = run_mt_bench(data, generate_chat, grader, model_id="my-model")
    result.scores["score"], result.scores["table"], result.scores["n_unparsed"]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftbench.judges.mt_bench.data import MTBenchData, load_mt_bench
from sftbench.judges.text_grader import Grade, TextGrader
from sftbench.judges.mt_bench.judge import (JUDGE_MAX_TOKENS, JUDGE_TEMPERATURE, GenerateChat, answer_questions,
                                   judge_answers, parse_rating)
from sftbench.judges.mt_bench.scores import mt_bench_scores, scores_markdown


@dataclass
class MTBenchResult:
    answers: list[dict[str, Any]]
    judgments: list[dict[str, Any]]
    scores: dict[str, Any]


def make_grader(cfg: Any, client: Any, progress: bool = False) -> TextGrader:
    """A TextGrader with MT-Bench's published judge decoding (temperature 0, 2048 tokens) for a judge config."""
    return TextGrader.from_config(cfg, client, temperature=JUDGE_TEMPERATURE, max_tokens=JUDGE_MAX_TOKENS,
                                  progress=progress)


def run_mt_bench(data: MTBenchData, generate_chat: GenerateChat, grader: TextGrader, model_id: str,
                 system: str | None = None, fastchat_temperatures: bool = False) -> MTBenchResult:
    """Answer both turns with the model under test, judge every turn, and tabulate."""
    answers = answer_questions(data.questions, generate_chat, model_id, system=system,
                               fastchat_temperatures=fastchat_temperatures)
    judgments = judge_answers(data, answers, grader)
    return MTBenchResult(answers, judgments, mt_bench_scores(judgments))


__all__ = ["MTBenchData", "MTBenchResult", "load_mt_bench", "run_mt_bench", "make_grader", "answer_questions",
           "judge_answers", "parse_rating", "mt_bench_scores", "scores_markdown", "TextGrader", "Grade",
           "GenerateChat"]
