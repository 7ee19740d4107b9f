"""The `sftbench` command line."""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Sequence

import yaml

from sftbench.suites.engine.commands.errors import describe

DEFAULT_RUNS = Path("runs")


def _parse_set(values: Sequence[str], flag: str = "--set") -> dict[str, Any]:
    out = {}
    for item in values:
        if "=" not in item:
            raise ValueError(f"{flag} expects KEY=VALUE (e.g. recipe.epochs=2), got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ValueError(f"{flag} {item}: the value is not valid YAML ({problem}); quote it, e.g. "
                             f"{flag} '{key}=[1, 2]'") from None
    return out


def sftbench_version() -> str:
    try:
        return version("sftbench")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _suite_args(p: argparse.ArgumentParser, runs: bool = True) -> None:
    p.add_argument("suite", nargs="?", help="suite YAML file or shipped suite name (default: quickstart)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a suite field, e.g. --set recipe.epochs=2 (CLI > suite file > defaults)")
    p.add_argument("--threads", type=int, help="torch CPU threads (overrides the suite's `threads`)")
    if runs:
        p.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS,
                       help="where runs/<suite>/ shows the suite's steps, results and leaderboard (default: runs/)")
        p.add_argument("--store", type=Path, help="the step store shared by every suite (default: $SFTBENCH_STORE, "
                       "else ~/.cache/sftbench/store)")


def _load(args: argparse.Namespace):
    from sftbench.suites.engine.schema import load_suite, resolve_suite_path
    overrides = _parse_set(args.set)
    if args.threads:
        overrides["threads"] = args.threads
    return load_suite(resolve_suite_path(args.suite), overrides)


