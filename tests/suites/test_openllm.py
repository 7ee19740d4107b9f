"""The OpenLLM stage through real lm-eval on a tiny checkpoint, offline: the Open LLM Leaderboard v1 six against
tiny local fixtures in the hub's formats, the world's multiple-choice task, pass-through tasks, data errors."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from sftbench.suites.engine.step import Step, StepContext
from sftbench.suites.engine.store import StepKey, Store
from sftbench.suites.evaluations.openllm.catalog import LOCAL_DATA_SETTING, TASKS_DIR
from sftbench.suites.evaluations.openllm.data import PreparedTask
from sftbench.suites.evaluations.openllm.results import (
    average,
    column_result,
    sample_scores,
)
from sftbench.suites.evaluations.openllm.run import (
    CATALOG,
    OPENLLM_V1,
    RESULTS_FILE,
    OpenLLMConfig,
    OpenLLMDataError,
    TaskSpec,
    checkpoint_fingerprint,
    flat_table,
    openllm_step,
    preset_tasks,
    run_openllm,
)

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "openllm"
MMLU_SUBJECTS = ["abstract_algebra", "anatomy"]
EXPECTED = {  # column -> (shots, metrics reported, primary)
    "arc_challenge": (25, {"acc", "acc_norm"}, "acc_norm"),
    "hellaswag": (10, {"acc", "acc_norm"}, "acc_norm"),
    "mmlu": (5, {"acc"}, "acc"),
    "truthfulqa_mc2": (0, {"acc"}, "acc"),
    "winogrande": (5, {"acc"}, "acc"),
    "gsm8k": (5, {"exact_match,strict-match", "exact_match,flexible-extract"}, "exact_match,strict-match"),
}
LIMIT = 4


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt (hub, telemetry) fails the test."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the OpenLLM stage tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny fine-tuning-format checkpoint: world BPE tokenizer, briefly pretrained Llama, chatml template."""
    from sftbench.datasets_builders.world import make_pool, pool_text
    from sftbench.suites.models.chat_templates import (
        get_template,
        save_checkpoint_template,
    )
    from sftbench.suites.models.tiny_model import TinyModelConfig, pretrain_base
    from sftbench.suites.models.tokenizer_train import train_tokenizer
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp("ckpt")
    texts = list(pool_text(make_pool(300, seed=0)))
    tok = train_tokenizer(texts, 600, root / "tok")
    out = root / "model"
    cfg = TinyModelConfig(hidden_size=32, layers=2, heads=2, intermediate_size=64, max_position_embeddings=512)
    pretrain_base(texts, tok, cfg, out, steps=10, batch_size=8, seq_len=64, lr=5e-3, seed=0, threads=1,
                  progress=False)
    template = get_template("chatml")
    tokenizer = AutoTokenizer.from_pretrained(out)
    tokenizer.chat_template = template.jinja
    tokenizer.save_pretrained(out)
    save_checkpoint_template(template, out)
    return out


@pytest.fixture(scope="module")
def local_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixtures as a local-data root; ARC and MMLU converted to parquet with the hub's file names."""
    import pandas as pd

    root = tmp_path_factory.mktemp("hubcopy")
    shutil.copytree(ASSETS, root, dirs_exist_ok=True)
    for folder in [root / "allenai/ai2_arc/ARC-Challenge", *(root / "cais/mmlu" / s for s in MMLU_SUBJECTS)]:
        for path in folder.glob("*.jsonl"):
            pd.read_json(path, lines=True).to_parquet(folder / f"{path.stem}-00000-of-00001.parquet")
            path.unlink()
    return root


