"""MT-Bench's step kinds: the checkpoint answers both turns of every question, then the suite's LLM judge grades
every turn with the published prompts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sftbench.common.rows import read_jsonl, write_jsonl
from sftbench.suites.engine.step import Step, StepContext, one_gpu, step_kind


def _data_dir(step: Step) -> Path | None:
    return Path(step.args["data_dir"]) if step.args.get("data_dir") else None


@step_kind("mtanswers", resources=one_gpu)
def answers_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict[str, Any]:
    from sftbench.judges.mt_bench import answer_questions, load_mt_bench
    from sftbench.suites.models.generate import decoding_record, generate_chat
    cfg, backend, model_dir = step.config, step.args["backend"], inputs["model"]
    data = load_mt_bench(_data_dir(step))

    def chat(conversations: list[list[dict[str, str]]], **_: Any) -> list[str]:
        return generate_chat(model_dir, conversations, max_new_tokens=cfg["max_new_tokens"],
                             batch_size=cfg["batch_size"], threads=ctx.threads, progress=ctx.progress, backend=backend)

    answers = answer_questions(data.questions, chat, step.key.name)
    write_jsonl(out / "answers.jsonl", answers)
    return {"n_questions": len(answers), "data": data.provenance,
            "decoding": decoding_record(model_dir, cfg["max_new_tokens"], cfg["batch_size"], backend)}


@step_kind("mtjudge")
def judge_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict[str, Any]:
    from sftbench.judges.mt_bench import judge_answers, load_mt_bench, make_grader, mt_bench_scores
    session = ctx.roles(step.args["roles"])
    cfg, client = session.llm_client("judge", "MT-Bench")
    grader = make_grader(cfg, client, progress=session.progress)
    judgments = judge_answers(load_mt_bench(_data_dir(step)),
                              read_jsonl(inputs["answers"] / "answers.jsonl", validate=False), grader)
    write_jsonl(out / "judgments.jsonl", judgments)
    scores = mt_bench_scores(judgments)
    (out / "scores.json").write_text(json.dumps(scores, indent=1) + "\n")
    return {"mt_bench": {k: scores[k] for k in ("score", "turn_1", "turn_2", "n_unparsed", "complete")},
            "judge_fingerprint": grader.fingerprint}


@step_kind("mtnoisefloor")
def noise_floor_step_body(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict[str, Any]:
    """MT-Bench's judge-noise floor: a fixed sample of the stored grades (of the judge steps in `args.judged`)
    graded again, exactly as first (the same system prompt and user prompt), through a client that never answers
    from the response cache."""
    from sftbench.judges.mt_bench import load_mt_bench, make_grader
    from sftbench.judges.mt_bench.judge import REMINDER, parse_rating
    from sftbench.suites.evaluations.noise_floor import noise_floor_step
    session = ctx.roles(step.args["roles"])
    cfg, client = session.llm_client("judge", "MT-Bench's noise floor", uncached=True)
    grader = make_grader(cfg, client, progress=session.progress)
    prompts = load_mt_bench(_data_dir(step)).judge_prompts
    stored = {name: read_jsonl(inputs[name] / "judgments.jsonl", validate=False) for name in step.args["judged"]}

    def again(judgments: list[dict[str, Any]]) -> list[float | None]:
        conversations = [[{"role": "system", "content": prompts[j["judge"][1]]["system_prompt"]},
                          {"role": "user", "content": j["user_prompt"]}] for j in judgments]
        grades = grader.grade_many(conversations, parse_rating, REMINDER, desc="mt-bench noise floor")
        return [None if g.failed else float(g.value) for g in grades]

    return noise_floor_step(stored, again, grader.fingerprint, step.config["sample_size"], step.config["seed"], out,
                            value="score", middle=None, unit="grades")
