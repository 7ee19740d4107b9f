"""`cmd_leaderboard` and `cmd_compare` (suites/engine/cli_leaderboard.py) on fake run directories: no model anywhere."""

import argparse
import io
import shutil

import pytest
from sftbench.suites.engine.commands.leaderboard import (
    add_commands,
    cmd_compare,
    cmd_leaderboard,
)

from tests.leaderboard.fakeruns import DatasetSpec, write_suite

QUICK = {"n_bootstrap": 60, "n_bootstrap_lc": 0, "n_permutations": 1000}


@pytest.mark.parametrize("fmt", ["md", "csv", "json", "latex", "html"])
def test_leaderboard_renders_every_format_from_stored_results(one_seed_suite, tmp_path, fmt):
    suite = tmp_path / "oneseed"
    shutil.copytree(one_seed_suite, suite)
    out = tmp_path / f"board.{fmt}"
    assert cmd_leaderboard(suite, fmt, out, **QUICK) == 0
    text = out.read_text()
    assert {"md": "| dataset", "csv": "win_rate_ci_low", "json": '"schema_version": 3', "latex": "\\toprule",
            "html": "<table class=\"sortable"}[fmt] in text
    assert "better" in text or fmt == "latex"


def test_leaderboard_prints_to_stdout_and_defaults_to_the_first_dataset(one_seed_suite):
    buf = io.StringIO()
    assert cmd_leaderboard(one_seed_suite, "md", stdout=buf, **QUICK) == 0
    md = buf.getvalue()
    assert "Paired comparisons against `base`" in md and "checkpoints, not the datasets" in md
    assert "Judge noise floor (alpaca_eval): 0" in md and "deterministic judge" in md


def test_leaderboard_reads_a_shipped_leaderboard_json(one_seed_suite, tmp_path):
    shipped = tmp_path / "published.json"
    assert cmd_leaderboard(one_seed_suite, "json", shipped, **QUICK) == 0
    buf = io.StringIO()
    assert cmd_leaderboard(shipped, "md", stdout=buf) == 0  # the stored settings: reuses the stored statistics
    assert "Leaderboard: oneseed" in buf.getvalue()


def test_leaderboard_unknown_format():
    with pytest.raises(ValueError, match="formats"):
        cmd_leaderboard("nowhere", "pdf")


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """Baseline results with `mydata` v1 plus another dataset; new results (3 seeds each, other training runs) with
    `mydata` v2 better, v3 worse, v4 the same recipe retrained."""
    root = tmp_path_factory.mktemp("versions")
    kw = {"n_prompts": 60, "suite": "s", "seeds": (0, 1, 2)}
    base = write_suite(root / "base", [DatasetSpec("mydata", 0.0, 50), DatasetSpec("other", 0.1, 50)], seed=1, **kw)
    better = write_suite(root / "v2", [DatasetSpec("mydata", 0.25, 50)], seed=2, **kw)
    worse = write_suite(root / "v3", [DatasetSpec("mydata", -0.25, 50)], seed=3, **kw)
    same = write_suite(root / "v4", [DatasetSpec("mydata", 0.0, 50)], seed=4, **kw)
    return base, better, worse, same


def test_compare_exits_1_only_when_a_benchmark_got_significantly_worse(versions):
    base, better, worse, same = versions
    for new, code, word in ((better, 0, "BETTER"), (worse, 1, "WORSE"), (same, 0, "NO DETECTABLE DIFFERENCE")):
        buf = io.StringIO()
        assert cmd_compare(new, base, 0.05, stdout=buf, **QUICK) == code, buf.getvalue()
        assert "win_rate: " in buf.getvalue() and word in buf.getvalue().split("win_rate")[1].splitlines()[0]
        assert "mydata@new" in buf.getvalue() and "mydata@baseline" in buf.getvalue()


def test_compare_against_a_shipped_leaderboard_json_and_a_named_dataset(versions, tmp_path):
    base, _, worse, _ = versions
    shipped = tmp_path / "baseline.json"
    assert cmd_leaderboard(base, "json", shipped, **QUICK) == 0
    buf = io.StringIO()
    assert cmd_compare(worse / "results.json", shipped, 0.05, against_dataset="other", stdout=buf, **QUICK) == 1
    assert "against other" in buf.getvalue()


def test_compare_refuses_unpairable_results(versions, tmp_path):
    base, *_ = versions
    other_judge = write_suite(tmp_path / "j", [DatasetSpec("mydata", 0.0, 50)], n_prompts=60, suite="s",
                              judge={"provider": "openai", "model": "gpt-x"})
    with pytest.raises(ValueError, match="different judges"):
        cmd_compare(other_judge, base, 0.05, **QUICK)
    other_prompts = write_suite(tmp_path / "p", [DatasetSpec("mydata", 0.0, 50)], n_prompts=60, suite="s",
                                prompt_prefix="Other")
    with pytest.raises(ValueError, match="different eval prompts"):
        cmd_compare(other_prompts, base, 0.05, **QUICK)
    with pytest.raises(ValueError, match="--dataset"):
        cmd_compare(base, base, 0.05, **QUICK)


def test_argparse_wiring(one_seed_suite, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="sftbench")
    add_commands(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "b.tex"
    args = parser.parse_args(["leaderboard", str(one_seed_suite), "--format", "latex", "--out", str(out),
                              "--n-bootstrap-lc", "0", "--n-permutations", "500", "--sort-by", "name"])
    assert args.func(args) == 0 and "\\begin{tabular}" in out.read_text()
    args = parser.parse_args(["compare", str(one_seed_suite), "--against", str(one_seed_suite), "--dataset", "worse",
                              "--against-dataset", "base", "--n-bootstrap-lc", "0"])
    assert args.func(args) == 1
    assert "WORSE" in capsys.readouterr().out
