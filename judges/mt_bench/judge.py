"""MT-Bench single-answer grading, as FastChat 0.2.36's `gen_judgment.py --mode single`, over sftbench's clients.

The model under test answers both turns through its own chat template: `answer_questions` takes the runner's
`generate_chat(conversations) -> answers` callable (a conversation is a list of {role, content} messages) and
asks all first turns, then all second turns with the model's own first answers in the history.

Judging (per question): turn 1 with `single-v1`, turn 2 with `single-v1-multi-turn` (the whole conversation,
the judge rates the second answer); questions in math/reasoning/coding use the `single-math-v1*` prompts with
GPT-4's reference answer. Messages are the prompt's system prompt plus the formatted user prompt (FastChat's
`gpt-4` conversation template), temperature 0, max_tokens 2048. The rating is FastChat's: the first `[[x]]` in
the judgment, else the first `[x]`; sftbench also requires 1 <= x <= 10 and asks again when it finds none.
An item still unparsed after the retries gets score -1 (FastChat's marker) and `failed: true`.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Callable, Sequence

from sftbench.judges.injection import RULES_VERSION, flag_judge_injection
from sftbench.judges.mt_bench.data import NEED_REF_CATS, MTBenchData
from sftbench.judges.text_grader import TextGrader

GenerateChat = Callable[[list[list[dict[str, str]]]], list[str]]
PARSER_VERSION = "mt-bench-rating-v1"  # FastChat's patterns + the 1..10 range check
JUDGE_TEMPERATURE, JUDGE_MAX_TOKENS = 0.0, 2048  # fastchat.llm_judge.common.run_judge_single
REMINDER = ('\n\n(Attempt {attempt}: after your explanation, you must give your rating strictly in the format '
            '"[[rating]]", for example: "Rating: [[5]]".)')
# fastchat.llm_judge.common.temperature_config: FastChat samples answers per category at these temperatures
ANSWER_TEMPERATURE = {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0,
                      "reasoning": 0.0, "stem": 0.1, "humanities": 0.1, "arena-hard-200": 0.0}
ONE_SCORE = re.compile(r"\[\[(\d+\.?\d*)\]\]")
ONE_SCORE_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")


def parse_rating(judgment: str) -> float:
    """FastChat's `[[rating]]` extraction; ValueError when there is none or it lies outside 1..10."""
    match = ONE_SCORE.search(judgment) or ONE_SCORE_BACKUP.search(judgment)
    if match is None:
        raise ValueError("no '[[rating]]' in the judgment")
    rating = float(ast.literal_eval(match.group(1)))
    if not 1.0 <= rating <= 10.0:
        raise ValueError(f"rating {rating} outside 1..10")
    return rating


def answer_questions(questions: Sequence[dict[str, Any]], generate_chat: GenerateChat, model_id: str,
                     system: str | None = None, fastchat_temperatures: bool = False) -> list[dict[str, Any]]:
    """Both turns of every question, in FastChat's model-answer format ({question_id, model_id, choices}).

    With `fastchat_temperatures`, generate_chat is also given `temperatures=` (one per conversation, FastChat's
    per-category sampling temperatures; 0 = greedy); otherwise the runner decides (sftbench decodes greedily)."""
    head = [{"role": "system", "content": system}] if system else []
    extra: dict[str, Any] = ({"temperatures": [ANSWER_TEMPERATURE.get(q["category"], 0.7) for q in questions]}
                             if fastchat_temperatures else {})

    def ask(conversations: list[list[dict[str, str]]], turn: int) -> list[str]:
        answers = list(generate_chat(conversations, **extra))
        if len(answers) != len(conversations):
            raise ValueError(f"generate_chat returned {len(answers)} answers for {len(conversations)} "
                             f"turn-{turn} conversations")
        return [str(a) for a in answers]

    first = ask([head + [{"role": "user", "content": q["turns"][0]}] for q in questions], 1)
    second = ask([head + [{"role": "user", "content": q["turns"][0]}, {"role": "assistant", "content": a},
                          {"role": "user", "content": q["turns"][1]}] for q, a in zip(questions, first)], 2)
    return [{"question_id": q["question_id"], "model_id": model_id, "choices": [{"index": 0, "turns": [a1, a2]}]}
            for q, a1, a2 in zip(questions, first, second)]


