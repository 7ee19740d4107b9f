"""WildBench's step kinds: the checkpoint answers each task's conversation, then the suite's LLM judge grades the
answers (WB-Score) and, for each reference model given, compares them pairwise (WB-Reward)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sftbench.common.rows import read_jsonl, write_jsonl
from sftbench.suites.engine.step import Step, StepContext, one_gpu, step_kind


def input_identity(path: Path | None, field: str) -> str:
    """What a local file contributes to a step hash (its sha256), or the pinned hub revision it comes from."""
    from sftbench.judges.wildbench.data import HUB_REVISION, OUTPUTS_REVISION
    from sftbench.common.hashing import hash_local
    if path is None:
        return f"hub@{OUTPUTS_REVISION if field.startswith('references') else HUB_REVISION}"
    return hash_local(path, f"evaluation.wildbench.{field}")


def select_tasks(tasks_path: Path | None, max_tasks: int | None) -> list[dict[str, Any]]:
    """The suite's tasks (first `max_tasks` in file order), reduced to the fields judging needs."""
    from sftbench.judges.wildbench import load_tasks
    tasks = load_tasks(tasks_path)
    if max_tasks is not None:
        tasks = tasks[:max_tasks]
    return [{"session_id": str(t["session_id"]), "primary_tag": t.get("primary_tag"),
             "secondary_tags": [] if t.get("secondary_tags") is None else [str(s) for s in t["secondary_tags"]],
             "checklist": [str(c) for c in t["checklist"]],
             "conversation_input": [{"role": m["role"], "content": m["content"]} for m in t["conversation_input"]]}
            for t in tasks]


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


@step_kind("wbanswers", resources=one_gpu)
def answers_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict[str, Any]:
    from sftbench.judges.wildbench import generate_outputs
    from sftbench.judges.wildbench.data import HUB_REVISION, HUB_TASKS
    from sftbench.suites.models.generate import decoding_record, generate_chat
    cfg, backend, model_dir, model_id = step.config, step.args["backend"], inputs["model"], step.key.name
    tasks_path, max_new_tokens, batch_size = _path(cfg["tasks_path"]), cfg["max_new_tokens"], cfg["batch_size"]
    threads, progress = ctx.threads, ctx.progress
    tasks = select_tasks(tasks_path, cfg["max_tasks"])

    def chat(conversations: list[list[dict[str, str]]]) -> list[str]:
        return generate_chat(model_dir, conversations, max_new_tokens=max_new_tokens, batch_size=batch_size,
                             threads=threads, progress=progress, backend=backend)

    outputs = generate_outputs(tasks, chat)
    write_jsonl(out / "tasks.jsonl", tasks)
    write_jsonl(out / "outputs.jsonl", [{"session_id": sid, "output": text, "generator": model_id}
                                        for sid, text in outputs.items()])
    source = str(tasks_path) if tasks_path is not None else f"{HUB_TASKS} (revision {HUB_REVISION})"
    return {"n_tasks": len(tasks), "tasks_source": source,
            "decoding": decoding_record(model_dir, max_new_tokens, batch_size, backend)}


@step_kind("wbjudge")
def judge_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict[str, Any]:
    from sftbench.judges.wildbench import load_reference_outputs, make_grader, run_wildbench
    cfg, answers_dir, session = step.config, inputs["answers"], ctx.roles(step.args["roles"])
    templates_dir, K = _path(cfg["templates_dir"]), cfg["K"]
    references = {name: _path(path) for name, path in cfg["references"].items()}
    tasks = read_jsonl(answers_dir / "tasks.jsonl", validate=False)
    rows = read_jsonl(answers_dir / "outputs.jsonl", validate=False)
    outputs = {r["session_id"]: r["output"] for r in rows}
    model_id = rows[0]["generator"] if rows else "model"
    ids = {t["session_id"] for t in tasks}
    refs = {name: {sid: o for sid, o in load_reference_outputs(name, path).items() if sid in ids}
            for name, path in references.items()}
    llm, client = session.llm_client("judge", "WildBench")
    grader = make_grader(llm, client, progress=session.progress)
    result = run_wildbench(tasks, outputs, grader, model_id, refs, K=K, templates_dir=templates_dir)
    write_jsonl(out / "score_records.jsonl", result.score_records)
    for name, records in result.reward_records.items():
        write_jsonl(out / f"reward_records.{name}.jsonl", records)
    scores = {"score": result.score_metrics, "reward": result.reward_metrics, "mixture": result.mixture, "K": K}
    (out / "scores.json").write_text(json.dumps(scores, indent=1) + "\n")
    return {"wildbench": headline(scores), "judge_fingerprint": grader.fingerprint}


