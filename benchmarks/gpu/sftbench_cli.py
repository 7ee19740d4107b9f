"""`sftbench` for the benchmark's subprocesses: the installed CLI, or the source tree's when sftbench is not installed
(see common.ensure_sftbench). Run as a script, so the working directory never shadows the installed package."""

import sys

from common import ensure_sftbench

if __name__ == "__main__":
    ensure_sftbench()
    from sftbench.suites.engine.cli import main

    sys.exit(main())
