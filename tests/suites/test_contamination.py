"""Contamination: a user file with rows copied from the evaluation prompts (with trivial edits) is flagged in the
leaderboard and its record, and `decontaminate: true` drops exactly those rows before training. The check reads
the world's eval prompts, the real AlpacaEval 2.0 and MT-Bench prompts, and WildBench tasks in the hub's format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sftbench.datasets_builders.contamination import EvalIndex, check, decontaminate, normalize
from tests.conftest import shared_data

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "assets" / "tiny_suite.yaml"


def trivially_edited(prompt: str, how: int) -> str:
    """Case, punctuation and spacing changes, or one word replaced in a long prompt."""
    if how == 0:
        return prompt.upper()
    if how == 1:
        return "  " + prompt.replace(" ", "   ").rstrip(".?!") + " !!"
    words = prompt.split()
    if how == 2 and len(words) > 30:
        words[len(words) // 2] = "banana"
        return " ".join(words)
    return prompt.replace(",", " ,").lower()


def planted(prompts: list[str], clean: int = 40) -> tuple[list[dict], list[int]]:
    """Clean rows with a few eval prompts planted (trivially edited) at known positions."""
    rows = [{"instruction": f"Write a short poem about the colour number {i} of a painted fence.", "input": "",
             "output": f"Fence {i}, a colour bright."} for i in range(clean)]
    positions = []
    for j, prompt in enumerate(prompts):
        position = 3 + 5 * j
        rows.insert(position, {"instruction": trivially_edited(prompt, j % 4), "input": "", "output": "An answer."})
        positions.append(position)
    return rows, positions


def test_normalisation_and_13_grams():
    assert normalize("  Hello,   WORLD!! ") == normalize("hello world") == "hello world"
    long_prompt = " ".join(f"w{i}" for i in range(40))  # 28 13-grams of its own
    template = "please answer the following question carefully and show every step of your work now: "
    index = EvalIndex.of("e", [long_prompt, "Short one?", template + "what is 2 + 3?", template + "what is 7 * 8?"])
    rows = [{"instruction": "short ONE", "output": "x"},                             # exact after normalising
            {"instruction": "context " + " ".join(f"w{i}" for i in range(10, 31)), "output": "y"},  # 9 of 28
            {"instruction": " ".join(f"w{i}" for i in range(10, 24)), "output": "z"},  # 2 of 28: below 20%
            {"instruction": "unrelated", "output": " ".join(f"w{i}" for i in range(20, 40))},  # 8 of 28, answer
            {"instruction": template + "what is 9 - 4?", "output": "5"}]  # the set's shared template only
    report = check(rows, [index])
    assert report["by_eval"]["e"]["exact_rows"] == [0] and report["by_eval"]["e"]["ngram13_rows"] == [1, 3]
    assert report["contaminated_ids"] == [0, 1, 3] and decontaminate(rows, report) == [rows[2], rows[4]]


@pytest.mark.parametrize("which", ["alpaca_eval_2", "mt_bench"])
def test_the_real_eval_prompts_are_caught_with_trivial_edits(which):
    if which == "alpaca_eval_2":
        path = shared_data("alpaca_eval/derived/alpaca_eval_instructions.jsonl")
        prompts = [json.loads(line)["instruction"] for line in path.read_text().splitlines()]
    else:
        from sftbench.suites.evaluations import get
        plugin = get("mt_bench")
        spec = plugin.spec(enabled=True, data_dir=shared_data("mt_bench"))
        prompts = plugin.eval_prompts(spec, {}, plugin.prompt_source(None, spec, None).args)
        assert len(prompts) == 160  # 80 questions x 2 turns
    index = EvalIndex.of(which, prompts)
    chosen = [prompts[i] for i in (5, 77, 150)] + [max(prompts, key=len)]
    rows, positions = planted(chosen)
    report = check(rows, [index])
    assert [rows.index(r) for r in rows if r not in decontaminate(rows, report)] == positions
    assert report["contaminated_rows"] == len(chosen)


def test_wildbench_tasks_in_the_hub_format(tmp_path):
    from sftbench.suites.evaluations import get
    tasks = [{"session_id": f"s{i}", "primary_tag": "Math", "secondary_tags": [], "checklist": ["ok?"],
              "conversation_input": [{"role": "user", "content": f"Explain step by step how to solve puzzle {i} "
                                      "where three friends share nine apples and one leaves early."}]}
             for i in range(6)]
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    plugin = get("wildbench")
    spec = plugin.spec(enabled=True, tasks_path=path)
    prompts = plugin.eval_prompts(spec, {}, plugin.prompt_source(None, spec, {"tasks": "x"}).args)
    rows, positions = planted(prompts[:2])
    report = check(rows, [EvalIndex.of("wildbench", prompts)])
    assert sorted(set(report["by_eval"]["wildbench"]["exact_rows"]) |
                  set(report["by_eval"]["wildbench"]["ngram13_rows"])) == positions


@pytest.mark.slow
def test_a_contaminated_user_file_is_flagged_and_decontaminate_removes_exactly_those_rows(tmp_path):
    """The world's eval prompts (from the suite's own world step) planted in a user file: flagged in the
    leaderboard; the same file with `decontaminate: true` trains without exactly those rows."""
    import sftbench
    from sftbench.suites.engine.executor import run_step
    from sftbench.suites.engine.step import StepContext
    store = tmp_path / "store"
    plan = sftbench.plan(sftbench.load_suite(TINY), store=store)
    world = next(s for s in plan.steps if s.key.kind == "world")
    run_step(world, plan.store, StepContext(plan.store))
    eval_prompts = [json.loads(x)["instruction"] for x in
                    (plan.store.path(world.key) / "eval_prompts.jsonl").read_text().splitlines()]
    rows, positions = planted(eval_prompts[:4], clean=60)
    mine = tmp_path / "mine.jsonl"
    mine.write_text("".join(json.dumps(r) + "\n" for r in rows))
    datasets = (f"datasets=[{{name: random, builder: random, params: {{k: 60}}}}, "
                f"{{name: mine, builder: file, params: {{path: '{mine}'}}}}, "
                f"{{name: mine-clean, builder: file, params: {{path: '{mine}'}}, decontaminate: true}}]")
    got = subprocess.run([sys.executable, "-m", "sftbench.suites.engine.cli", "run", str(TINY), "--quiet",
                          "--runs-dir", str(tmp_path / "runs"), "--store", str(store), "--set", datasets],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert got.returncode == 0, got.stderr[-3000:]
    doc = json.loads((tmp_path / "runs" / "tiny" / "leaderboard.json").read_text())
    rows_by = {r["dataset"]: r for r in doc["leaderboard"]}
    assert rows_by["mine"]["contaminated_rows"] == 4 and rows_by["random"]["contaminated_rows"] == 0
    assert rows_by["mine-clean"]["contaminated_rows"] == 0 and rows_by["mine-clean"]["decontaminated_rows"] == 4
    assert rows_by["mine-clean"]["size"] == len(rows) - 4 == rows_by["mine"]["size"] - 4
    md = (tmp_path / "runs" / "tiny" / "leaderboard.md").read_text()
    assert "(contaminated: 4 rows)" in md and "contaminated: mine (4 rows)" in md
    (decontaminated,) = [p for p in store.glob("contam-mine-clean-*")]
    card = json.loads((decontaminated / "card.json").read_text())
    assert card["decontamination"]["removed_ids"] == positions and card["size"] == len(rows) - 4
    kept = [json.loads(x) for x in (decontaminated / "dataset.jsonl").read_text().splitlines()]
    assert kept == [r for i, r in enumerate(rows) if i not in positions]


def test_decontaminate_keeps_the_builds_sidecars_and_its_build_cost(tmp_path):
    """The decontaminated dataset carries the build's sidecar files (heldout.jsonl for best_heldout selection);
    the plan keeps the build step itself for the build's cost and provenance, and trains on the contam step."""
    import sftbench
    from sftbench.suites.data.contamination_step import contamination_step
    from sftbench.suites.engine.executor import run_step
    from sftbench.suites.engine.step import StepContext
    suite = sftbench.load_suite(TINY, overrides={"datasets": [{"name": "mine", "builder": "random",
                                                               "params": {"k": 20}, "decontaminate": True}]})
    plan = sftbench.plan(suite, store=tmp_path / "store")
    assert plan.training_data["mine"] == plan.checked["mine"] != plan.built["mine"]
    (train,) = [s for s in plan.steps if s.key.kind == "train"]
    assert train.deps["data"] == plan.checked["mine"].dirname
    contam = next(s for s in plan.steps if s.key.kind == "contam")
    for step in plan.steps:
        if step.key.dirname in contam.deps.values() and step.key.kind != "build":
            run_step(step, plan.store, StepContext(plan.store))
    build = tmp_path / "build"
    build.mkdir()
    rows = [{"instruction": f"Write a haiku about the number {i}.", "input": "", "output": "Numbers fall like rain."}
            for i in range(5)]
    (build / "dataset.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (build / "heldout.jsonl").write_text(json.dumps({"instruction": "held out", "output": "kept"}) + "\n")
    (build / "card.json").write_text(json.dumps({"builder": "random", "size": 5}))
    inputs = {name: plan.store.root / d for name, d in contam.deps.items()} | {"data": build}
    out = tmp_path / "out"
    out.mkdir()
    contamination_step(contam, inputs, out, StepContext(plan.store))
    assert (out / "heldout.jsonl").read_bytes() == (build / "heldout.jsonl").read_bytes()
    assert len((out / "dataset.jsonl").read_text().splitlines()) == 5  # nothing of it is an eval prompt

