"""The house rules of shared/DESIGN.md, read from the code's own imports: imports go one way between the rooms, no
module imports itself back through a cycle, no module is over 600 lines, no flat folder holds over ~15 modules."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"suites": "sftbench.suites", "judges": "sftbench.judges", "leaderboard": "sftbench.leaderboard",
           "datasets_builders": "sftbench.datasets_builders", "sftbench": "sftbench"}
# room -> the rooms it may import (sftbench.common: generic utilities, importable by all)
ALLOWED = {"sftbench.suites": {"sftbench.datasets_builders", "sftbench.judges", "sftbench.leaderboard"},
           "sftbench.datasets_builders": {"sftbench.judges"},
           "sftbench.judges": set(), "sftbench.leaderboard": set(), "sftbench.common": set()}


def modules() -> dict[str, Path]:
    out = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


def imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.startswith("sftbench")}


def room(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def test_imports_go_one_way_between_rooms():
    bad = []
    for module, path in modules().items():
        mine = room(module)
        if mine not in ALLOWED:
            continue
        for target in imports(path, top_level_only=False):
            theirs = room(target)
            if theirs not in (mine, "sftbench.common") and theirs in ALLOWED and theirs not in ALLOWED[mine]:
                bad.append(f"{path.relative_to(ROOT)} imports {target}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    known = modules()
    graph = defaultdict(set)
    for module, path in known.items():
        for target in imports(path, top_level_only=True):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module and not module.startswith(target + "."):
                graph[module].add(target)
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(known):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_modules_and_rooms_stay_small():
    long = [f"{p.relative_to(ROOT)}: {n}" for p in modules().values() if (n := len(p.read_text().splitlines())) > 600]
    assert not long, long
    crowded = []
    for folder in FOLDERS:
        for directory in [ROOT / folder, *(d for d in (ROOT / folder).rglob("*") if d.is_dir())]:
            count = len([p for p in directory.glob("*.py") if p.name != "__init__.py"])
            if count > 16:
                crowded.append(f"{directory.relative_to(ROOT)}: {count} modules")
    assert not crowded, crowded
