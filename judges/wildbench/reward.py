"""WB-Reward: checklist-guided pairwise judgments against a reference model, with the length penalty K.

Prompt (upstream `src/eval.py`, mode pairwise): the v2 template with the two responses as A and B, the test
model placed as A when `random.random() < 0.5` on a generator seeded with 42 and advanced once per task in
order (upstream's assignment for a full run); empty responses read "[This model response is empty.]", and a
pair with an empty side gets upstream's fixed verdict without a call (both empty: A=B; one empty: the other ++).
The judge's "choice" (A++, A+, A=B, B+, B++) gives a winner and an extent (2 much, 1 slightly).

Reward (leaderboard/data_dir/_create_tables.py, pairwise mode): +1 / +0.5 / 0 / -0.5 / -1 for win much / win /
tie / lose / lose much, divided by the number of judged tasks; pairs where either side is truncated or empty
are not counted but stay in that number. Length penalty (the paper's K): a slight win (or loss) whose winner is
longer than the loser by more than K characters counts as a tie; K = -1 disables it (the paper's default is
K = 500). An unparsed judgment counts as a tie (reward 0), is flagged and counted.
"""

from __future__ import annotations

import json
import random
from typing import Any, Mapping, Sequence

from sftbench.judges.injection import RULES_VERSION, count_flagged, flag_judge_injection
from sftbench.judges.text_grader import TextGrader
from sftbench.judges.wildbench.data import TASK_WEIGHTS, history_and_query
from sftbench.judges.wildbench.score import (MAX_WORDS_TO_EVAL, PARSER_VERSION, REMINDER, TRUNCATED, checklist_markdown,
                                    parse_judge_json, shorten, text_sha256)

EMPTY = "[This model response is empty.]"
CHOICES = {"A++": ("A", 2), "A+": ("A", 1), "A=B": ("tie", 0), "B+": ("B", 1), "B++": ("B", 2)}
DEFAULT_K = 500
POINTS = {"win_much": 1.0, "win": 0.5, "tie": 0.0, "lose": -0.5, "lose_much": -1.0}


def parse_choice(text: str) -> str:
    choice = str(parse_judge_json(text).get("choice", "")).strip()
    if choice not in CHOICES:
        raise ValueError(f'"choice" is {choice!r}, expected one of {list(CHOICES)}')
    return choice


def assignments(n: int, seed: int = 42) -> list[bool]:
    """True where the test model is response A (upstream: random.seed(42); random.random() < 0.5 per task)."""
    rng = random.Random(seed)
    return [rng.random() < 0.5 for _ in range(n)]


def render_pairwise_prompt(template: str, task: dict[str, Any], a: str, b: str,
                           max_words: int = MAX_WORDS_TO_EVAL) -> str:
    history, query = history_and_query(task)
    a_str, b_str = shorten(a, max_words), shorten(b, max_words)
    prompt = template.replace("{$history}", shorten(history, max_words))
    prompt = prompt.replace("{$user_query}", shorten(query, max_words))
    prompt = prompt.replace("{$candidate_A}", a_str if a_str.strip() else EMPTY)
    prompt = prompt.replace("{$candidate_B}", b_str if b_str.strip() else EMPTY)
    return prompt.replace("{$checklist}", checklist_markdown(task["checklist"]))


def _fixed_choice(a: str, b: str) -> str | None:
    if not a.strip() and not b.strip():
        return "A=B"
    if not a.strip():
        return "B++"
    if not b.strip():
        return "A++"
    return None


def judge_rewards(tasks: Sequence[dict[str, Any]], outputs: Mapping[str, str], ref_outputs: Mapping[str, str],
                  grader: TextGrader, template: str, model_id: str, ref_model: str, seed: int = 42,
                  max_words: int = MAX_WORDS_TO_EVAL) -> list[dict[str, Any]]:
    """One pairwise record per task: winner (a model name or 'tie'), extent, both (shortened) outputs."""
    for name, table in (("outputs", outputs), ("reference outputs", ref_outputs)):
        missing = [t["session_id"] for t in tasks if t["session_id"] not in table]
        if missing:
            raise ValueError(f"WildBench: {name} missing for {len(missing)} task(s), e.g. {missing[:3]}")
    test_is_a = assignments(len(tasks), seed)
    pairs = []
    for t, a_is_test in zip(tasks, test_is_a):
        out, ref = outputs[t["session_id"]], ref_outputs[t["session_id"]]
        pairs.append((t, a_is_test, *((out, ref) if a_is_test else (ref, out))))
    asked = [(i, render_pairwise_prompt(template, t, a, b, max_words)) for i, (t, _, a, b) in enumerate(pairs)
             if _fixed_choice(a, b) is None]
    grades = dict(zip([i for i, _ in asked], grader.grade_many([[{"role": "user", "content": p}] for _, p in asked],
                                                                parse_choice, REMINDER, desc="wb-reward judge")))
    fingerprint = {**grader.fingerprint, "benchmark": "wildbench-reward", "parser_version": PARSER_VERSION,
                   "template_sha256": text_sha256(template), "max_words_to_eval": max_words, "assignment_seed": seed,
                   "injection_rules": RULES_VERSION}
    records = []
    for i, (t, a_is_test, a, b) in enumerate(pairs):
        model_a, model_b = (model_id, ref_model) if a_is_test else (ref_model, model_id)
        fixed, grade = _fixed_choice(a, b), grades.get(i)
        choice = fixed if fixed is not None else grade.value
        side, extent = CHOICES[choice] if choice is not None else (None, None)
        shown = {m: (s if s.strip() else EMPTY) for m, s in ((model_a, shorten(a, max_words)),
                                                             (model_b, shorten(b, max_words)))}
        records.append({
            "session_id": t["session_id"], "model_A": model_a, "model_B": model_b, "test_model": model_id,
            "ref_model": ref_model, "choice": choice, "extent": extent,
            "winner": None if side is None else ("tie" if side == "tie" else (model_a if side == "A" else model_b)),
            "model_outputs": shown,
            "judgment": json.dumps({"choice": fixed}) if fixed is not None else grade.text,
            "failed": choice is None, "attempts": 0 if fixed is not None else grade.attempts,
            "parse_error": None if fixed is not None else grade.error,
            "judge_injection": flag_judge_injection(outputs[t["session_id"]]), "judge_fingerprint": fingerprint})
    return records


