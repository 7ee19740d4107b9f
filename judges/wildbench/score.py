"""WB-Score: checklist-guided 1-10 grading of one output per task, rescaled (S - 5) * 2, task-macro averaged.

Prompt (upstream `src/eval.py`, mode score): the v2 template with `{$history}`, `{$user_query}`, `{$model_output}`
(each cut to `max_words_to_eval` = 1000 words, marked "... (truncated)") and `{$checklist}` as "- item" lines,
sent as one user message at temperature 0. An empty output is scored 1 without asking the judge, as upstream.
The answer is JSON with a "score" (json.loads, else upstream's regex extraction); sftbench also requires
1 <= score <= 10 and asks again when it cannot read one. Aggregation is leaderboard/data_dir/_create_tables.py
(score mode): the mean of the scores; per task group the mean over outputs that are neither empty nor
truncated; the task macro is the weighted sum over groups divided by the sum of all five weights.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Mapping, Sequence

from sftbench.judges.injection import RULES_VERSION, count_flagged, flag_judge_injection
from sftbench.judges.text_grader import TextGrader
from sftbench.judges.wildbench.data import TASK_WEIGHTS, history_and_query

MAX_WORDS_TO_EVAL = 1000
TRUNCATED = "... (truncated)"
JUDGE_TEMPERATURE, JUDGE_MAX_TOKENS = 0.0, 1024  # src/eval.py defaults
PARSER_VERSION = "wildbench-json-v1"
REMINDER = "\n\n(Attempt {attempt}: reply with the JSON object asked for above only, every placeholder filled in.)"
EMPTY_SCORE_RESULT = {"strengths": "N/A", "weaknesses": "The model output is empty.", "score": "1"}


def shorten(text: str, max_words: int = MAX_WORDS_TO_EVAL) -> str:
    if max_words > 0 and len(text.split(" ")) > max_words:
        return " ".join(text.split(" ")[:max_words]) + TRUNCATED
    return text


def checklist_markdown(checklist: Sequence[str]) -> str:
    return "".join(f"- {item}\n" for item in checklist)


def extract_values(text: str, keys: Sequence[str]) -> dict[str, str]:
    """Upstream's `extract_values_from_json`: '"key": "value"' pairs from malformed JSON."""
    found = {}
    for key in keys:
        if key not in text:
            continue
        match = (re.search(rf'"{key}"\s*:\s*"([^"]*?)"', text)
                 or re.search(rf'"{key}"\s*:\s*"(.*?)"', text, re.DOTALL))
        if match:
            found[key] = match.group(1)
    return found


def parse_judge_json(text: str) -> dict[str, Any]:
    """Upstream's `parse_result`: json.loads of the stripped answer, else the regex extraction of score/choice."""
    try:
        parsed = json.loads(text.strip())
        if isinstance(parsed, dict):
            return parsed
    except ValueError:
        pass
    return extract_values(text, ["score", "choice"])


def parse_score(text: str) -> float:
    value = parse_judge_json(text).get("score")
    if value is None:
        raise ValueError('no "score" in the judgment')
    try:
        score = float(str(value).strip().strip("[]"))
    except ValueError:
        raise ValueError(f'"score" is {value!r}, not a number') from None
    if not 1.0 <= score <= 10.0:
        raise ValueError(f"score {score} outside 1..10")
    return score


def render_score_prompt(template: str, task: dict[str, Any], output: str, max_words: int = MAX_WORDS_TO_EVAL) -> str:
    history, query = history_and_query(task)
    prompt = template.replace("{$history}", shorten(history, max_words))
    prompt = prompt.replace("{$user_query}", shorten(query, max_words))
    prompt = prompt.replace("{$model_output}", shorten(output, max_words))
    return prompt.replace("{$checklist}", checklist_markdown(task["checklist"]))


def judge_scores(tasks: Sequence[dict[str, Any]], outputs: Mapping[str, str], grader: TextGrader, template: str,
                 model_id: str, max_words: int = MAX_WORDS_TO_EVAL) -> list[dict[str, Any]]:
    """One record per task (upstream's per-example fields plus sftbench's); `outputs`: session_id -> output."""
    missing = [t["session_id"] for t in tasks if t["session_id"] not in outputs]
    if missing:
        raise ValueError(f"WildBench: no outputs for {len(missing)} task(s), e.g. {missing[:3]}")
    asked = [t for t in tasks if outputs[t["session_id"]].strip()]
    grades = grader.grade_many([[{"role": "user", "content": render_score_prompt(template, t, outputs[t["session_id"]],
                                                                                 max_words)}] for t in asked],
                               parse_score, REMINDER, desc="wb-score judge")
    by_id = {t["session_id"]: g for t, g in zip(asked, grades)}
    fingerprint = {**grader.fingerprint, "benchmark": "wildbench-score", "parser_version": PARSER_VERSION,
                   "template_sha256": text_sha256(template), "max_words_to_eval": max_words,
                   "injection_rules": RULES_VERSION}
    records = []
    for t in tasks:
        sid, output = t["session_id"], outputs[t["session_id"]]
        grade = by_id.get(sid)
        if grade is None:  # empty output: upstream's fixed verdict, no call
            parsed, text, score, attempts, error = EMPTY_SCORE_RESULT, json.dumps(EMPTY_SCORE_RESULT), 1.0, 0, None
        else:
            parsed = parse_judge_json(grade.text) if not grade.failed else {"N/A": "N/A"}
            text, score, attempts, error = grade.text, grade.value, grade.attempts, grade.error
        records.append({"session_id": sid, "parsed_result": parsed, "model_test": model_id, "score": score,
                        "model_output": shorten(output, max_words), "judgment": text, "failed": score is None,
                        "attempts": attempts, "parse_error": error, "judge_injection": flag_judge_injection(output),
                        "judge_fingerprint": fingerprint})
    return records


