"""The artifact store: one directory per finished step, written atomically, verified on reuse, never recomputed.

A step lives at `<store>/<kind>-<name>-<hash>/` (the store: `SFTBENCH_STORE`, `--store`, or the user's cache; a
suite's runs directory links to the steps it uses). A step is produced in a temporary sibling directory by the
holder of its lease and renamed into place only when complete, with `manifest.json` (which records every file's
size and sha256) written last inside it: a directory that exists is a finished step. A killed run leaves at most a
`.tmp-*` directory, removed by the next run once its writer is gone; a step whose files were later damaged is
moved aside and recomputed.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from sftbench.common.hashing import canonical_json, hash_obj

MANIFEST = "manifest.json"
TRACKED_PACKAGES = ("sftbench", "torch", "transformers", "trl", "tokenizers", "alpaca-eval", "scikit-learn",
                    "pandas", "numpy", "pydantic")


@dataclass(frozen=True)
class StepKey:
    kind: str          # build, tokenizer, pretrain, train, generate, judge, ...
    name: str          # human part of the directory name, e.g. the dataset name
    config: dict       # the resolved config of this step
    inputs: dict       # name -> hash of each input (other steps' hashes, file hashes)

    @property
    def hash(self) -> str:
        return hash_obj({"kind": self.kind, "config": self.config, "inputs": self.inputs})

    @property
    def dirname(self) -> str:
        return f"{self.kind}-{self.name}-{self.hash}"


def package_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_revision() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {"machine": platform.machine(), "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        import torch
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            info["cuda"] = torch.version.cuda
            info["visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")  # which GPUs this step was given
    except ImportError:
        pass
    return info


class StepDamaged(Exception):
    """A finished step whose files are missing, truncated or corrupt."""


class Store:
    """Content-addressed steps, shared by every suite and runs directory that uses it: `<root>/<kind>-<name>-<hash>/`.
    Beside the steps: `.leases/` (who computes what), `.resume/` (training checkpoints that survive a kill),
    `.broken/` (damaged steps moved aside), and the shared caches (`llm_cache.sqlite`, `lm_eval_cache/`)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, key: StepKey) -> Path:
        return self.root / key.dirname

    def is_done(self, key: StepKey) -> bool:
        return (self.path(key) / MANIFEST).is_file()

    def manifest(self, key: StepKey) -> dict:
        from sftbench.common.jsonio import read_json
        return read_json(self.path(key) / MANIFEST)

    def lease_path(self, dirname: str) -> Path:
        return self.root / LEASES / f"{dirname}.lock"

    def check(self, key: StepKey, deep: bool = False) -> str | None:
        """What is wrong with a finished step (None: nothing found): an unreadable manifest, a missing or resized
        file (every run), or content that no longer matches its sha256 (`deep`, as `sftbench verify` does)."""
        return check_dir(self.path(key), deep)

    def quarantine(self, key: StepKey, reason: str) -> Path:
        """Move a damaged step aside (`.broken/`) so it is recomputed; returns where it went."""
        dest = self.root / BROKEN / f"{key.dirname}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path(key), dest)
        (dest / "BROKEN.txt").write_text(reason + "\n")
        return dest

    def clean_partial(self) -> list[Path]:
        """Remove the temporary directories of steps whose writer is gone (its lease is free); a live process's
        temporary directory is left alone. Returns what was removed."""
        from sftbench.suites.engine.lease import try_acquire
        removed = []
        if not self.root.is_dir():
            return removed
        for tmp in sorted(self.root.glob(".tmp-*")):
            dirname = tmp.name[len(".tmp-"):].rsplit(TMP_SEP, 1)[0]
            lease = try_acquire(self.lease_path(dirname))
            if lease is None:
                continue  # someone is writing it right now
            try:
                shutil.rmtree(tmp, ignore_errors=True)
                removed.append(tmp)
            finally:
                lease.release()
        return removed

    @contextmanager
    def writing(self, key: StepKey, seed: int | None = None) -> Iterator[tuple[Path, dict]]:
        """Yield (temporary dir, extra manifest fields) for a step; on success record every file's sha256 in the
        manifest and rename the directory into place. Hold the step's lease around this (`Store.computing`).

        The body fills the directory and may add fields (stats, fingerprints, cost) to the dict. On any exception
        the temporary directory is deleted and nothing appears in the store.
        """
        final = self.path(key)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{key.dirname}{TMP_SEP}{socket.gethostname()}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        extra: dict[str, Any] = {}
        start = time.time()
        try:
            yield tmp, extra
            _umask_modes(tmp)
            manifest = {
                "step": key.kind, "name": key.name, "hash": key.hash, "config": key.config, "inputs": key.inputs,
                "seed": seed, "wall_time_s": round(time.time() - start, 3), "finished_at": time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "packages": package_versions(), "git_revision": git_revision(), "hardware": hardware(), **extra,
                "files": file_table(tmp),
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
            _umask_modes(tmp)
            if final.exists():  # another process finished the same step first: keep theirs
                shutil.rmtree(tmp)
            else:
                os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @contextmanager
    def computing(self, key: StepKey, waiting: Any = None) -> Iterator[bool]:
        """Hold the step's lease for the block; yields whether the step still has to be computed (False when
        another process finished it while this one waited)."""
        from sftbench.suites.engine.lease import acquire
        with acquire(self.lease_path(key.dirname), waiting):
            yield not self.is_done(key)


def file_table(root: Path) -> dict[str, dict[str, Any]]:
    """Every file below a step directory: its size and sha256 (the manifest's record, checked on reuse)."""
    from sftbench.common.hashing import hash_file
    return {str(p.relative_to(root)): {"bytes": p.stat().st_size, "sha256": hash_file(p)}
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink() and p.name != MANIFEST}


def check_dir(path: Path, deep: bool = False) -> str | None:
    """The first problem of a finished step directory, or None."""
    from sftbench.common.hashing import hash_file
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        return f"{path / MANIFEST} is missing"
    except (OSError, ValueError) as exc:
        return f"{path / MANIFEST} is unreadable ({type(exc).__name__}: {exc})"
    for rel, entry in (manifest.get("files") or {}).items():
        file = path / rel
        if not file.is_file():
            return f"{file} is missing"
        if file.stat().st_size != entry["bytes"]:
            return f"{file} has {file.stat().st_size} bytes, {entry['bytes']} when it was written"
        if deep and hash_file(file) != entry["sha256"]:
            return f"{file} does not match its sha256 (its content changed after it was written)"
    return None


LEASES, BROKEN, TMP_SEP = ".leases", ".broken", "~"


def _umask_modes(root: Path) -> None:
    """Files and folders of a finished step get the user's umask (libraries write some weights with 0600)."""
    from sftbench.common.jsonio import umask_mode
    for path in root.rglob("*"):
        if not path.is_symlink():
            umask_mode(path, directory=path.is_dir())


__all__ = ["Store", "StepKey", "StepDamaged", "canonical_json", "check_dir", "file_table", "MANIFEST"]
