"""Where steps live and how a suite's runs directory shows them.

Steps are content-addressed, so one store serves every suite and runs directory of a user: `--store DIR`, else
`SFTBENCH_STORE`, else `$XDG_CACHE_HOME/sftbench/store` (`~/.cache/sftbench/store`). A second suite, or the same
suite in another runs directory, reuses the world, pretraining, datasets and checkpoints it shares with the first.

A runs directory `runs/<suite>/` stays a self-describing view: a link to every step of the suite, `steps.json`
(each step's directory, kind and label), and the suite's own files (results, leaderboard, exports). Steps that an
older sftbench wrote inside the runs directory itself are adopted: moved into the store and linked back.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sftbench.suites.engine.step import RESUME_DIR, Step
from sftbench.suites.engine.store import MANIFEST, Store

STORE_ENV = "SFTBENCH_STORE"


def store_root(override: str | Path | None = None) -> Path:
    if override:
        return Path(override).expanduser()
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "sftbench" / "store"


def _move(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dest)
    except OSError:  # another filesystem
        tmp = dest.with_name(f".tmp-{dest.name}~adopt-{os.getpid()}")
        shutil.copytree(src, tmp, symlinks=True)
        os.replace(tmp, dest)
        shutil.rmtree(src)


def adopt(view: Path, store: Store, step: Step) -> bool:
    """A step an older sftbench wrote inside the runs directory moves into the store (its training checkpoints
    too); True when one was adopted."""
    if view.resolve() == store.root.resolve():
        return False
    legacy = view / step.key.dirname
    resume = view / RESUME_DIR / step.key.dirname
    if resume.is_dir() and not resume.is_symlink() and not (store.root / RESUME_DIR / step.key.dirname).exists():
        _move(resume, store.root / RESUME_DIR / step.key.dirname)
    if legacy.is_symlink() or not (legacy / MANIFEST).is_file() or store.is_done(step.key):
        return False
    _move(legacy, store.path(step.key))
    return True


def link(view: Path, store: Store, step: Step) -> None:
    """runs/<suite>/<step> -> the step in the store (nothing to do when the runs directory is the store)."""
    if view.resolve() == store.root.resolve():
        return
    view.mkdir(parents=True, exist_ok=True)
    here = view / step.key.dirname
    target = store.path(step.key).resolve()
    if here.is_symlink() and Path(os.readlink(here)) == target:
        return
    if here.is_symlink() or here.is_file():
        here.unlink()
    elif here.is_dir():  # an older copy of a step the store also holds: the store's wins
        shutil.rmtree(here)
    tmp = view / f".{step.key.dirname}.{os.getpid()}.link"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target, target_is_directory=True)
    os.replace(tmp, here)


def write_index(view: Path, store: Store, steps: list[Step]) -> None:
    """steps.json: what the runs directory's links point to, readable without following them."""
    from sftbench.common.jsonio import write_json_atomic
    view.mkdir(parents=True, exist_ok=True)
    write_json_atomic(view / "steps.json", {"store": str(store.root.resolve()), "steps": [
        {"dir": s.key.dirname, "kind": s.key.kind, "label": s.label, "done": store.is_done(s.key)} for s in steps]})


__all__ = ["store_root", "adopt", "link", "write_index", "STORE_ENV"]
