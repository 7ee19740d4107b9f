import json
import os

import pytest
from sftbench.suites.engine.store import MANIFEST, StepKey, Store

from sftbench.common.hashing import hash_dir, hash_obj


def key(**config):
    return StepKey("build", "demo", config or {"k": 1}, {"pool": "abc"})


def test_hash_depends_on_config_and_inputs_not_dict_order():
    a = StepKey("build", "x", {"k": 1, "seed": 0}, {"pool": "p1"})
    assert a.hash == StepKey("build", "x", {"seed": 0, "k": 1}, {"pool": "p1"}).hash
    assert a.hash != StepKey("build", "x", {"k": 2, "seed": 0}, {"pool": "p1"}).hash
    assert a.hash != StepKey("build", "x", {"k": 1, "seed": 0}, {"pool": "p2"}).hash
    assert a.dirname == f"build-x-{a.hash}"
    assert hash_obj({"a": [1, 2]}) != hash_obj({"a": [2, 1]})


def test_writing_is_atomic_and_records_manifest(tmp_path):
    store = Store(tmp_path)
    k = key()
    with store.writing(k, seed=3) as (out, extra):
        (out / "data.txt").write_text("hello")
        extra["stats"] = {"rows": 1}
        assert not store.is_done(k)  # nothing visible until the body finishes
    assert store.is_done(k)
    manifest = json.loads((store.path(k) / MANIFEST).read_text())
    assert manifest["config"] == {"k": 1} and manifest["inputs"] == {"pool": "abc"}
    assert manifest["seed"] == 3 and manifest["stats"] == {"rows": 1}
    assert "torch" in manifest["packages"] and manifest["wall_time_s"] >= 0
    assert (store.path(k) / "data.txt").read_text() == "hello"


def test_failed_step_leaves_nothing(tmp_path):
    store = Store(tmp_path)
    k = key()
    with pytest.raises(RuntimeError):
        with store.writing(k) as (out, _):
            (out / "partial.txt").write_text("half")
            raise RuntimeError("killed")
    assert not store.is_done(k)
    assert not any(tmp_path.iterdir())


def test_leftovers_of_a_killed_process_are_cleaned(tmp_path):
    store = Store(tmp_path)
    leftover = tmp_path / f".tmp-{key().dirname}-99999"
    leftover.mkdir()
    (leftover / "x").write_text("partial")
    assert store.clean_partial() == [leftover]
    assert not leftover.exists()


def test_directory_without_manifest_is_not_done(tmp_path):
    store = Store(tmp_path)
    store.path(key()).mkdir(parents=True)
    assert not store.is_done(key())


def test_hash_dir_sees_content_and_names(tmp_path):
    (tmp_path / "a").write_text("1")
    h1 = hash_dir(tmp_path)
    (tmp_path / "a").write_text("2")
    h2 = hash_dir(tmp_path)
    os.rename(tmp_path / "a", tmp_path / "b")
    assert len({h1, h2, hash_dir(tmp_path)}) == 3
