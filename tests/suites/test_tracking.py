"""recipe.report_to: training logs through transformers' TensorBoard / W&B / MLflow integrations, off by default.

TensorBoard's event files and an offline W&B run are read back; nothing here reaches the network (WANDB_MODE=offline)
or the user's home (W&B's config, cache and data directories point into tmp).
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sftbench.suites.models.train import Recipe, check_runtime, sft_train

from tests.suites.tiny_training import rows, tiny_base

RECIPE = {"epochs": 2, "lr": 3e-3, "batch_size": 4, "max_length": 96, "seed": 3, "warmup_ratio": 0.0}
FAKE_KEY = "0123456789abcdef0123456789abcdef01234567"  # a W&B-shaped API key that must not be written anywhere


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_base(tmp_path_factory)


def _offline_wandb(mp: pytest.MonkeyPatch, home: Path) -> None:
    mp.setenv("WANDB_MODE", "offline")
    mp.setenv("WANDB_SILENT", "true")
    mp.setenv("WANDB_API_KEY", FAKE_KEY)
    for var in ("WANDB_DIR", "WANDB_PROJECT", "TENSORBOARD_LOGGING_DIR", "WANDB_DISABLED"):
        mp.delenv(var, raising=False)
    for var, sub in (("WANDB_CONFIG_DIR", "config"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_DATA_DIR", "data"),
                     ("WANDB_ARTIFACT_DIR", "artifacts")):
        mp.setenv(var, str(home / sub))


@pytest.fixture(scope="module")
def tracked(base: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One tiny run reporting to TensorBoard and (offline) W&B, with a resume directory, as the runner trains."""
    root = tmp_path_factory.mktemp("tracked")
    with pytest.MonkeyPatch.context() as mp:
        _offline_wandb(mp, root / "wandb-home")
        mp.chdir(root)
        recipe = Recipe(**RECIPE, report_to=["tensorboard", "wandb"])
        stats = sft_train(base, rows(), recipe, "chatml", root / "out", threads=1, progress=False,
                          resume_dir=root / "resume", run_name="animals-s3")
        yield {"root": root, "stats": stats, "env": {k: os.environ.get(k) for k in (
            "WANDB_MODE", "WANDB_DIR", "WANDB_PROJECT", "TENSORBOARD_LOGGING_DIR")}}


