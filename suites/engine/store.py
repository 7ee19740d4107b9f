"""The artifact store: one directory per finished step, written atomically, never recomputed.

A step lives at `runs/<suite>/<kind>-<name>-<hash>/`. It is produced in a temporary sibling directory and
renamed into place only when complete, with `manifest.json` written last inside it, so a directory that
exists is a finished step, and a killed run leaves at most a `.tmp-*` directory that the next run removes.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
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
    except ImportError:
        pass
    return info


class Store:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, key: StepKey) -> Path:
        return self.root / key.dirname

    def is_done(self, key: StepKey) -> bool:
        return (self.path(key) / MANIFEST).is_file()

    def manifest(self, key: StepKey) -> dict:
        return json.loads((self.path(key) / MANIFEST).read_text())

    def clean_partial(self) -> list[Path]:
        """Remove temporary directories left by a killed run; returns what was removed."""
        removed = []
        if self.root.is_dir():
            for tmp in self.root.glob(".tmp-*"):
                shutil.rmtree(tmp, ignore_errors=True)
                removed.append(tmp)
        return removed

    @contextmanager
    def writing(self, key: StepKey, seed: int | None = None) -> Iterator[tuple[Path, dict]]:
        """Yield (temporary dir, extra manifest fields) for a step; on success rename it into place.

        The body fills the directory and may add fields (stats, fingerprints, cost) to the dict.
        On any exception the temporary directory is deleted and nothing appears in the store.
        """
        final = self.path(key)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{key.dirname}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        extra: dict[str, Any] = {}
        start = time.time()
        try:
            yield tmp, extra
            manifest = {
                "step": key.kind, "name": key.name, "hash": key.hash, "config": key.config, "inputs": key.inputs,
                "seed": seed, "wall_time_s": round(time.time() - start, 3), "finished_at": time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "packages": package_versions(), "git_revision": git_revision(), "hardware": hardware(), **extra,
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


def _umask_modes(root: Path) -> None:
    """Files and folders of a finished step get the user's umask (libraries write some weights with 0600)."""
    from sftbench.common.jsonio import umask_mode
    for path in root.rglob("*"):
        if not path.is_symlink():
            umask_mode(path, directory=path.is_dir())


__all__ = ["Store", "StepKey", "canonical_json", "MANIFEST"]