def judge_prompt_name(category: str, multi_turn: bool) -> str:
    base = "single-math-v1" if category in NEED_REF_CATS else "single-v1"
    return f"{base}-multi-turn" if multi_turn else base


def judge_messages(question: dict[str, Any], answer_turns: Sequence[str], prompt: dict[str, Any],
                   reference_turns: Sequence[str] | None, multi_turn: bool) -> list[dict[str, str]]:
    """System + user message exactly as FastChat's run_judge_single formats them."""
    kwargs: dict[str, str] = {}
    if reference_turns is not None:
        kwargs["ref_answer_1"] = reference_turns[0]
        if multi_turn:
            kwargs["ref_answer_2"] = reference_turns[1]
    if multi_turn:
        user = prompt["prompt_template"].format(question_1=question["turns"][0], question_2=question["turns"][1],
                                                answer_1=answer_turns[0], answer_2=answer_turns[1], **kwargs)
    else:
        user = prompt["prompt_template"].format(question=question["turns"][0], answer=answer_turns[0], **kwargs)
    return [{"role": "system", "content": prompt["system_prompt"]}, {"role": "user", "content": user}]


def judge_answers(data: MTBenchData, answers: Sequence[dict[str, Any]], grader: TextGrader) -> list[dict[str, Any]]:
    """One judgment per question and turn (2 x questions), in FastChat's judgment format plus sftbench fields."""
    by_id = {a["question_id"]: a for a in answers}
    missing = [q["question_id"] for q in data.questions if q["question_id"] not in by_id]
    if missing:
        raise ValueError(f"MT-Bench: no answers for question ids {missing[:10]}{'...' if len(missing) > 10 else ''}")
    items, conversations = [], []
    for multi_turn in (False, True):
        for q in data.questions:
            turns = by_id[q["question_id"]]["choices"][0]["turns"]
            name = judge_prompt_name(q["category"], multi_turn)
            ref = data.references.get(q["question_id"]) if q["category"] in NEED_REF_CATS else None
            ref_turns = ref["choices"][0]["turns"] if ref else None
            conversations.append(judge_messages(q, turns, data.judge_prompts[name], ref_turns, multi_turn))
            items.append((q, turns, name, 2 if multi_turn else 1))
    grades = grader.grade_many(conversations, parse_rating, REMINDER, desc="mt-bench judge")
    fingerprint = {**grader.fingerprint, "benchmark": "mt_bench", "parser_version": PARSER_VERSION,
                   "injection_rules": RULES_VERSION,
                   "data_sha256": {p["name"]: p["sha256"] for p in data.provenance}}
    out = []
    for (q, turns, name, turn), msgs, grade in zip(items, conversations, grades):
        out.append({"question_id": q["question_id"], "category": q["category"],
                    "model": by_id[q["question_id"]]["model_id"], "judge": [fingerprint["model"], name],
                    "user_prompt": msgs[-1]["content"], "judgment": grade.text,
                    "score": -1 if grade.failed else grade.value, "turn": turn, "failed": grade.failed,
                    "attempts": grade.attempts, "parse_error": grade.error,
                    "judge_injection": flag_judge_injection(*turns[:turn]), "judge_fingerprint": fingerprint})
    return out


__all__ = ["ANSWER_TEMPERATURE", "answer_questions", "judge_answers", "judge_messages", "judge_prompt_name",
           "parse_rating",
           "GenerateChat", "PARSER_VERSION", "JUDGE_TEMPERATURE", "JUDGE_MAX_TOKENS"]
