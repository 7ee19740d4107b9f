"""The versions the README promises: Python 3.10 to 3.12, torch >= 2.6, transformers >= 5.0, trl >= 1.0.

* The code uses nothing newer than Python 3.10 (vermin reads every module).
* pip's resolver, run by a real Python 3.10 and 3.12, satisfies sftbench's dependencies with the oldest allowed
  torch / transformers / trl, and with a GPU box's stack (Python 3.12, torch 2.11, transformers 5.17) - a dry run:
  metadata only, nothing installed. It needs PyPI; offline it skips, unless SFTBENCH_REQUIRE_PYPI=1 (CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ["suites", "judges", "leaderboard", "datasets_builders", "sftbench"]


def test_the_code_runs_on_python_3_10():
    vermin = Path(sys.executable).parent / "vermin"
    got = subprocess.run([str(vermin), "--target=3.10-", "--violations", "--no-tips", "--eval-annotations", *FOLDERS],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert got.returncode == 0, got.stdout[-3000:]


def find_python(version: str) -> str | None:
    """A working interpreter of that version: on PATH, or one of pyenv's (whose shims fail when not selected)."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{version}"), *map(str, sorted(root.glob(f"versions/{version}.*/bin/python{version}")))]
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    return None


def dependencies() -> list[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["requires-python"] == ">=3.10,<3.13"
    return meta["dependencies"]


@pytest.mark.long  # two resolver runs against PyPI, about 2.5 minutes: `pytest -m long`
@pytest.mark.parametrize("python, pins", [
    ("3.10", ["torch==2.6.0", "transformers==5.0.0", "trl==1.0.0"]),   # the oldest allowed
    ("3.12", ["torch==2.11.0", "transformers==5.17.0"]),               # a GPU box (the H200 issue's stack)
])
def test_pip_resolves_the_supported_range(python, pins, tmp_path):
    """A real Python of that version resolves (pip --dry-run: metadata only, nothing installed)."""
    interpreter = find_python(python)
    if interpreter is None:
        pytest.skip(f"python{python} is not on this machine")
    venv_dir = tmp_path / "venv"
    subprocess.run([interpreter, "-m", "venv", str(venv_dir)], check=True, timeout=300)
    deps = [d for d in dependencies() if not any(d.startswith(p.split("==")[0]) for p in pins)]
    cmd = [str(venv_dir / "bin" / "python"), "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
           "--report", str(tmp_path / "report.json"), *pins, *deps]
    got = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    if got.returncode != 0 and any(s in got.stderr for s in ("NewConnectionError", "Network is unreachable",
                                                              "Temporary failure in name resolution")):
        if os.environ.get("SFTBENCH_REQUIRE_PYPI") == "1":
            pytest.fail(f"PyPI unreachable: {got.stderr[-500:]}")
        pytest.skip("PyPI unreachable")
    assert got.returncode == 0, got.stderr[-3000:]
    chosen = {i["metadata"]["name"].lower(): i["metadata"]["version"]
              for i in json.loads((tmp_path / "report.json").read_text())["install"]}
    for pin in pins:
        name, wanted = pin.split("==")
        assert chosen[name] == wanted, (name, chosen[name])