def test_tensorboard_event_files_hold_the_training_losses(tracked: dict[str, Any]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    stats = tracked["stats"]
    for logs in (tracked["root"] / "resume" / "logs", tracked["root"] / "out" / "logs"):  # kept, and copied
        events = EventAccumulator(str(logs / "tensorboard"))
        events.Reload()
        assert "train/loss" in events.Tags()["scalars"]
        losses = events.Scalars("train/loss")
        assert [e.value for e in losses] == pytest.approx(stats["loss_curve"], rel=1e-6)
        assert [e.step for e in losses] == list(range(1, stats["steps"] + 1))
        assert "train/learning_rate" in events.Tags()["scalars"]


def _wandb_records(path: Path) -> list[Any]:
    """The protobuf records of a `.wandb` file (LevelDB log format: 32 KiB blocks of checksummed chunks)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, block, pos, pending, records = path.read_bytes(), 32768, 7, b"", []
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # a block's tail too short for a chunk header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            pos += left
            continue
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST: a record is complete
            record = pb.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def test_wandb_offline_run_holds_the_loss_history(tracked: dict[str, Any]) -> None:
    stats, out = tracked["stats"], tracked["root"] / "out" / "logs" / "wandb"
    [run_dir] = list(out.glob("offline-run-*"))
    [run_file] = list(run_dir.glob("run-*.wandb"))
    records = _wandb_records(run_file)
    [run] = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert (run.display_name, run.project) == ("animals-s3", "sftbench")  # the step's name, the default project
    history = [{item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in r.history.item}
               for r in records if r.WhichOneof("record_type") == "history"]
    assert [h["train/loss"] for h in history if "train/loss" in h] == pytest.approx(stats["loss_curve"], rel=1e-9)
    assert any(r.WhichOneof("record_type") == "exit" for r in records)  # the run was finished, not left open
    assert not any(p.is_symlink() for p in (tracked["root"] / "out").rglob("*"))  # latest-run links left out
    assert (tracked["root"] / "resume" / "logs" / "wandb" / run_dir.name / run_file.name).is_file()


def test_tracking_leaves_no_trace_outside_the_logs(tracked: dict[str, Any]) -> None:
    import wandb

    assert wandb.run is None
    assert tracked["env"] == {"WANDB_MODE": "offline", "WANDB_DIR": None, "WANDB_PROJECT": None,
                              "TENSORBOARD_LOGGING_DIR": None}  # the user's environment, as it was
    root = tracked["root"]
    assert not (root / "wandb").exists() and not (root / "runs").exists()  # nothing in the working directory
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert FAKE_KEY.encode() not in path.read_bytes(), f"{path} holds the API key"


def test_off_by_default(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _offline_wandb(monkeypatch, tmp_path / "wandb-home")
    monkeypatch.chdir(tmp_path)
    recipe = Recipe(**RECIPE)
    assert recipe.report_to == ()
    sft_train(base, rows(8), recipe, "chatml", tmp_path / "out", threads=1, progress=False,
              resume_dir=tmp_path / "resume")
    assert (tmp_path / "out" / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "resume"]  # no wandb/, runs/, mlruns/
    assert not (tmp_path / "out" / "logs").exists() and not (tmp_path / "resume" / "logs").exists()


@pytest.mark.parametrize("tracker, install", [("tensorboard", "pip install tensorboard"),
                                              ("wandb", "pip install wandb"), ("mlflow", "pip install mlflow")])
def test_a_missing_tracker_package_is_refused_before_training(
        tracker: str, install: str, base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    missing = {"tensorboard": {"tensorboard", "tensorboardX"}}.get(tracker, {tracker})
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in missing else real(name, *a))
    recipe = Recipe(**RECIPE, report_to=[tracker])
    with pytest.raises(RuntimeError, match=f"report_to: {tracker} needs .*{install}"):
        check_runtime(recipe)  # the executor's preflight, before the first step
    with pytest.raises(RuntimeError, match=install):
        sft_train(base, rows(4), recipe, "chatml", tmp_path / "out", threads=1, progress=False)
    assert not (tmp_path / "out").exists()


def test_report_to_values() -> None:
    assert Recipe(report_to="wandb").report_to == ("wandb",)
    with pytest.raises(ValueError, match="report_to"):
        Recipe(report_to=["neptune"])
    with pytest.raises(ValueError, match="twice"):
        Recipe(report_to=["wandb", "wandb"])
    assert Recipe(report_to=["mlflow"]).result_fields() == Recipe().result_fields()
    assert "report_to" not in Recipe().result_fields()


def test_report_to_stays_out_of_the_train_step_key(tmp_path: Path) -> None:
    from sftbench.suites.engine.plan import make_plan
    from sftbench.suites.engine.schema import load_suite

    def train_steps(overrides: dict[str, Any]) -> list[Any]:
        suite = load_suite(Path(__file__).resolve().parents[1] / "assets" / "tiny_suite.yaml", overrides)
        plan = make_plan(suite, tmp_path / "runs", progress=False, store=tmp_path / "store")
        return [s for s in plan.steps if s.key.kind == "train"]

    default, logged = train_steps({}), train_steps({"recipe.report_to": ["tensorboard", "wandb"]})
    assert [s.key.dirname for s in logged] == [s.key.dirname for s in default] and len(default) == 3
    assert all(s.args["report_to"] == ["tensorboard", "wandb"] for s in logged)
    assert all(s.args["report_to"] == [] and "report_to" not in s.key.config["recipe"] for s in default)


def test_the_train_step_logs_under_its_name(base: Path, tmp_path: Path) -> None:
    """The runner's path: report_to travels in the step's args, the run is named after the step."""
    from sftbench.common.rows import write_jsonl
    from sftbench.suites.engine.plan import make_plan
    from sftbench.suites.engine.schema import load_suite
    from sftbench.suites.engine.step import StepContext
    from sftbench.suites.models.steps import train_step

    suite = load_suite(Path(__file__).resolve().parents[1] / "assets" / "tiny_suite.yaml",
                       {"recipe.report_to": ["tensorboard"], "template": "chatml"})
    plan = make_plan(suite, tmp_path / "runs", progress=False, store=tmp_path / "store")
    step = next(s for s in plan.steps if s.key.kind == "train")
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "dataset.jsonl", rows(16))
    ctx = StepContext(plan.store, threads=1, progress=False)
    train_step(step, {"base": base, "data": tmp_path / "data"}, tmp_path / "out", ctx)
    for logs in (ctx.resume_dir(step) / "logs", tmp_path / "out" / "logs"):
        [events] = list((logs / "tensorboard").glob("events.out.tfevents.*"))
        assert f'"run_name": "{step.key.name}"'.encode() in events.read_bytes()  # the trainer's args, as text
