"""Install the carried wheels on the GPU machine: what it lacks goes into TARGET (put TARGET on PYTHONPATH).

    python benchmarks/gpu/install_wheels.py .whl /tmp/sftbench/site-packages

TARGET's path must contain `site-packages`: dill (under datasets' fingerprinting) pickles modules from any other
folder by value, and then fails on pyarrow's tables ("Can't pickle <class 'MonthDayNano'>"; measured here).

Unpacks `.whl/wheels-cp<this python>.tar.xz` (made by make_wheels.sh), then installs with
`pip install --no-index --no-deps --ignore-requires-python --target TARGET` every wheel whose distribution is not
installed already (installed torch, transformers, numpy... are kept), except: sftbench always, setuptools when the
installed one has no pkg_resources (>= 81; alpaca_eval imports it), and a carried package whose installed version
the installed wheels' requirements reject (then the carried one shadows it on PYTHONPATH). Without pip the wheels are
unzipped instead. Then reports, without failing, what `pip check` finds and which imports fail.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

ALWAYS = {"sftbench"}
IMPORTS = ("trl", "datasets", "pyarrow", "pandas", "pydantic", "scipy", "sklearn", "matplotlib", "nltk",
           "alpaca_eval", "rich", "sftbench.suites.engine.cli", "sftbench.suites.models.train")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def requirements(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist lines (from its METADATA)."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode("utf-8", "replace")
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


def choose(wheels: list[Path]) -> tuple[list[Path], list[str]]:
    """Which carried wheels to install, and why (or why not), one line each.

    A wheel is installed when its distribution is missing here; sftbench always; setuptools when the installed one
    has no pkg_resources; and any carried package whose installed version a chosen wheel's requirements reject
    (e.g. sftbench's scikit-learn<1.10, datasets' pyarrow>=24), repeated until nothing changes.
    """
    by_name = {norm(w.name.split("-")[0]): w for w in wheels}
    version = {n: w.name.split("-")[1] for n, w in by_name.items()}
    reason: dict[str, str] = {}
    for name in by_name:
        have = installed(name)
        if name in ALWAYS or have is None:
            reason[name] = f"install {name} {version[name]}" + (f" (replaces {have})" if have else "")
        elif name == "setuptools" and int(have.split(".")[0]) >= 81:
            reason[name] = f"install setuptools {version[name]} (installed {have} has no pkg_resources)"
    warnings: list[str] = []
    try:
        from packaging.requirements import Requirement
        from packaging.version import Version
    except ImportError:
        warnings.append("packaging not importable: installed versions were not checked against requirements")
    else:
        env = {"extra": ""}
        changed = True
        while changed:
            changed = False
            for name in list(reason):
                for line in requirements(by_name[name]):
                    req = Requirement(line)
                    if req.marker is not None and not req.marker.evaluate(env):
                        continue
                    dep = norm(req.name)
                    have = installed(dep)
                    if dep in reason or have is None or req.specifier.contains(Version(have), prereleases=True):
                        continue
                    if dep in by_name and req.specifier.contains(Version(version[dep]), prereleases=True):
                        reason[dep] = (f"install {dep} {version[dep]} (installed {have}; {name} needs "
                                       f"{req.name}{req.specifier})")
                        changed = True
                    else:
                        warnings.append(f"{name} needs {req.name}{req.specifier}, installed {have}, none carried")
    lines = [reason.get(n, f"skip    {n}: installed {installed(n)}, carried {version[n]}") for n in sorted(by_name)]
    return [by_name[n] for n in sorted(reason)], lines + [f"warning: {w}" for w in sorted(set(warnings))]


def unzip_install(wheels: list[Path], target: Path) -> None:
    """pip-less install: a wheel is a zip of the installed tree (plus *.data/{purelib,platlib} to move up)."""
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as z:
            for member in z.infolist():
                parts = member.filename.split("/")
                if len(parts) > 2 and parts[0].endswith(".data") and parts[1] in ("purelib", "platlib"):
                    member.filename = "/".join(parts[2:])
                elif parts[0].endswith(".data"):
                    continue  # scripts, headers: not needed
                path = z.extract(member, target)
                mode = member.external_attr >> 16
                if mode:
                    os.chmod(path, mode & 0o777)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__)
        return 2
    src, target = Path(argv[0]), Path(argv[1])
    if "site-packages" not in str(target):
        print(f"error: {target}: install into a folder named site-packages (e.g. {target / 'site-packages'}); dill, "
              "under datasets' fingerprinting, pickles modules found elsewhere by value and fails on pyarrow",
              file=sys.stderr)
        return 2
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    archive = src / f"wheels-{tag}.tar.xz"
    if not archive.is_file():
        found = sorted(p.name for p in src.glob("wheels-*.tar.xz")) if src.is_dir() else []
        print(f"error: {archive} not found (have: {found or 'nothing'}); run PYVER={sys.version_info.major}."
              f"{sys.version_info.minor} bash benchmarks/gpu/make_wheels.sh on the CPU side and carry .whl",
              file=sys.stderr)
        return 1
    start = time.perf_counter()
    unpack = target.parent / f"{target.name}-wheels"
    with tarfile.open(archive, "r:xz") as tar:
        tar.extractall(unpack, filter="data")
    wheels = sorted((unpack / "wheels").glob("*.whl"))
    chosen, notes = choose(wheels)
    print("\n".join(notes))
    target.mkdir(parents=True, exist_ok=True)
    has_pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, check=False).returncode == 0
    if chosen and has_pip:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                        "--ignore-requires-python", "--disable-pip-version-check", "--upgrade", "--target", str(target),
                        *map(str, chosen)], check=True)
    elif chosen:
        print("pip not found: unzipping the wheels instead")
        unzip_install(chosen, target)
    print(f"installed {len(chosen)} of {len(wheels)} wheels into {target} in {time.perf_counter() - start:.0f} s")

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]).rstrip(":")}
    if has_pip:
        check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, env=env,
                               cwd="/", check=False)
        print("pip check (informational; lm-eval (openllm tier) and openai/tiktoken are left out on purpose):")
        print("\n".join("  " + line for line in (check.stdout + check.stderr).strip().splitlines()[:40]))
    probe = ("import importlib, sys\nbad = []\nfor m in sys.argv[1:]:\n    try:\n        importlib.import_module(m)\n"
             "    except Exception as e:\n        bad.append(f'{m}: {type(e).__name__}: {e}')\n"
             "print('imports: all ok' if not bad else 'imports failing:\\n  ' + '\\n  '.join(bad))\n")
    subprocess.run([sys.executable, "-c", probe, *IMPORTS], env=env, cwd="/", check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
