"""Installed, everything lives under `sftbench.` (PyPI has unrelated `judges` and `leaderboard` distributions), while
the repository keeps its top-level folders: `suites/` installs as `sftbench.suites`, `judges/` as `sftbench.judges`,
and so on. The rest of the metadata is in pyproject.toml."""

from setuptools import find_packages, setup

FOLDERS = ("suites", "judges", "leaderboard", "datasets_builders")  # the repository's folders, each under sftbench.

packages = [f"sftbench.{p}" if not p.startswith("sftbench") else p
            for p in find_packages(include=["sftbench", "sftbench.*", *(f"{f}*" for f in FOLDERS)])]
setup(packages=packages, package_dir={"sftbench": "sftbench", **{f"sftbench.{f}": f for f in FOLDERS}})
