"""`sftbench metrics alpaca-eval ANNOTATIONS.json [--df-gamed PATH] [--json]`: metrics of an annotations file.

Reads a published-format AlpacaEval annotations file (.json or .json.gz; alpaca_eval's `annotations.json`, or
the ones sftbench's judge steps write) and prints win_rate, lc_win_rate (alpaca_eval's GLM), their standard
errors and bootstrap confidence intervals over prompts (the GLM refitted per resample), n and avg_length.
df_gamed comes from the hub when it is reachable, else from `--df-gamed PATH`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sftbench.leaderboard.lc_refit import DEFAULT_N_BOOTSTRAP


def _fmt_ci(ci: list[float] | None) -> str:
    return "—" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def format_metrics(m: dict[str, Any]) -> str:
    level = f"{round(m['ci_level'] * 100)}% CI"
    boot = (f"bootstrap over prompts, {m['n_bootstrap']} resamples, seed {m['bootstrap_seed']}"
            if m["n_bootstrap"] else "no bootstrap (--n-bootstrap 0)")

    def row(name: str, value: float, se: float | None, ci: list[float] | None, bse: float | None) -> str:
        se_txt = "—" if se is None else f"{se:.3f}"
        bse_txt = "" if bse is None else f"  bootstrap SE {bse:.3f}"
        return f"  {name:<12} {value:8.3f}   SE {se_txt}   {level} {_fmt_ci(ci)}{bse_txt}"
    return "\n".join([
        f"AlpacaEval metrics: {m['generator']} vs {m['baseline']} (annotator {m['annotator']})",
        row("win_rate", m["win_rate"], m["standard_error"], m["win_rate_ci"], m["win_rate_bootstrap_se"]),
        row("lc_win_rate", m["lc_win_rate"], m["lc_standard_error"], m["lc_win_rate_ci"], m["lc_bootstrap_se"]),
        f"  {'n':<12} {m['n']:8d}   wins {m['n_wins']}, baseline wins {m['n_wins_base']}, draws {m['n_draws']}",
        f"  {'avg_length':<12} {m['avg_length']:8.1f}   characters of the model's outputs",
        f"  {'n_failed':<12} {m['n_failed']:8d}   annotations without a preference, counted as ties",
        f"  {'flagged':<12} {m['n_flagged_injection']:8d}   outputs flagged as addressing the judge",
        f"  CIs: {boot}; GLM {m['glm']}; df_gamed {m['df_gamed']['path']} (sha256 {m['df_gamed']['sha256'][:12]})",
    ])


def cmd_metrics_alpaca_eval(annotations_path: str | Path, df_gamed: str | Path | None = None, as_json: bool = False,
                            n_bootstrap: int = DEFAULT_N_BOOTSTRAP, seed: int = 0, ci: float = 0.95,
                            progress: bool = True) -> int:
    """Print the metrics of one annotations file; 0 on success, 2 on bad input or a missing df_gamed."""
    from sftbench.judges.alpaca_eval.data import df_gamed_path
    from sftbench.judges.alpaca_eval.metrics import alpaca_eval_metrics, annotation_arrays, load_annotations
    from sftbench.leaderboard.lc_refit import bootstrap_cis
    try:
        annotations = load_annotations(annotations_path)
        table = df_gamed_path(df_gamed)
        metrics = alpaca_eval_metrics(annotations, table)
        metrics.update(bootstrap_cis(*annotation_arrays(annotations), table, n_bootstrap, ci=ci, seed=seed,
                                     glm=metrics["glm"], progress=progress and not as_json and sys.stderr.isatty()))
    except (FileNotFoundError, ValueError) as exc:  # DataUnavailable is a FileNotFoundError: names --df-gamed
        print(f"error: {exc}", file=sys.stderr)
        return 2
    metrics["annotations"] = str(annotations_path)
    print(json.dumps(metrics, indent=2) if as_json else format_metrics(metrics))
    return 0


def add_metrics_parser(sub: Any) -> None:
    """Register `metrics alpaca-eval` on the CLI's subparsers (sets `func` to a Namespace -> int callable)."""
    p = sub.add_parser("metrics", help="metrics of judge annotation files (AlpacaEval)")
    msub = p.add_subparsers(dest="metrics_command", required=True)
    a = msub.add_parser("alpaca-eval", help="win rate, LC win rate, SEs, bootstrap CIs, n and avg length "
                                            "from an AlpacaEval annotations file")
    a.add_argument("annotations", type=Path, help="annotations file (.json or .json.gz, AlpacaEval format)")
    a.add_argument("--df-gamed", type=Path, help="local df_gamed.csv for the LC GLM (default: the hub's, online)")
    a.add_argument("--json", action="store_true", help="print the metrics as JSON")
    a.add_argument("--n-bootstrap", type=int, default=DEFAULT_N_BOOTSTRAP,
                   help=f"bootstrap resamples for the CIs, each refits the GLM "
                        f"(default {DEFAULT_N_BOOTSTRAP}; 0: none)")
    a.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    a.add_argument("--ci", type=float, default=0.95, help="confidence level (default 0.95)")
    a.set_defaults(func=lambda args: cmd_metrics_alpaca_eval(args.annotations, args.df_gamed, args.json,
                                                             args.n_bootstrap, args.seed, args.ci))


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m suites.metrics_cli alpaca-eval FILE ...`) until it is wired into sftbench."""
    parser = argparse.ArgumentParser(prog="sftbench")
    add_metrics_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["metrics", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
