"""MT-Bench's questions, GPT-4 reference answers and judge prompts: FastChat's files at a pinned commit, or local.

Upstream: github.com/lm-sys/FastChat, `fastchat/llm_judge/data/` (fschat's wheel does not ship them). A local
folder laid out like upstream's (`question.jsonl`, `reference_answer/gpt-4.jsonl`, `judge_prompts.jsonl`, any of
them optionally `.gz`) replaces the download, e.g. ../shared/data/mt_bench.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftbench.common.downloads import PinnedFile, fetch, provenance, read_json_or_jsonl

FASTCHAT_REPO = "lm-sys/FastChat"
FASTCHAT_COMMIT = "0e6d3e4beaab66f4d3f93db72541a4abab8af28d"
OVERRIDE = "mt_bench data_dir (a folder with question.jsonl, reference_answer/gpt-4.jsonl and judge_prompts.jsonl)"
_DATA = "fastchat/llm_judge/data"

FILES = {
    "question.jsonl": PinnedFile("MT-Bench questions", FASTCHAT_REPO, FASTCHAT_COMMIT,
                                 f"{_DATA}/mt_bench/question.jsonl",
                                 "119565adbab82227089cefdb44c8d7e2cf04dc0a0ec233634c82e7d4e2a944f7", OVERRIDE),
    "reference_answer/gpt-4.jsonl": PinnedFile(
        "MT-Bench GPT-4 reference answers", FASTCHAT_REPO, FASTCHAT_COMMIT,
        f"{_DATA}/mt_bench/reference_answer/gpt-4.jsonl",
        "f957a5bc977badb66885ec970e6cd08527845780313f0995764260e5777b9b3f", OVERRIDE),
    "judge_prompts.jsonl": PinnedFile("MT-Bench judge prompts", FASTCHAT_REPO, FASTCHAT_COMMIT,
                                      f"{_DATA}/judge_prompts.jsonl",
                                      "fd283293406d024f44c174b094ef48031d0687a4682fd3a56b29b138f80281b6", OVERRIDE),
}
# Categories graded against the reference answer (fastchat.llm_judge.common.NEED_REF_CATS)
NEED_REF_CATS = ("math", "reasoning", "coding", "arena-hard-200")
SINGLE_PROMPTS = ("single-v1", "single-math-v1", "single-v1-multi-turn", "single-math-v1-multi-turn")
REFERENCE_JUDGE = "gpt-4"  # the model whose reference answers FastChat gives the judge


@dataclass
class MTBenchData:
    questions: list[dict[str, Any]]
    references: dict[int, dict[str, Any]]       # question_id -> FastChat answer record of the reference model
    judge_prompts: dict[str, dict[str, Any]]    # name -> {system_prompt, prompt_template, output_format, ...}
    provenance: list[dict[str, Any]] = field(default_factory=list)

    def subset(self, question_ids: list[int]) -> "MTBenchData":
        keep = set(question_ids)
        return MTBenchData([q for q in self.questions if q["question_id"] in keep], self.references,
                           self.judge_prompts, self.provenance)


def _local_file(data_dir: Path, name: str) -> Path | None:
    for candidate in (data_dir / name, data_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _validate(data: MTBenchData, where: str) -> None:
    for q in data.questions:
        qid = q.get("question_id")
        if not isinstance(q.get("turns"), list) or len(q["turns"]) != 2:
            raise ValueError(f"{where}: question {qid} needs exactly two turns, has {q.get('turns')!r}")
        if q.get("category") in NEED_REF_CATS and qid not in data.references:
            raise ValueError(f"{where}: question {qid} ({q['category']}) has no reference answer")
    missing = [p for p in SINGLE_PROMPTS if p not in data.judge_prompts]
    if missing:
        raise ValueError(f"{where}: judge prompts lack {missing}")
    for name in SINGLE_PROMPTS:
        if data.judge_prompts[name].get("output_format") != "[[rating]]":
            raise ValueError(f"{where}: judge prompt {name} has output format "
                             f"{data.judge_prompts[name].get('output_format')!r}, expected '[[rating]]'")


def load_mt_bench(data_dir: str | Path | None = None) -> MTBenchData:
    """The 80 questions, reference answers and judge prompts (a local folder if given, else the pinned files)."""
    paths, records = {}, []
    for name, pinned in FILES.items():
        local = _local_file(Path(data_dir), name) if data_dir is not None else None
        if data_dir is not None and local is None:
            raise FileNotFoundError(f"MT-Bench data_dir {data_dir} has no {name} (nor {name}.gz)")
        paths[name] = fetch(pinned, local)
        records.append(provenance(paths[name], pinned, local))
    questions = read_json_or_jsonl(paths["question.jsonl"])
    references = {r["question_id"]: r for r in read_json_or_jsonl(paths["reference_answer/gpt-4.jsonl"])}
    prompts = {p["name"]: p for p in read_json_or_jsonl(paths["judge_prompts.jsonl"])}
    data = MTBenchData(questions, references, prompts, records)
    _validate(data, str(data_dir or f"{FASTCHAT_REPO}@{FASTCHAT_COMMIT[:10]}"))
    return data


__all__ = ["MTBenchData", "load_mt_bench", "FILES", "NEED_REF_CATS", "SINGLE_PROMPTS", "REFERENCE_JUDGE"]