@pytest.fixture(scope="module")
def six(checkpoint: Path, local_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("openllm")
    specs = [TaskSpec(name="mmlu", options={"subjects": MMLU_SUBJECTS}) if s.name == "mmlu" else s
             for s in preset_tasks("openllm_v1")]
    result = run_openllm(checkpoint, specs, out, batch_size=8, limit=LIMIT, local_data=local_root, offline=True,
                         datasets_cache=out / "hf_datasets")
    return result, out


# -- the six-task configuration -----------------------------------------------------------------------------

def test_six_tasks_every_metric_lands_in_results_and_table(six: tuple[dict, Path]) -> None:
    result, out = six
    assert list(result["tasks"]) == list(OPENLLM_V1)
    rows = {(r["task"], r["metric"]): r for r in result["table"]}
    for task, (shots, metrics, primary) in EXPECTED.items():
        column = result["tasks"][task]
        assert column["num_fewshot"] == shots, task
        assert set(column["metrics"]) == metrics, task
        assert column["primary"] == primary
        n = LIMIT * (len(MMLU_SUBJECTS) if task == "mmlu" else 1)
        for metric in metrics:
            m = column["metrics"][metric]
            assert 0.0 <= m["value"] <= 1.0 and m["stderr"] is not None and m["n"] == n, (task, metric)
            row = rows[(task, metric)]
            assert (row["value"], row["stderr"], row["n"], row["primary"]) == (m["value"], m["stderr"], n,
                                                                              metric == primary)
    avg = rows[("average", "mean_primary")]
    primaries = [result["tasks"][t]["metrics"][EXPECTED[t][2]]["value"] for t in EXPECTED]
    assert avg["value"] == pytest.approx(sum(primaries) / 6)
    assert len(result["table"]) == sum(len(m) for _, m, _ in EXPECTED.values()) + 1


def test_six_tasks_groups_by_shots_and_records_settings(six: tuple[dict, Path]) -> None:
    result, out = six
    assert [g["num_fewshot"] for g in result["groups"]] == [0, 5, 10, 25]
    assert sorted(t for g in result["groups"] for t in g["tasks"]) == sorted(OPENLLM_V1)
    settings = result["settings"]
    assert (settings["backend"], settings["batch_size"], settings["chat_template"], settings["limit"]) == (
        "hf", 8, False, LIMIT)
    assert settings["lm_eval_version"]
    saved = json.loads((out / "openllm_results.json").read_text())
    assert saved["table"] == result["table"]
    # only the needed tasks were indexed: one overlay YAML per task (per MMLU subject)
    assert sorted(p.stem for p in (out / "tasks").glob("*.yaml")) == sorted(
        ["sftbench_arc_challenge", "sftbench_hellaswag", "sftbench_truthfulqa_mc2", "sftbench_winogrande",
         "sftbench_gsm8k"] + [f"sftbench_mmlu_{s}" for s in MMLU_SUBJECTS])
    # the local copies are recorded with the pinned revision they stand for
    arc = result["tasks"]["arc_challenge"]["data"]["sftbench_arc_challenge"]
    assert arc["source"] == "local" and arc["revision"] == CATALOG["arc_challenge"].data.revision
    assert arc["files"]["test"] == ["test-00000-of-00001.parquet"]


def test_six_tasks_write_per_sample_logs(six: tuple[dict, Path]) -> None:
    result, out = six
    logged = {t for g in result["groups"] for t in g["samples"]}
    assert len(logged) == 5 + len(MMLU_SUBJECTS)
    arc = [json.loads(line) for line in (out / "samples" / "sftbench_arc_challenge.jsonl").read_text().splitlines()]
    assert len(arc) == LIMIT and {"doc_id", "doc", "target", "acc", "acc_norm"} <= set(arc[0])
    assert arc[0]["column"] == "arc_challenge" and "arguments" not in arc[0]
    gsm = [json.loads(line) for line in (out / "samples" / "sftbench_gsm8k.jsonl").read_text().splitlines()]
    assert {s["filter"] for s in gsm} == {"strict-match", "flexible-extract"}
    for task, (_, metrics, _) in EXPECTED.items():  # per-example scores reproduce every reported value
        column = result["tasks"][task]
        for metric in metrics:
            per = sample_scores(out, column, metric)
            assert len(per["keys"]) == column["metrics"][metric]["n"] == len(set(per["keys"]))
            assert sum(w * s for w, s in zip(per["weights"], per["scores"])) == pytest.approx(
                column["metrics"][metric]["value"]), (task, metric)


def test_per_item_scores_reproduce_every_column_and_the_average(six: tuple[dict, Path]) -> None:
    """The leaderboard pairs OpenLLM columns on items: each column's plain mean over its items (MMLU's subjects
    reweighted) is lm-eval's number, and the average's over all items is the mean of the primaries."""
    from sftbench.suites.evaluations.openllm.plugin import _item_scores
    result, out = six
    units, scores = _item_scores(out, result["tasks"])
    assert len(units) == len(set(units)) == sum(c["metrics"][c["primary"]]["n"] for c in result["tasks"].values())
    for name, column in result["tasks"].items():
        values = [v for v in scores[name] if v is not None]
        assert len(values) == column["metrics"][column["primary"]]["n"]
        assert sum(values) / len(values) == pytest.approx(column["metrics"][column["primary"]]["value"]), name
    assert sum(scores["average"]) / len(units) == pytest.approx(result["average"]["value"])


# -- world_mc, pass-through tasks ----------------------------------------------------------------------------

def test_world_mc_step_on_tiny_checkpoint_with_chat_template(checkpoint: Path, tmp_path: Path) -> None:
    config = OpenLLMConfig(preset="world", tasks=[TaskSpec(name="world_mc", options={"n": 12})], batch_size=16,
                           chat_template=True)
    (tmp_path / "step").mkdir()
    step = Step(StepKey("openllm", "m", {**config.model_dump(mode="json"), "version": 1}, {}), "OpenLLM")
    stats = openllm_step(step, {"model": checkpoint}, tmp_path / "step", StepContext(Store(tmp_path), threads=1))
    result = json.loads((tmp_path / "step" / RESULTS_FILE).read_text())
    column = result["tasks"]["world_mc"]
    assert set(column["metrics"]) == {"acc", "acc_norm"} and column["primary"] == "acc_norm"
    assert column["metrics"]["acc_norm"]["n"] == 12 and column["num_fewshot"] == 0
    assert stats["openllm"]["primary"]["world_mc"] == {"metric": "acc_norm", **column["metrics"]["acc_norm"]}
    assert result["settings"]["chat_template_name"] == "chatml"
    assert [r["task"] for r in result["table"]] == ["world_mc", "world_mc"]  # one column: no average row
    questions = [json.loads(x) for x in (tmp_path / "step/data/world_mc/test.jsonl").read_text().splitlines()]
    samples = [json.loads(x) for x in (tmp_path / "step/samples/sftbench_world_mc.jsonl").read_text().splitlines()]
    assert len(samples) == 12 and all(s["target"] == questions[s["doc_id"]]["label"] for s in samples)
    # the response cache and the Arrow copies live under cache_dir, outside the step directory
    assert Path(result["settings"]["response_cache"]).parent == tmp_path / "lm_eval_cache"
    assert (tmp_path / "lm_eval_cache" / "datasets").is_dir()


def test_pass_through_lm_eval_task_by_name(checkpoint: Path, tmp_path: Path) -> None:
    """Any lm-eval task by name; here a user's own YAML on an extra include path (no default index needed)."""
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"q": f"{a} plus {a} is", "choices": [str(2 * a), str(a)], "gold": 0}) + "\n"
                            for a in range(1, 6)))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "mine.yaml").write_text(yaml.safe_dump({
        "task": "my_sums", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}},
        "output_type": "multiple_choice", "test_split": "test", "doc_to_text": "{{q}}", "doc_to_choice": "{{choices}}",
        "doc_to_target": "gold", "metric_list": [{"metric": "acc"}]}))
    result = run_openllm(checkpoint, [TaskSpec(name="sums", task="my_sums", num_fewshot=2)], tmp_path / "out",
                         include_paths=[tasks], datasets_cache=tmp_path / "hf")
    column = result["tasks"]["sums"]
    assert column["lm_eval_tasks"] == ["my_sums"] and column["num_fewshot"] == 2
    assert column["primary"] == "acc" and column["metrics"]["acc"]["n"] == 5


