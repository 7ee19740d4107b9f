"""MT-Bench (single-answer grading of two-turn questions by an LLM judge) as a registered evaluation."""

from sftbench.suites.evaluations import register
from sftbench.suites.evaluations.mt_bench import steps  # noqa: F401 (its step kinds)
from sftbench.suites.evaluations.mt_bench.plugin import MTBench

register(MTBench())