def wb_score_items(records: Sequence[dict[str, Any]],
                   categories: Mapping[str, Sequence[str]] | None = None) -> dict[str, float | None]:
    """Per task, its share of the run's WB-Score (x10 scale), for paired statistics: the plain mean over the tasks
    not None is `WB_score.task_macro` (with categories) or `WB_score` (every parsed grade). The task macro is
    linear in the grades, sum_i a_i s_i - b, so task i's share is N a_i s_i - b over the N tasks it counts
    (parsed, neither empty nor truncated)."""
    grades, slopes, offset = _macro_terms(records, categories)
    return {sid: None if slope is None else grades[sid] * slope - offset for sid, slope in slopes.items()}


def wb_score_slopes(records: Sequence[dict[str, Any]],
                    categories: Mapping[str, Sequence[str]] | None = None) -> dict[str, float | None]:
    """Per task, how far its share (`wb_score_items`) moves per grade point: 20 for a plain mean, N a_i x 20 over
    the task macro (its groups' weights over their sizes); None for a task the number does not count."""
    return _macro_terms(records, categories)[1]


def _macro_terms(records: Sequence[dict[str, Any]], categories: Mapping[str, Sequence[str]] | None
                 ) -> tuple[dict[str, float], dict[str, float | None], float]:
    """(grade per counted task, share per grade point per task (None: not counted), offset): share = grade x
    slope - offset."""
    parsed = {r["session_id"]: float(r["score"]) for r in records if r.get("score") is not None
              and not r.get("failed")}
    if categories is None:
        return parsed, {r["session_id"]: 20.0 if r["session_id"] in parsed else None for r in records}, 100.0
    counted = {r["session_id"]: parsed[r["session_id"]] for r in records if r["session_id"] in parsed
               and not r["model_output"].endswith(TRUNCATED) and len(r["model_output"])}
    n_group: dict[str, int] = {}
    for sid in counted:
        for tag in categories[sid]:
            n_group[tag] = n_group.get(tag, 0) + 1
    total = sum(TASK_WEIGHTS.values())
    offset = 100 * sum(TASK_WEIGHTS[t] for t in n_group) / total
    n = len(counted)
    slopes = {r["session_id"]: None if r["session_id"] not in counted else
              n * 20 / total * sum(TASK_WEIGHTS[t] / n_group[t] for t in categories[r["session_id"]])
              for r in records}
    return counted, slopes, offset


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def wb_score_metrics(records: Sequence[dict[str, Any]],
                     categories: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """The leaderboard's score row: score, adjusted_score, task_macro_score, per group, total, avg_len (+ WB_*
    columns x10 as in all_stat_wildbench), and sftbench's counts of unparsed and flagged items."""
    parsed = [r for r in records if r.get("score") is not None and not r.get("failed")]
    scores = [float(r["score"]) for r in parsed]
    lengths, by_group = [], {}
    for r in parsed:
        out = r["model_output"]
        if out.endswith(TRUNCATED) or len(out) == 0:
            continue
        lengths.append(len(out))
        if categories is not None:
            if r["session_id"] not in categories:
                raise ValueError(f"WB-Score: no task categories for session {r['session_id']!r} (load the tasks)")
            for tag in categories[r["session_id"]]:
                by_group.setdefault(tag, []).append(float(r["score"]))
    mean = sum(scores) / len(scores) if scores else None
    group_scores = {tag: (sum(v) / len(v) - 5) * 2 for tag, v in by_group.items()}
    macro = (sum(group_scores[t] * TASK_WEIGHTS[t] for t in group_scores) / sum(TASK_WEIGHTS.values())
             if categories is not None and group_scores else None)
    x10 = (lambda v: None if v is None else v * 10)  # noqa: E731
    return {
        "score": mean, "adjusted_score": None if mean is None else (mean - 5) * 2,
        "task_macro_score": macro, "adjusted_task_macro_score": macro, "task_categorized_scores": group_scores,
        "total": len(parsed), "avg_len": sum(lengths) / len(lengths) if lengths else None,
        "WB_score": x10(None if mean is None else (mean - 5) * 2), "WB_score.task_macro": x10(macro),
        **{f"WB_score.{t}": v * 10 for t, v in group_scores.items()},
        "n_items": len(records), "n_parsed": len(parsed), "n_unparsed": len(records) - len(parsed),
        "complete": len(parsed) == len(records), "n_flagged_injection": count_flagged(records),
    }


__all__ = ["judge_scores", "wb_score_metrics", "wb_score_items", "wb_score_slopes", "render_score_prompt", "parse_score", "parse_judge_json", "shorten",
           "JUDGE_TEMPERATURE", "JUDGE_MAX_TOKENS", "MAX_WORDS_TO_EVAL"]
