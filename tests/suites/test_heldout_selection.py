"""recipe.select: best_heldout from a suite: held-out prompts, the win-rate metric, hashes and schema checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sftbench.suites.data.steps import world_step
from sftbench.suites.engine.cli import main
from sftbench.suites.engine.plan import make_plan
from sftbench.suites.engine.schema import WorldSpec, load_suite
from sftbench.suites.engine.step import Step
from sftbench.suites.engine.store import StepKey
from sftbench.suites.engine.yaml_source import SuiteError
from sftbench.suites.evaluations.heldout import metric as heldout

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def tiny(tmp_path: Path, **changes) -> Path:
    """tests/assets/tiny_suite.yaml with one dataset and the given top-level sections replaced."""
    data = yaml.safe_load((ASSETS / "tiny_suite.yaml").read_text())
    data["datasets"] = data["datasets"][:1]
    data.update(changes)
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def train_steps(plan) -> list:
    return [s.key for s in plan.steps if s.key.kind == "train"]


def test_best_heldout_suite_runs_and_keeps_the_best_epoch(tmp_path):
    suite = tiny(tmp_path, recipe={"epochs": 2, "batch_size": 16, "select": "best_heldout"},
                 evaluation={"heldout": {"source": "world", "n": 10}}, leaderboard={"n_bootstrap_lc": 0,
                                                                                     "n_bootstrap": 20})
    runs = tmp_path / "runs"
    assert main(["run", str(suite), "--runs-dir", str(runs), "--quiet"]) == 0
    (train_dir,) = (runs / "tiny").glob("train-random-s0-*")
    manifest = json.loads((train_dir / "manifest.json").read_text())
    selection = manifest["stats"]["selection"]
    scores = selection["scores"]
    assert selection["by"] == "best_heldout" and [s["epoch"] for s in scores] == [1, 2]
    assert all(0 <= s["score"] <= 100 and s["n"] == 10 and s["n_failed"] == 0 for s in scores)
    assert selection["best"]["score"] == max(s["score"] for s in scores)
    assert selection["best"]["epoch"] == max(scores, key=lambda s: s["score"])["epoch"]
    assert selection["heldout"]["judge_fingerprint"]["model"] == "world-verifier"
    assert manifest["config"]["heldout"]["n"] == 10 and "judge" in manifest["config"]
    assert "heldout_world" in manifest["inputs"]
    assert len((train_dir / "heldout" / "prompts.jsonl").read_text().splitlines()) == 10
    assert not (runs / "tiny" / ".resume" / train_dir.name).exists()
    # the held-out spec is part of the train step's identity
    plan = make_plan(load_suite(suite, {"evaluation.heldout.n": 11}), runs, progress=False)
    assert not plan.store.is_done(train_steps(plan)[0])


def test_world_heldout_prompts_are_disjoint_from_eval_prompts_and_pool(tmp_path):
    world = WorldSpec(pool_size=2000, curated_size=10, eval_prompts=200)
    world_step(Step(StepKey("world", "world", world.model_dump(mode="json"), {}), "world"), {}, tmp_path, None)
    prompts = heldout.world_prompts(world, 100, tmp_path)
    texts = [p["instruction"] for p in prompts]
    assert len(texts) == len(set(texts)) == 100
    for name in ("eval_prompts", "pool"):
        used = {json.loads(line)["instruction"] for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()}
        assert not used & set(texts), name
    assert all(p["meta"]["tasks"] for p in prompts)  # the world judge and reference answerer need them
    assert heldout.world_prompts(world, 100, tmp_path) == prompts  # deterministic


def test_sidecar_source_needs_a_heldout_sidecar_from_every_builder(tmp_path):
    path = tiny(tmp_path, recipe={"epochs": 2, "select": "best_heldout"},
                evaluation={"heldout": {"source": "sidecar"}})
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    message = str(info.value)
    assert "dataset 'random' (random)" in message and "source 'world' or 'file'" in message
    with pytest.raises(SuiteError, match="set its params.heldout"):
        load_suite(path, {"datasets": [{"name": "sm", "builder": "skillmix", "params": {"n": 20}}]})
    suite = load_suite(path, {"datasets": [{"name": "sm", "builder": "skillmix", "params": {"n": 20, "heldout": 5}}]})
    (train,) = train_steps(make_plan(suite, tmp_path / "runs", progress=False))
    assert set(train.inputs) == {"base", "data"}  # the sidecar comes with the build step's hash
    assert load_suite(path, {"recipe.select": "last"})  # only best_heldout needs one
    with pytest.raises(SuiteError, match="needs evaluation.heldout.path"):
        load_suite(path, {"evaluation.heldout.source": "file"})


def test_sidecar_and_file_sets_take_the_first_n(tmp_path):
    rows = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(5)]
    (tmp_path / "heldout.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for source in ("sidecar", "file"):
        suite = load_suite(tiny(tmp_path, evaluation={"heldout": {"source": source, "n": 3,
                                                                  "path": str(tmp_path / "heldout.jsonl")}}))
        prompts, refs = heldout.heldout_set(suite.evaluation.heldout, suite.world, tmp_path, tmp_path)
        assert [p["instruction"] for p in prompts] == ["q0", "q1", "q2"] and refs == ["a0", "a1", "a2"]


def test_select_last_train_hashes_are_unchanged(tmp_path):
    path = tiny(tmp_path)
    plans = [make_plan(load_suite(path, overrides), tmp_path / "runs", progress=False)
             for overrides in ({}, {"evaluation.heldout.n": 7, "evaluation.heldout.source": "sidecar"})]
    (first,), (second,) = (train_steps(p) for p in plans)
    assert set(first.config) == {"recipe", "template"} and set(first.inputs) == {"base", "data"}
    assert first.hash == second.hash
    # the hash is exactly what it was before held-out selection existed: config and inputs as they were
    assert first.hash == StepKey("train", first.name, {"recipe": first.config["recipe"],
                                                       "template": first.config["template"]}, first.inputs).hash


class ScriptedJudge:
    """Prefers the model's answer when it says 'good', ties on 'tie', fails (NaN) on 'fail'."""
    fingerprint = {"provider": "test", "model": "scripted"}

    def prefer(self, prompt, output_1, output_2):
        model = output_2 if output_1 == "ref" else output_1
        value = {"good": 2.0, "tie": 1.5, "fail": float("nan")}.get(model, 1.0)
        return value if output_1 == "ref" or value != value else 3.0 - value


def test_metric_is_the_win_rate_with_ties_and_failures_as_half(tmp_path, monkeypatch):
    import sftbench.suites.models.generate as generate_module
    answers = ["good", "tie", "fail", "bad"]
    monkeypatch.setattr(generate_module, "generate", lambda *a, **k: list(answers))
    prompts = [{"instruction": f"q{i}", "input": ""} for i in range(4)]
    metric = heldout.HeldoutMetric(prompts, ["ref"] * 4, ScriptedJudge(), 8, 4, 1, True, tmp_path, "m")
    assert metric(tmp_path / "epoch-1") == pytest.approx(100 * (1 + 0.5 + 0.5 + 0) / 4)
    stats = metric.annotate({"selection": {"scores": [{"dir": "epoch-1", "score": 50.0}]}}, tmp_path / "out")
    assert stats["selection"]["scores"][0] == {"dir": "epoch-1", "score": 50.0, "n": 4, "n_failed": 1}
    assert len((tmp_path / "out" / "heldout" / "prompts.jsonl").read_text().splitlines()) == 4
