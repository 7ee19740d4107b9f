"""AlpacaEval (win rate and length-controlled win rate against a baseline) as a registered evaluation."""

from sftbench.suites.evaluations import register
from sftbench.suites.evaluations.alpaca_eval import ae2, noise_floor, world  # noqa: F401 (their step kinds)
from sftbench.suites.evaluations.alpaca_eval.plugin import AlpacaEval

register(AlpacaEval())
