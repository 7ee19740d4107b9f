"""MT-Bench as a suite evaluation: the checkpoint answers both turns, then the suite's LLM judge grades them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sftbench.common.rows import read_jsonl, write_jsonl
from sftbench.suites.engine.roles import RoleSession


def answers_step(model_dir: Path, data_dir: Path | None, max_new_tokens: int, batch_size: int, threads: int,
                 model_id: str, out: Path, progress: bool, backend: str = "auto") -> dict[str, Any]:
    from sftbench.judges.mt_bench import answer_questions, load_mt_bench
    from sftbench.suites.models.generate import decoding_record, generate_chat

    data = load_mt_bench(data_dir)

    def chat(conversations: list[list[dict[str, str]]], **_: Any) -> list[str]:
        return generate_chat(model_dir, conversations, max_new_tokens=max_new_tokens, batch_size=batch_size,
                             threads=threads, progress=progress, backend=backend)

    answers = answer_questions(data.questions, chat, model_id)
    write_jsonl(out / "answers.jsonl", answers)
    return {"n_questions": len(answers), "data": data.provenance,
            "decoding": decoding_record(model_dir, max_new_tokens, batch_size, backend)}


def judge_step(answers_dir: Path, data_dir: Path | None, session: RoleSession, out: Path) -> dict[str, Any]:
    from sftbench.judges.mt_bench import judge_answers, load_mt_bench, make_grader, mt_bench_scores

    cfg, client = session.llm_client("judge", "MT-Bench")
    grader = make_grader(cfg, client, progress=session.progress)
    judgments = judge_answers(load_mt_bench(data_dir), read_jsonl(answers_dir / "answers.jsonl", validate=False),
                              grader)
    write_jsonl(out / "judgments.jsonl", judgments)
    scores = mt_bench_scores(judgments)
    (out / "scores.json").write_text(json.dumps(scores, indent=1) + "\n")
    return {"mt_bench": {k: scores[k] for k in ("score", "turn_1", "turn_2", "n_unparsed", "complete")},
            "judge_fingerprint": grader.fingerprint}


def summary(step_dir: Path) -> dict[str, Any]:
    """The headline MT-Bench numbers of one judged checkpoint (1-10 scale)."""
    scores = json.loads((step_dir / "scores.json").read_text())
    return {k: scores.get(k) for k in ("score", "turn_1", "turn_2", "n_unparsed", "n_judgments")}