def test_lm_eval_default_task_by_name(checkpoint: Path, tmp_path: Path) -> None:
    """A name sftbench does not know goes to lm-eval's own task index (built only then: ~10-20 s)."""
    with pytest.raises(OpenLLMDataError, match=r"openllm task 'piqa': lm-eval task 'piqa' failed to load"):
        run_openllm(checkpoint, [TaskSpec(name="world_mc", options={"n": 4}), TaskSpec(name="piqa")], tmp_path,
                    offline=True)


# -- data errors: name the task and the override --------------------------------------------------------------

def test_missing_dataset_offline_names_task_and_override(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(OpenLLMDataError) as err:
        run_openllm(checkpoint, [TaskSpec(name="winogrande")], tmp_path, offline=True)
    message = str(err.value)
    for part in ("'winogrande'", f"{LOCAL_DATA_SETTING}.winogrande", "allenai/winogrande",
                 CATALOG["winogrande"].data.revision, "OfflineModeIsEnabled"):
        assert part in message


def test_local_copy_missing_split_names_task_and_override(checkpoint: Path, tmp_path: Path) -> None:
    copy = tmp_path / "gsm8k"
    shutil.copytree(ASSETS / "openai" / "gsm8k", copy)
    (copy / "main" / "train.jsonl").unlink()  # the 5-shot examples come from train
    with pytest.raises(OpenLLMDataError, match=rf"'gsm8k'.*no train split.*{LOCAL_DATA_SETTING}\.gsm8k"):
        run_openllm(checkpoint, [TaskSpec(name="gsm8k")], tmp_path / "out", local_data={"gsm8k": copy}, offline=True)
    with pytest.raises(OpenLLMDataError, match=r"'hellaswag'.*does not exist"):
        run_openllm(checkpoint, [TaskSpec(name="hellaswag", local_data=str(tmp_path / "nope"))], tmp_path / "o2")


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="repeated"):
        run_openllm(Path("."), [TaskSpec(name="gsm8k"), TaskSpec(name="gsm8k")], Path("unused"))
    with pytest.raises(ValueError, match="unknown options"):
        run_openllm(Path("."), [TaskSpec(name="mmlu", options={"subject": ["anatomy"]})], Path("unused"))
    with pytest.raises(ValueError, match="local_data is for sftbench's hub-data tasks"):
        run_openllm(Path("."), [TaskSpec(name="piqa", local_data="/x")], Path("unused"))
    with pytest.raises(ValueError, match="unknown OpenLLM preset"):
        preset_tasks("openllm_v3")


