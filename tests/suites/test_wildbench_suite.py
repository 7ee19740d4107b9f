"""WildBench from a suite: the checkpoint answers each task's conversation, an OpenAI-compatible judge (a real
loopback server) grades the answers (WB-Score) and compares them with a reference model's (WB-Reward), and both
land in the leaderboard; a judge that never answers in the asked format is counted as unparsed, not dropped.

The WildBench task prompts exist only on the Hugging Face hub, so ../shared/data/wildbench holds none: the tasks
file is built here in the hub's v2 format, keyed by real session ids of the shared gemma-2b-it results, whose
model outputs serve as the reference model's outputs. The judge templates are the shared pinned files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from sftbench.judges.llm.loopback.server import LoopbackServer
from sftbench.suites.engine.cli import main

from tests.conftest import shared_data

TINY = str(Path(__file__).resolve().parents[1] / "assets" / "tiny_suite.yaml")
GEMMA = "wildbench/eval_results/v2.0625/score.v2/eval=gpt-4o-2024-05-13/gemma-2b-it.json.gz"
PROMPTS = [  # (prompt, earlier turns, primary tag, secondary tags, checklist)
    ("Write a benefits management plan for farmers in a nature reserve.", [], "Planning",
     ["Information seeking"], ["Does it name the benefits?", "Does it assign responsibilities?"]),
    ("Explain what this drone-control script does.", [], "Coding & Debugging", ["Reasoning"],
     ["Does it explain the main loop?"]),
    ("Add more MCQs.", ["Write two MCQs on networking.", "1. What does ping do? ..."], "Information seeking",
     ["Editing"], ["Are there new questions?", "Are they about networking?"]),
    ("Rewrite my resume bullet about financial metrics.", [], "Editing", ["Creative Writing", "Math"],
     ["Is it concise?"]),
]


def write_fixture(tmp_path: Path) -> tuple[Path, Path]:
    """A 4-task WildBench v2 tasks file (hub fields) and the gemma-2b-it outputs for those sessions."""
    rows = [r for r in json.load(gzip.open(shared_data(GEMMA), "rt")) if r["model_output"].strip()][:len(PROMPTS)]
    tasks, refs = [], []
    for row, (prompt, history, tag, tags, checklist) in zip(rows, PROMPTS):
        turns = [*history, prompt]
        conv = [{"role": "user" if i % 2 == 0 else "assistant", "content": text, "language": "English",
                 "redacted": False, "timestamp": None, "toxic": False} for i, text in enumerate(turns)]
        tasks.append({"session_id": row["session_id"], "conversation_id": row["session_id"], "model": "gpt-4",
                      "intent": prompt, "primary_tag": tag, "secondary_tags": tags, "conversation_input": conv,
                      "references": {"gpt-4": "..."}, "checklist": checklist, "length": len(turns)})
        refs.append({"session_id": row["session_id"], "output": [row["model_output"]], "generator": "gemma-2b-it"})
    tasks_path, refs_path = tmp_path / "wildbench_v2.jsonl", tmp_path / "gemma-2b-it.jsonl"
    for path, items in ((tasks_path, tasks), (refs_path, refs)):
        path.write_text("".join(json.dumps(r) + "\n" for r in items))
    return tasks_path, refs_path


def well_formed(messages, body):
    text = messages[-1]["content"]
    if "Response A" in text:
        return json.dumps({"analysis of A": "a", "analysis of B": "b", "reason of A=B": "-", "reason of A>B": "-",
                           "reason of B>A": "-", "choice": "B++"})
    if '"score"' in text:
        return "```\n" + json.dumps({"strengths": "s", "weaknesses": "w", "score": "7"}) + "\n```"
    return "M"  # the suite's AlpacaEval-style judging of world prompts


def malformed(messages, body):
    text = messages[-1]["content"]
    return "It looks fine to me." if "Response A" in text or '"score"' in text else "M"


def run_suite(tmp_path: Path, responder, model: str, tasks: Path, refs: Path) -> int:
    with LoopbackServer(responder=responder) as server:
        judge = ("roles.judge={provider: openai_compatible, params: {model: %s, base_url: '%s', judge_mode: text, "
                 "parse_retries: 1}}" % (model, server.base_url))
        wildbench = ("evaluation.wildbench={enabled: true, tasks_path: '%s', templates_dir: '%s', max_tasks: 4, "
                     "max_new_tokens: 12, batch_size: 4, references: {gemma-2b-it: '%s'}}"
                     % (tasks, shared_data("wildbench/evaluation"), refs))
        return main(["run", TINY, "--runs-dir", str(tmp_path / "runs"), "--quiet", "--set", judge,
                     "--set", "datasets=[{name: random, builder: random, params: {k: 150}}]", "--set", wildbench])


@pytest.mark.slow
def test_wildbench_runs_from_a_suite_and_reaches_the_leaderboard(tmp_path, capsys):
    tasks, refs = write_fixture(tmp_path)
    assert run_suite(tmp_path, well_formed, "loop-judge", tasks, refs) == 0
    root = tmp_path / "runs" / "tiny"
    outputs = [json.loads(line) for line in next(root.glob("wbanswers-*/outputs.jsonl")).open()]
    assert len(outputs) == 4 and all(o["output"].strip() for o in outputs)  # the first max_tasks tasks, answered
    from sftbench.suites.models.generate import dtype_name, resolve_backend
    decoding = json.loads(next(root.glob("wbanswers-*/manifest.json")).read_text())["decoding"]
    assert decoding["backend"] == resolve_backend("auto") and decoding["do_sample"] is False
    gen = json.loads(next(root.glob("generate-*/manifest.json")).read_text())["decoding"]
    assert (gen["max_new_tokens"], gen["batch_size"], gen["dtype"]) == (24, 20, dtype_name())
    judge_dir = next(root.glob("wbjudge-*"))
    records = [json.loads(line) for line in (judge_dir / "score_records.jsonl").open()]
    assert len(records) == 4 and all(r["score"] == 7.0 for r in records)
    rewards = [json.loads(line) for line in (judge_dir / "reward_records.gemma-2b-it.jsonl").open()]
    assert len(rewards) == 4 and all(not r["failed"] for r in rewards)
    manifest = json.loads((judge_dir / "manifest.json").read_text())
    assert manifest["judge_fingerprint"]["configured_model"] == "loop-judge"
    evaluated = json.loads((root / "results.json").read_text())["runs"][0]["evaluations"]["wildbench"]
    result = evaluated["headline"]
    assert result["WB_score"] == pytest.approx(40.0) and result["n_unparsed"] == 0 and result["n"] == 4
    assert len(evaluated["info"]["task_groups"]) == 5  # all five groups present: the task macro is the plain mean
    assert evaluated["info"]["references"] == ["gemma-2b-it"] and result["WB_reward"] is not None
    assert evaluated["unit"] == "task" and len(evaluated["units"]) == 4
    row = json.loads((root / "leaderboard.json").read_text())["leaderboard"][0]
    assert row["wildbench.WB_score"] == pytest.approx(40.0) and row["wildbench.WB_score_n_unparsed"] == 0
    assert row["wildbench.WB_reward"] == pytest.approx(result["WB_reward"])
    md = (root / "leaderboard.md").read_text()
    assert "WildBench v2: WB-Score" in md and "WB-Reward (mix)" in md and "40.0" in md
    assert "wildbench.WB_score" in (root / "leaderboard.csv").read_text().splitlines()[0]
    # the judge-noise floor: every stored grade (4 < the sample of 50) graded again through an uncached client
    floor = json.loads(next(root.glob("wbnoisefloor-*/noise_floor.json")).read_text())
    assert floor["n"] == 4 and floor["deterministic"] and floor["sd_delta"] == 0.0
    shares = evaluated["scores"]["WB_score"]  # in the column's own scale: each task's share of the task macro
    assert sorted(e["original"] for e in floor["examples"]) == pytest.approx(sorted(shares))
    assert "Judge noise floor (wildbench): 0 — re-judging 4 stored annotations gave identical WB-Score shares" in md

    # a judge that never answers in the asked format: every item counted unparsed, the run still finishes
    assert run_suite(tmp_path, malformed, "loop-judge-bad", tasks, refs) == 0
    result = json.loads((root / "results.json").read_text())["runs"][0]["evaluations"]["wildbench"]["headline"]
    assert result["n_unparsed"] == result["n"] == 4 and result.get("WB_score") is None
    assert result["reward_n_unparsed"] == 4
    row = json.loads((root / "leaderboard.json").read_text())["leaderboard"][0]
    assert row["wildbench.WB_score"] is None and row["wildbench.WB_score_n_unparsed"] == 4
    assert "(4 unparsed)" in (root / "leaderboard.md").read_text()


def test_wildbench_with_the_world_judge_is_a_located_error(tmp_path, capsys):
    assert main(["validate", TINY, "--set", "evaluation.wildbench={enabled: true}"]) == 2
    assert "evaluation.wildbench needs an LLM judge" in capsys.readouterr().err


def test_a_missing_tasks_file_names_the_field(tmp_path, capsys):
    judge = "roles.judge={provider: openai_compatible, params: {model: j, base_url: 'http://127.0.0.1:9/v1'}}"
    args = ["plan", TINY, "--runs-dir", str(tmp_path), "--set", judge,
            "--set", "evaluation.wildbench={enabled: true, tasks_path: '%s'}" % (tmp_path / "nope.jsonl")]
    assert main(args) == 2
    assert "evaluation.wildbench.tasks_path" in capsys.readouterr().err


def test_wildbench_defaults_follow_the_library():
    from sftbench.judges.wildbench import DEFAULT_K
    from sftbench.suites.evaluations.wildbench.spec import WildBenchSpec
    spec = WildBenchSpec()
    assert not spec.enabled and spec.K == DEFAULT_K and spec.references == {} and spec.max_tasks is None
