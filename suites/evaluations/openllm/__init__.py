"""OpenLLM tasks through lm-evaluation-harness as a registered evaluation."""

from sftbench.suites.evaluations import register
from sftbench.suites.evaluations.openllm import run  # noqa: F401 (its step kind)
from sftbench.suites.evaluations.openllm.plugin import OpenLLM

register(OpenLLM())