def test_config_merges_preset_and_tasks() -> None:
    config = OpenLLMConfig.model_validate({"preset": "openllm_v1", "tasks": [
        {"name": "gsm8k", "num_fewshot": 8}, {"name": "piqa"}, {"name": "world_mc", "options": {"n": 50}}]})
    specs = config.task_specs()
    assert [s.name for s in specs] == [*OPENLLM_V1, "piqa", "world_mc"]
    assert specs[5].num_fewshot == 8 and not specs[6].is_catalog and specs[7].is_catalog
    for bad in ({}, {"preset": "world", "tasks": [{"name": "mmlu", "options": {"subjects": ["astrology"]}}]},
                {"preset": "world", "tasks": [{"name": "world_mc", "options": {"n": 0}}]},
                {"preset": "world", "tasks": [{"name": "world_mc", "local_data": "/x"}]},
                {"preset": "world", "batch_size": 0}):
        with pytest.raises(ValidationError):
            OpenLLMConfig.model_validate(bad)


# -- pieces without a model -----------------------------------------------------------------------------------

def test_mmlu_is_the_equal_weight_mean_of_subjects() -> None:
    """The leaderboard averaged subject accuracies; lm-eval's own mmlu group weights them by size."""
    item = PreparedTask(TaskSpec(name="mmlu"), ["sftbench_mmlu_a", "sftbench_mmlu_b"], 5, "acc",
                        subjects={"sftbench_mmlu_a": "a", "sftbench_mmlu_b": "b"})
    raw = {"results": {"sftbench_mmlu_a": {"alias": "a", "acc,none": 0.9, "acc_stderr,none": 0.03},
                       "sftbench_mmlu_b": {"alias": "b", "acc,none": 0.3, "acc_stderr,none": 0.04}},
           "n-samples": {"sftbench_mmlu_a": {"original": 100, "effective": 100},
                         "sftbench_mmlu_b": {"original": 10, "effective": 10}},
           "n-shot": {"sftbench_mmlu_a": 5, "sftbench_mmlu_b": 5}}
    column = column_result(item, raw)
    acc = column["metrics"]["acc"]
    assert acc["value"] == pytest.approx(0.6)  # size-weighted would be 0.845
    assert acc["stderr"] == pytest.approx(0.05 / 2) and acc["n"] == 110
    assert column["subjects"]["b"]["acc"] == {"value": 0.3, "stderr": 0.04, "n": 10}
    result = {"tasks": {"mmlu": column}, "average": average({"mmlu": column})}
    assert flat_table(result) == [{"task": "mmlu", "metric": "acc", "value": pytest.approx(0.6),
                                   "stderr": pytest.approx(0.025), "n": 110, "primary": True}]


def test_shipped_yamls_pin_the_catalog_revisions() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))
    for entry in CATALOG.values():
        config = yaml.load((TASKS_DIR / entry.template).read_text(), Loader=Loader)
        if entry.data is None:
            assert config["dataset_path"] == "json"
            continue
        assert config["dataset_path"] == entry.data.repo
        assert config["dataset_kwargs"]["revision"] == entry.data.revision, entry.name
        assert config.get("dataset_name") in (entry.data.config, None)


def test_world_mc_questions_are_held_out_with_four_distinct_options() -> None:
    from sftbench.datasets_builders.world.mc_task import make_mc_questions
    from sftbench.datasets_builders.world.skills import (
        get_skill,
        is_held_out,
        task_from_spec,
    )

    rows = make_mc_questions(60, seed=3)
    assert rows == make_mc_questions(60, seed=3) and rows != make_mc_questions(60, seed=4)
    assert len({r["question"] for r in rows}) == 60 and len({r["skill"] for r in rows}) >= 20
    for row in rows:
        task, skill = task_from_spec(row["task"]), get_skill(row["skill"])
        assert is_held_out(task) and row["choices"][row["label"]] == task.answer
        assert len({skill.norm(c) for c in row["choices"]}) == 4
        assert [skill.check(c, task.answer) for c in row["choices"]].count(True) == 1
    assert not any(is_held_out(task_from_spec(r["task"])) for r in make_mc_questions(20, seed=3, split="train"))


def test_checkpoint_fingerprint_follows_weights(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"a" * 100)
    first = checkpoint_fingerprint(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"b" * 100)
    assert checkpoint_fingerprint(tmp_path) != first
