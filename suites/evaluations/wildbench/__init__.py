"""WildBench v2 (checklist-guided WB-Score and pairwise WB-Reward by an LLM judge) as a registered evaluation."""

from sftbench.suites.evaluations import register
from sftbench.suites.evaluations.wildbench import steps  # noqa: F401 (its step kinds)
from sftbench.suites.evaluations.wildbench.plugin import WildBench

register(WildBench())