def headline(scores: dict[str, Any]) -> dict[str, Any]:
    m, mix = scores["score"], scores.get("mixture")
    out = {"WB_score": m.get("WB_score.task_macro"), "WB_score_mean": m.get("WB_score"),
           "task_groups": {g: v * 10 for g, v in (m.get("task_categorized_scores") or {}).items()},
           "n_unparsed": m.get("n_unparsed"), "n": m.get("n_items"), "complete": m.get("complete")}
    if mix:
        out.update({"WB_reward": mix.get("mixture_of_rewards"), "WB_reward_task_macro": mix.get("task_macro_reward"),
                    "references": mix.get("references"), "reward_n_unparsed": mix.get("n_unparsed"),
                    "K": scores.get("K")})
    return out


@step_kind("wbnoisefloor")
def noise_floor_body(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict[str, Any]:
    """WildBench's judge-noise floor: a fixed sample of the stored WB-Score grades (of the judge steps in
    `args.judged`, each with its answers step) graded again with the same checklist prompt through a client that
    never answers from the response cache. Compared in the column's own scale: each task's share of its run's
    WB-Score (`wb_score_items`), which a grade moves by the task's slope (`wb_score_slopes`: its groups' weights)."""
    from sftbench.judges.wildbench import load_template, make_grader, task_categories
    from sftbench.judges.wildbench.score import (REMINDER, parse_score, render_score_prompt, wb_score_items,
                                                 wb_score_slopes)
    from sftbench.suites.evaluations.noise_floor import noise_floor_step
    session = ctx.roles(step.args["roles"])
    llm, client = session.llm_client("judge", "WildBench's noise floor", uncached=True)
    grader = make_grader(llm, client, progress=session.progress)
    template = load_template("score", _path(step.config["templates_dir"]))
    stored, context = {}, {}
    for name in step.args["judged"]:
        records = read_jsonl(inputs[name] / "score_records.jsonl", validate=False)
        answers = inputs[f"{name}.answers"]
        tasks = {t["session_id"]: t for t in read_jsonl(answers / "tasks.jsonl", validate=False)}
        outputs = {r["session_id"]: r["output"] for r in read_jsonl(answers / "outputs.jsonl", validate=False)}
        categories = {sid: task_categories(t) for sid, t in tasks.items()}
        if not all(r["session_id"] in categories for r in records):  # as the leaderboard reads it (plugin.result)
            categories = None
        shares, slopes = wb_score_items(records, categories), wb_score_slopes(records, categories)
        # a task the number does not count (unparsed, empty or truncated answer; no call made) is not sampled
        stored[name] = [{**r, "share": shares[r["session_id"]], "slope": slopes[r["session_id"]], "judge_step": name,
                         "failed": shares[r["session_id"]] is None or r.get("attempts") == 0} for r in records]
        context[name] = (tasks, outputs)

    def again(records: list[dict[str, Any]]) -> list[float | None]:
        prompts = []
        for r in records:
            tasks, outputs = context[r["judge_step"]]
            prompts.append([{"role": "user", "content": render_score_prompt(template, tasks[r["session_id"]],
                                                                            outputs[r["session_id"]])}])
        grades = grader.grade_many(prompts, parse_score, REMINDER, desc="wb-score noise floor")
        return [None if g.failed else r["share"] + r["slope"] * (float(g.value) - float(r["score"]))
                for r, g in zip(records, grades)]

    return noise_floor_step(stored, again, grader.fingerprint, step.config["sample_size"], step.config["seed"], out,
                            value="share", middle=None, unit="WB-Score shares")
