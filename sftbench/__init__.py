"""sftbench: which SFT data is best? Build competing instruction-tuning datasets, fine-tune one base model on each
with one recipe, evaluate every checkpoint, and compare them with confidence intervals and paired verdicts.

    import sftbench
    suite = sftbench.load_suite("quickstart", {"seeds": [0, 1]})   # a shipped suite or a YAML path
    result = sftbench.run(suite, runs_dir="runs")                  # every finished step is cached
    result.table        # pandas DataFrame: one row per dataset, every column's estimate, CI, Δ and verdict
    sftbench.load_leaderboard("runs/quickstart").markdown         # again from stored results, no model

The command line (`sftbench run`, `plan`, `validate`, ...) does the same; see the README.
"""

from __future__ import annotations

from typing import Any

__all__ = ["__version__", "load_suite", "plan", "run", "load_leaderboard", "RunResult"]


def __getattr__(name: str) -> Any:  # the API loads on first use: `import sftbench` stays light
    if name == "__version__":
        from sftbench.suites.engine.cli import sftbench_version
        return sftbench_version()
    if name in __all__:
        from sftbench.suites.engine import api
        return getattr(api, name)
    raise AttributeError(f"module 'sftbench' has no attribute {name!r}")