def cmd_validate(args: argparse.Namespace) -> int:
    suite = _load(args)
    print(f"ok: suite '{suite.name}' with {len(suite.datasets)} datasets, seeds {suite.seeds}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from sftbench.suites.engine.plan import make_plan
    from sftbench.suites.engine.executor import status
    plan = make_plan(_load(args), args.runs_dir, progress=False, store=args.store)
    rows = status(plan)
    for dirname, label, done in rows:
        print(f"{'cached ' if done else 'to run '} {dirname:<48} {label}")
    todo = sum(not done for *_, done in rows)
    print(f"{len(rows)} steps, {len(rows) - todo} cached, {todo} to run; store: {plan.store.root}")
    from sftbench.suites.engine.cost_estimate import estimate
    from sftbench.suites.engine.summary import estimate_lines, plan_totals
    est = estimate(plan)
    for line in [*estimate_lines(est), *plan_totals(plan, est)]:
        print(line)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from sftbench.suites.engine.api import run
    from sftbench.suites.engine.executor import console
    suite = _load(args)
    console.print(f"[bold]sftbench run[/] suite [cyan]{suite.name}[/]: {len(suite.datasets)} datasets x "
                  f"{len(suite.seeds)} seed(s), threads={suite.threads}")
    from sftbench.suites.engine.gate import ENV_MAX_USD, cost_gate, max_usd_from
    max_usd = max_usd_from(args.max_usd)
    gate = cost_gate(max_usd, args.yes, say=lambda text: console.print(text, markup=False, highlight=False),
                     budget_from="--max-usd" if args.max_usd is not None else ENV_MAX_USD)
    result = run(suite, args.runs_dir, max_usd=max_usd, progress=not args.quiet, store=args.store,
                 executor=args.executor, jobs=args.jobs, address=args.address, gate=gate)
    print(result.markdown)
    for line in result.summary:
        console.print(line)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from sftbench.datasets_builders.registry import describe
    from sftbench.suites.engine.schema import shipped_suites
    print("builders:")
    for name, doc in describe().items():
        print(f"  {name:<10} {doc}")
    print("judges (roles.judge providers):\n  world      the world's verifier: pairwise preference from exact checkers\n"
          "  openai, anthropic, openai_compatible, local, llamacpp_server, vllm_server   LLM judges (judges/llm)")
    from sftbench.suites.evaluations import module_of, registered
    print("evaluations (the suite's evaluation: section):")
    for plugin in registered():
        doc = (sys.modules[module_of(plugin.name)].__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        print(f"  {plugin.name:<12} {doc.split('. ')[0]}")
    print("suites:")
    for name, path in shipped_suites().items():
        description = (yaml.safe_load(path.read_text()) or {}).get("description", "").strip()
        print(f"  {name:<15} {description.split('. ')[0] if description else path}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from sftbench.suites.engine.commands.build import build_to_file, load_roles_file
    roles = load_roles_file(args.roles) if args.roles else None
    card = build_to_file(args.builder, args.pool, args.out, k=args.k, params=_parse_set(args.param, "--param"),
                         seed=args.seed,
                         roles=roles, skip_bad_rows=args.skip_bad_rows, cache_dir=args.cache_dir)
    print(f"wrote {card['size']} rows to {args.out} (card: {args.out}.card.json, sha256 {card['content_sha256'][:12]})")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sftbench", description="Benchmark SFT datasets head-to-head.")
    parser.add_argument("--version", action="version", version=f"sftbench {sftbench_version()}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    common.add_argument("--offline", action="store_true", help="never contact the Hugging Face hub or other "
                        "hosts: only local and cached files (HF_HUB_OFFLINE=1 does the same)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_with_parents(common))
    p = sub.add_parser("run", help="build, train, generate, judge and print the leaderboard")
    _suite_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars (sftbench's and every library's)")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: this machine (default); ray: a Ray cluster (pip install -e '.[ray]')")
    p.add_argument("--jobs", type=int, default=1, help="local executor: steps at once, each in a worker process")
    p.add_argument("--address", help="ray executor: the cluster's address (default: start a local Ray instance)")
    p.add_argument("--max-usd", type=float, help="LLM API budget in USD: the run stops before spending more (finished "
                   "steps kept); default: $SFTBENCH_MAX_USD, else the cost estimate's worst case")
    p.add_argument("--yes", "-y", action="store_true", help="proceed without asking when the cost estimate is above "
                   "the budget (or above $5 with no budget)")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("plan", help="list the steps of a suite and which are cached")
    _suite_args(p)
    p.set_defaults(func=cmd_plan)
    p = sub.add_parser("validate", help="check a suite file; errors name the file, line and field")
    _suite_args(p, runs=False)
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("ls", help="list builders, judges, evaluations and shipped suites")
    p.set_defaults(func=cmd_ls)
    p = sub.add_parser("build", help="build one dataset from a pool file")
    p.add_argument("builder")
    p.add_argument("--pool", required=True,
                   help="world | alpaca | evol_instruct_70k | lima | ism_sda | ism_sda_1k | ism_sda_heldout | NAME=PATH "
                        "(a local copy of that source) | any .json/.jsonl/.parquet(.gz) file in Alpaca, ShareGPT or messages format")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip malformed rows (counted in the card) "
                   "instead of failing the load")
    p.add_argument("--roles", type=Path, help="YAML with a suite-style `roles:` section (teacher/rater for LLM "
                   "builders; default: the world's stand-ins)")
    p.add_argument("--cache-dir", type=Path, help="where downloads (hub pools, upstream prompts) are cached")
    p.add_argument("--k", type=int, help="rows to select (builders that take k/n)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="other builder parameter")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(func=cmd_build)
    from sftbench.suites.engine.commands.leaderboard import add_commands
    from sftbench.suites.engine.commands.metrics import add_metrics_parser
    from sftbench.suites.engine.commands.power import add_power_parser
    from sftbench.suites.engine.commands.verify import add_verify_parser
    add_commands(sub)
    add_metrics_parser(sub)
    add_verify_parser(sub)
    add_power_parser(sub)
    p = sub.add_parser("completion", help="print a shell completion script: eval \"$(sftbench completion bash)\"")
    p.add_argument("shell", choices=["bash", "zsh", "tcsh"])
    p.set_defaults(func=cmd_completion)
    return parser


def _with_parents(common: argparse.ArgumentParser) -> type:
    """Subcommand parsers that all take the common options (--debug, --offline)."""
    class Parser(argparse.ArgumentParser):
        def __init__(self, **kw: Any) -> None:
            super().__init__(**{**kw, "parents": [*kw.get("parents", []), common]})
    return Parser


def cmd_completion(args: argparse.Namespace) -> int:
    import shtab
    print(shtab.complete(make_parser(), shell=args.shell))
    return 0


def _apply_environment(args: argparse.Namespace) -> None:
    if getattr(args, "offline", False):
        os.environ["HF_HUB_OFFLINE"] = os.environ["SFTBENCH_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"
    if getattr(args, "quiet", False):
        from sftbench.suites.engine.commands.quiet import silence_progress_bars
        silence_progress_bars()


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    _apply_environment(args)
    try:
        return args.func(args)
    except (Exception, KeyboardInterrupt) as exc:
        if getattr(args, "debug", False):
            raise
        code, message = describe(exc)
        print(message, file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
