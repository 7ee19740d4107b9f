"""The shipped `ablations` suite plans offline into its 93 steps with no LLM call to pay (its full run, 20 minutes on
2 cores, is recorded in the README; its step keys are in the golden dump)."""

from __future__ import annotations

from sftbench.suites.engine.cli import main


def test_ablations_plans_without_llm_calls(tmp_path, capsys):
    assert main(["plan", "ablations", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "93 steps, 0 cached, 93 to run" in out
    assert "build-skillmix-shirker-20-" in out and "train-longest-refined-s2-" in out
    assert "total: no LLM calls to pay for" in out
