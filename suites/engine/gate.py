"""The cost gate of `sftbench run`: nothing is paid for before the user has seen what it may cost.

Before the first step, the run prints the estimate of the LLM calls its pending steps will make
(suites/engine/cost_estimate.py). It asks "proceed? [y/N]" on a terminal when that worst case is above the run's
budget (`--max-usd`, else the environment variable SFTBENCH_MAX_USD) or, with no budget, above DEFAULT_GATE_USD,
and also when a model of a provider that bills (openai, anthropic, a remote OpenAI-compatible endpoint) has no
known price. Without a terminal it refuses (exit code 2), naming `--yes` and `--max-usd`; `--yes` proceeds without
asking. A run that proceeds with no budget gets the estimate's worst case as its cap, so no run spends without one
(the cap holds for every call of the run: the ledger books each call's worst case before sending it). Runs whose
roles are all the world's stand-ins or local models never ask.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any, Callable

DEFAULT_GATE_USD = 5.0
ENV_MAX_USD = "SFTBENCH_MAX_USD"


class GateRefused(ValueError):
    """The run stopped before its first step: the estimate needs a confirmation it did not get (exit code 2)."""


def max_usd_from(cli_value: float | None) -> float | None:
    """The run's budget: `--max-usd`, else SFTBENCH_MAX_USD, else None."""
    if cli_value is not None:
        if cli_value < 0:
            raise ValueError(f"--max-usd {cli_value}: a budget cannot be negative")
        return cli_value
    raw = os.environ.get(ENV_MAX_USD, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{ENV_MAX_USD}={raw!r} is not an amount of US dollars (e.g. {ENV_MAX_USD}=20)") from None
    if value < 0:
        raise ValueError(f"{ENV_MAX_USD}={raw!r}: a budget cannot be negative")
    return value


def _ask_terminal(question: str) -> str:
    sys.stderr.write(question)
    sys.stderr.flush()
    return sys.stdin.readline()


def worst_case_cap(usd: float) -> float:
    """The cap of a run that proceeds without a budget: the estimate's worst case rounded up to the cent (with room
    for float rounding, so a run that spends exactly its estimate is never stopped by it)."""
    return max(math.ceil(usd * 100) / 100, usd * (1 + 1e-9))


def decide(est: Any, max_usd: float | None, yes: bool, interactive: bool, say: Callable[[str], None],
           ask: Callable[[str], str] = _ask_terminal, budget_from: str = "--max-usd") -> float | None:
    """Print the estimate; return the run's cap (None: no cap), or raise GateRefused before anything is spent."""
    from sftbench.suites.engine.summary import estimate_lines, usd_up
    if not est.paid:  # world roles, local models, or nothing left to call
        for line in est.warnings:
            say(f"warning: {line}")
        return max_usd
    for line in estimate_lines(est):
        say(line)
    unpriced = [est.roles[r] for r in est.unpriced]
    if max_usd is not None and unpriced:
        names = ", ".join(f"'{r.model}' (roles.{r.role})" for r in unpriced)
        raise GateRefused(f"no price for {names}, so the budget {budget_from} {max_usd:g} cannot be enforced on its "
                          f"calls; add the price to the role's params.prices, e.g. roles.{unpriced[0].role}.params."
                          f"prices: {{'{unpriced[0].model}': {{input_per_m: 1.0, output_per_m: 2.0}}}} (USD per 1M "
                          "tokens); nothing was spent")
    unknown_billing = [r for r in unpriced if not r.local_endpoint]
    reasons = []
    if max_usd is not None and est.usd > max_usd:
        reasons.append(f"is above the budget {budget_from} {max_usd:g}")
    if max_usd is None and est.usd > DEFAULT_GATE_USD:
        reasons.append(f"is above ${DEFAULT_GATE_USD:g} and no budget is set")
    if unknown_billing:
        reasons.append("has calls of " + ", ".join(f"'{r.model}' (roles.{r.role})" for r in unknown_billing)
                       + ", a model with no known price")
    if reasons:
        why = f"the estimate (<= ${usd_up(est.usd)}" + (" plus unpriced calls" if unknown_billing else "") + ") " \
            + " and ".join(reasons)
        if yes:
            say(f"{why}; proceeding (--yes)")
        elif interactive:
            answer = ask(f"{why}. Proceed? [y/N] ").strip().lower()
            if answer not in ("y", "yes"):
                raise GateRefused(f"not confirmed: {why}; nothing was spent. Run again with --max-usd N (a budget the "
                                  "run never passes) or --yes")
        else:
            raise GateRefused(f"{why}, and there is no terminal to ask for a confirmation; nothing was spent. Run "
                              "again with --yes to proceed, or with --max-usd N to set a budget (the run stops before "
                              f"spending more than N; ${usd_up(est.usd)} lets every estimated call through)")
    if max_usd is not None:
        say(f"budget: ${max_usd:g} ({budget_from}); the run stops before spending more")
        return max_usd
    if unpriced:
        say("warning: no budget for this run: " + ", ".join(f"roles.{r.role} ('{r.model}')" for r in unpriced)
            + " has no price; give it one (params.prices) and a --max-usd to have the run capped")
        return None
    cap = worst_case_cap(est.usd)
    say(f"budget: ${cap:.2f}, the estimate's worst case (--max-usd sets another); the run stops before spending more")
    return cap


def cost_gate(max_usd: float | None = None, yes: bool = False, *, interactive: bool | None = None,
              say: Callable[[str], None] | None = None, ask: Callable[[str], str] = _ask_terminal,
              budget_from: str = "--max-usd") -> Callable[[Any], float | None]:
    """A gate for `sftbench.suites.engine.api.run(gate=...)`: plan -> the run's cap (see `decide`). `max_usd`: the
    budget (default: the plan's, i.e. run's `max_usd`); `interactive`: whether a question can be asked (default:
    stdin is a terminal)."""
    def gate(plan: Any) -> float | None:
        from sftbench.suites.engine.cost_estimate import estimate
        tty = sys.stdin is not None and sys.stdin.isatty() if interactive is None else interactive
        budget = max_usd if max_usd is not None else getattr(plan, "max_usd", None)
        return decide(estimate(plan), budget, yes, tty, say or (lambda text: print(text, file=sys.stderr)), ask,
                      budget_from)
    return gate


__all__ = ["DEFAULT_GATE_USD", "ENV_MAX_USD", "GateRefused", "cost_gate", "decide", "max_usd_from", "worst_case_cap"]