def _label(r: dict[str, Any], K: int) -> str | None:
    """win_much / win / tie / lose / lose_much for the test model; None when the pair is not counted."""
    test, ref = r["model_outputs"][r["test_model"]], r["model_outputs"][r["ref_model"]]
    if test.endswith(TRUNCATED) or ref.endswith(TRUNCATED) or test == EMPTY or ref == EMPTY:
        return None
    if r.get("failed") or r["winner"] is None:
        return "unparsed"
    if r["winner"] == r["test_model"]:
        if r["extent"] == 2:
            return "win_much"
        return "tie" if K >= 0 and len(test) > len(ref) + K else "win"
    if r["winner"] == r["ref_model"]:
        if r["extent"] == 2:
            return "lose_much"
        return "tie" if K >= 0 and len(ref) > len(test) + K else "lose"
    return "tie"


def wb_reward_metrics(records: Sequence[dict[str, Any]], K: int = DEFAULT_K,
                      categories: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """The leaderboard's pairwise row: counts, reward (x100), task-group rewards and the weighted task macro."""
    counts = dict.fromkeys([*POINTS, "unparsed"], 0)
    lengths, by_group = [], {}
    for r in records:
        label = _label(r, K)
        if label is None:
            continue
        counts[label] += 1
        lengths.append(len(r["model_outputs"][r["test_model"]]))
        for tag in (categories[r["session_id"]] if categories is not None else ()):
            by_group.setdefault(tag, []).append(POINTS.get(label, 0.0))
    total = len(records)
    reward = sum(POINTS[k] * counts[k] for k in POINTS) / total if total else None
    group_rewards = {t: sum(v) / len(v) for t, v in by_group.items()}
    macro = (sum(group_rewards[t] * TASK_WEIGHTS[t] for t in group_rewards) / sum(TASK_WEIGHTS.values())
             if categories is not None and group_rewards else None)
    return {**counts, "total": total, "K": K, "reward": None if reward is None else reward * 100,
            "task_categorized_rewards": {t: v * 100 for t, v in group_rewards.items()},
            "task_macro_reward": None if macro is None else macro * 100,
            "avg_len": sum(lengths) / len(lengths) if lengths else None,
            "n_unparsed": counts["unparsed"], "complete": counts["unparsed"] == 0,
            "n_flagged_injection": count_flagged(records)}


def wb_reward_items(records: Sequence[dict[str, Any]], K: int = DEFAULT_K) -> dict[str, float]:
    """Per task, its reward x100 (0 for a pair not counted or unparsed): their mean is `wb_reward_metrics`'s
    `reward`, for paired statistics."""
    return {r["session_id"]: POINTS.get(_label(r, K) or "", 0.0) * 100 for r in records}


def mixture_of_rewards(by_reference: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The leaderboard's WB-Reward mix: the mean reward (and task macro) over the reference models."""
    rewards = [m["reward"] for m in by_reference.values() if m["reward"] is not None]
    macros = [m["task_macro_reward"] for m in by_reference.values() if m["task_macro_reward"] is not None]
    return {"mixture_of_rewards": sum(rewards) / len(rewards) if rewards else None,
            "task_macro_reward": sum(macros) / len(macros) if len(macros) == len(by_reference) and macros else None,
            "references": sorted(by_reference), "n_unparsed": sum(m["n_unparsed"] for m in by_reference.values())}


__all__ = ["judge_rewards", "wb_reward_metrics", "wb_reward_items", "mixture_of_rewards", "parse_choice", "assignments",
           "render_pairwise_prompt", "CHOICES", "DEFAULT_K"]
