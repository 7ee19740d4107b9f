"""Nothing lost, nothing corrupted, nothing done twice: leases, damaged steps, cut-short checkpoints, concurrent
runs, kill -9 at random points and a full disk (a real tmpfs). The longer campaign is benchmarks/chaos.py."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sftbench.leaderboard.table_rows import deterministic

from sftbench.suites.engine.commands.verify import cmd_verify
from sftbench.suites.engine.lease import try_acquire
from sftbench.suites.engine.store import StepKey, Store

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "assets" / "tiny_suite.yaml"


def key(name: str = "demo") -> StepKey:
    return StepKey("build", name, {"k": 1}, {"pool": "abc"})


def finished(store: Store, k: StepKey, files: dict[str, str]) -> Path:
    with store.writing(k) as (out, _):
        for name, text in files.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_text(text)
    return store.path(k)


def test_a_live_writers_temporary_directory_is_kept_and_a_dead_ones_removed(tmp_path):
    store = Store(tmp_path)
    live, dead = key("live"), key("dead")
    for k in (live, dead):
        (tmp_path / f".tmp-{k.dirname}~otherhost-123").mkdir(parents=True)
    held = try_acquire(store.lease_path(live.dirname))  # the live writer holds its lease
    try:
        removed = store.clean_partial()
    finally:
        held.release()
    assert [p.name for p in removed] == [f".tmp-{dead.dirname}~otherhost-123"]
    assert (tmp_path / f".tmp-{live.dirname}~otherhost-123").is_dir()


def test_every_file_is_recorded_and_damage_is_named(tmp_path):
    store = Store(tmp_path)
    k = key()
    path = finished(store, k, {"data.jsonl": "row\n", "model/weights.bin": "x" * 100})
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["files"]["model/weights.bin"]["bytes"] == 100 and len(manifest["files"]["data.jsonl"]["sha256"]) == 64
    assert store.check(k) is None and store.check(k, deep=True) is None
    (path / "model/weights.bin").write_text("y" * 100)  # same size, other content: only a deep check sees it
    assert store.check(k) is None and "does not match its sha256" in store.check(k, deep=True)
    (path / "model/weights.bin").write_text("y" * 10)
    assert "weights.bin has 10 bytes, 100 when it was written" in store.check(k)
    (path / "model/weights.bin").unlink()
    assert store.check(k).endswith("weights.bin is missing")
    text = (path / "manifest.json").read_text()
    (path / "manifest.json").write_text(text[: len(text) // 2])
    problem = store.check(k)
    assert "manifest.json is unreadable" in problem
    moved = store.quarantine(k, problem)
    assert not store.path(k).exists() and "unreadable" in (moved / "BROKEN.txt").read_text()


def test_verify_reports_and_repairs(tmp_path, capsys):
    store = Store(tmp_path)
    good, bad = key("good"), key("bad")
    finished(store, good, {"a.txt": "a"})
    finished(store, bad, {"b.txt": "b"})
    (store.path(bad) / "b.txt").write_text("B")
    assert cmd_verify(tmp_path) == 1
    out = capsys.readouterr().out
    assert f"DAMAGED {bad.dirname}" in out and "2 steps checked" in out and "1 damaged" in out
    assert cmd_verify(tmp_path, repair=True) == 1 and not store.path(bad).exists()
    assert cmd_verify(tmp_path) == 0


def test_a_checkpoint_cut_short_is_discarded_and_resume_takes_the_last_complete(tmp_path, capsys):
    from sftbench.suites.models.train_checkpoints import COMPLETE_FILE, last_complete_checkpoint
    for n, complete in ((2, True), (4, True), (6, False)):
        ckpt = tmp_path / f"checkpoint-{n}"
        ckpt.mkdir()
        (ckpt / "model.safetensors").write_text("w")
        if complete:
            (ckpt / COMPLETE_FILE).write_text("saved\n")
    assert last_complete_checkpoint(tmp_path).name == "checkpoint-4"
    assert not (tmp_path / "checkpoint-6").exists()
    assert "discarding" in capsys.readouterr().err
    legacy = tmp_path / "legacy"  # checkpoints from before completion marks: trainer state + weights
    for n, state in ((1, '{"global_step": 1}'), (2, '{"global_st')):
        (legacy / f"checkpoint-{n}").mkdir(parents=True)
        (legacy / f"checkpoint-{n}" / "model.safetensors").write_text("w")
        (legacy / f"checkpoint-{n}" / "trainer_state.json").write_text(state)
    assert last_complete_checkpoint(legacy).name == "checkpoint-1"


def test_the_resume_fingerprint_does_not_depend_on_where_the_base_model_lies(tmp_path):
    from sftbench.suites.models.recipes import Recipe
    from sftbench.suites.models.chat_templates import get_template
    from sftbench.suites.models.train_checkpoints import run_fingerprint
    base = tmp_path / "a" / "base"
    base.mkdir(parents=True)
    (base / "config.json").write_text('{"hidden_size": 8}')
    (base / "model.safetensors").write_text("weights")
    moved = tmp_path / "elsewhere" / "base-copy"
    shutil.copytree(base, moved)
    args = ([{"instruction": "q", "output": "a"}], Recipe(), get_template("alpaca"))
    assert run_fingerprint(base, *args) == run_fingerprint(moved, *args)
    (moved / "config.json").write_text('{"hidden_size": 16}')
    assert run_fingerprint(base, *args) != run_fingerprint(moved, *args)


def test_a_full_disk_in_any_disguise_is_named_with_the_path():
    import errno

    from sftbench.suites.engine.commands.errors import describe
    code, text = describe(OSError(errno.ENOSPC, "No space left on device", "/data/store/x/model.safetensors"))
    assert code == 1 and "disk is full writing /data/store/x/model.safetensors" in text and "MiB free" in text
    wrapped = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1024 vs 986")
    code, text = describe(wrapped)
    assert code == 1 and "disk is full" in text


# -- end to end: real runs of a small suite -----------------------------------------------------------------------

def small_suite(tmp_path: Path, name: str = "rel", **recipe) -> Path:
    data = yaml.safe_load(TINY.read_text())
    data.update(name=name, datasets=data["datasets"][:2])
    data["recipe"] = {**data["recipe"], **recipe}
    data["leaderboard"].update(noise_floor_sample=0, n_bootstrap_lc=0)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def start(suite: Path, runs: Path, store: Path) -> subprocess.Popen:
    env = {**os.environ, "SFTBENCH_STORE": str(store)}
    return subprocess.Popen([sys.executable, "-m", "sftbench.suites.engine.cli", "run", str(suite), "--runs-dir",
                             str(runs), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 900) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def board(runs: Path, name: str = "rel") -> list[dict]:
    """The leaderboard without its wall-clock columns (a resumed step trains for a different time)."""
    return deterministic(json.loads((runs / name / "leaderboard.json").read_text())["leaderboard"])


@pytest.mark.slow
def test_two_concurrent_runs_compute_every_step_once_and_agree(tmp_path):
    suite, store = small_suite(tmp_path), tmp_path / "store"
    a, b = start(suite, tmp_path / "runs", store), start(suite, tmp_path / "runs", store)
    (code_a, err_a), (code_b, err_b) = finish(a), finish(b)
    assert code_a == 0 and code_b == 0, err_a[-2000:] + err_b[-2000:]
    n_steps = len(json.loads((tmp_path / "runs" / "rel" / "steps.json").read_text())["steps"])
    computed = err_a.count(" done (") + err_b.count(" done (")
    assert computed == n_steps, (computed, n_steps)  # each step computed by exactly one of the two
    assert "is computing it; waiting to reuse it" in err_a + err_b
    assert not list(store.glob(".tmp-*"))


@pytest.mark.slow
def test_damaged_steps_and_results_are_named_and_repaired_by_the_next_run(tmp_path):
    suite, store, runs = small_suite(tmp_path), tmp_path / "store", tmp_path / "runs"
    code, err = finish(start(suite, runs, store))
    assert code == 0, err[-2000:]
    before = board(runs)
    build = next(store.glob("build-random-*"))
    text = (build / "manifest.json").read_text()
    (build / "manifest.json").write_text(text[: len(text) // 3])
    train = next(store.glob("train-longest-s0-*"))
    (train / "model.safetensors").unlink()
    results = runs / "rel" / "results.json"
    results.write_text(results.read_text()[:100])
    code, err = finish(start(suite, runs, store))
    assert code == 0, err[-2000:]
    assert f"{build.name}: damaged ({build}/manifest.json is unreadable" in err
    assert f"{train.name}: damaged ({train}/model.safetensors is missing)" in err
    assert err.count(" done (") == 2  # only the two damaged steps: their results are identical, nothing downstream
    assert board(runs) == before and len(list((store / ".broken").iterdir())) == 2


@pytest.mark.slow
def test_kill_9_at_random_points_then_resume_to_the_same_leaderboard(tmp_path):
    """Three kills: two at random moments of the run, one the moment a training checkpoint appears (mid-save)."""
    suite = small_suite(tmp_path, epochs=2, save_steps=2)
    clean_store, clean_runs = tmp_path / "clean-store", tmp_path / "clean"
    t0 = time.time()
    code, err = finish(start(suite, clean_runs, clean_store))
    duration = time.time() - t0
    assert code == 0, err[-2000:]
    rng = random.Random(20261203)
    store, runs = tmp_path / "store", tmp_path / "runs"
    for attempt in range(3):
        proc = start(suite, runs, store)
        if attempt == 2:
            deadline = time.time() + duration
            while time.time() < deadline and not list(store.glob(".resume/train-*/checkpoint-*")):
                time.sleep(0.01)
        else:
            time.sleep(rng.uniform(0.1, 0.8) * duration)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    code, err = finish(start(suite, runs, store))
    assert code == 0, err[-2000:]
    assert board(runs) == board(clean_runs)
    assert not list(store.glob(".tmp-*")) and not list(store.glob(".resume/*"))
    for train in store.glob("train-*"):  # byte-identical weights to the run never killed
        twin = next(clean_store.glob(train.name))
        assert (train / "model.safetensors").read_bytes() == (twin / "model.safetensors").read_bytes()


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def _fill(path: Path) -> Path:
    filler = path / "filler.bin"
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * (1 << 20))
                fh.flush()
        except OSError:
            pass
    return filler


@pytest.mark.slow
def test_a_full_disk_during_world_building_and_training_then_resume(tmp_path):
    store = tmp_path / "tmpfs"
    if not _mount_tmpfs(store, "300m"):
        reason = "mounting a tmpfs needs root (mount -t tmpfs)"
        if os.environ.get("SFTBENCH_REQUIRE_TMPFS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        suite, runs = small_suite(tmp_path, epochs=2, save_steps=2), tmp_path / "runs"
        clean_runs = tmp_path / "clean"
        code, err = finish(start(suite, clean_runs, tmp_path / "clean-store"))
        assert code == 0, err[-2000:]

        filler = _fill(store)  # full before the first step: the world cannot be written
        code, err = finish(start(suite, runs, store))
        assert code == 1 and "the disk is full" in err and "Traceback" not in err, err[-2000:]
        assert not list(store.glob("world-*"))
        filler.unlink()

        proc = start(suite, runs, store)  # full in the middle of training
        deadline = time.time() + 600
        while time.time() < deadline and not list(store.glob(".resume/train-*/checkpoint-*")):
            time.sleep(0.01)
        filler = _fill(store)
        code, err = finish(proc)
        filler.unlink()
        assert code in (0, 1) and "Traceback" not in err, err[-2000:]
        if code == 1:
            assert "the disk is full" in err
        code, err = finish(start(suite, runs, store))
        assert code == 0, err[-2000:]
        assert board(runs) == board(clean_runs)
        assert not list(store.glob(".tmp-*"))
    finally:
        subprocess.run(["umount", "-l", str(store)], capture_output=True)
