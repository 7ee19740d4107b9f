"""`sftbench verify [PATH]`: check every finished step of a store (or of the steps a runs directory links to)
against the sizes and sha256s its manifest recorded. Exit code 0 when all are intact, 1 when some are damaged
(`--repair` moves those aside, so the next run computes them again)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sftbench.suites.engine.store import BROKEN, LEASES, MANIFEST, check_dir


def step_dirs(path: Path) -> list[Path]:
    """Finished-step directories under `path`: a store, a suite's runs directory (its links), or runs/."""
    found = []
    for candidate in sorted(path.iterdir()) if path.is_dir() else []:
        if candidate.name.startswith(".") or candidate.name in (LEASES, BROKEN):
            continue
        if candidate.is_dir() and (candidate / MANIFEST).exists():
            found.append(candidate)
        elif candidate.is_dir() and not candidate.is_symlink() and (candidate / "steps.json").is_file():
            found += step_dirs(candidate)  # runs/ holding suites
    return found


def cmd_verify(path: Path | None, repair: bool = False, out: Any = None) -> int:
    from sftbench.suites.engine.view import store_root
    out = out or sys.stdout
    root = Path(path) if path is not None else store_root()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such store or runs directory")
    dirs = step_dirs(root)
    damaged, unrecorded = 0, 0
    for step in dirs:
        problem = check_dir(step, deep=True)
        if problem is None:
            if '"files"' not in (step / MANIFEST).read_text():
                unrecorded += 1
            continue
        damaged += 1
        out.write(f"DAMAGED {step.name}: {problem}\n")
        if repair:
            target = step.resolve()
            dest = target.parent / BROKEN / f"{target.name}.verify"
            dest.parent.mkdir(parents=True, exist_ok=True)
            target.rename(dest)
            out.write(f"  moved aside to {dest}; the next run computes it again\n")
    out.write(f"{len(dirs)} steps checked under {root}: {len(dirs) - damaged} intact, {damaged} damaged"
              + (f" ({unrecorded} written before checksums were recorded: checked for a readable manifest only)"
                 if unrecorded else "") + "\n")
    return 1 if damaged else 0


def add_verify_parser(sub: Any) -> None:
    p = sub.add_parser("verify", help="check every finished step against its recorded sha256s")
    p.add_argument("path", nargs="?", type=Path, help="a store, runs/<suite>/ or runs/ (default: the store)")
    p.add_argument("--repair", action="store_true", help="move damaged steps aside so the next run redoes them")
    p.set_defaults(func=lambda a: cmd_verify(a.path, a.repair))
