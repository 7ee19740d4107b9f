"""Bad input, case by case: each ends in one message that names the file (or argument), the row or line and the
field, and what to do; exit code 2; no traceback; and no artifact left behind."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from sftbench.suites.engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "tests" / "assets" / "tiny_suite.yaml")
SUITE = """\
name: bad
datasets:
  - {name: a, builder: random, params: {k: 10}}
  - {name: b, builder: longest, params: {k: 10}}
"""
ROWS = [{"instruction": f"q{i}", "input": "", "output": f"answer {i}"} for i in range(6)]


@dataclass
class Case:
    name: str
    argv: Callable[[Path], list[str]]
    message: str                       # a regular expression the one message must match
    code: int = 2


def suite(text: str, name: str = "suite.yaml") -> Callable[[Path], list[str]]:
    def argv(d: Path) -> list[str]:
        (d / name).write_bytes(text.encode() if isinstance(text, str) else text)
        return ["validate", str(d / name)]
    return argv


def suite_with(extra: str) -> Callable[[Path], list[str]]:
    return suite(SUITE + extra)


def pool(lines: list[str] | bytes, name: str = "pool.jsonl", extra: tuple[str, ...] = ()) -> Callable[[Path], list[str]]:
    def argv(d: Path) -> list[str]:
        path = d / name
        path.write_bytes(lines if isinstance(lines, bytes) else "".join(line + "\n" for line in lines).encode())
        return ["build", "random", "--pool", str(path), "--k", "2", "--out", str(d / "out.jsonl"), *extra]
    return argv


def cli(*args: str) -> Callable[[Path], list[str]]:
    return lambda d: [a.replace("{d}", str(d)) for a in args]


def annotations(records: object) -> Callable[[Path], list[str]]:
    def argv(d: Path) -> list[str]:
        (d / "ann.json").write_text(json.dumps(records))
        (d / "df_gamed.csv").write_text("index,x\n0,1\n")
        return ["metrics", "alpaca-eval", str(d / "ann.json"), "--df-gamed", str(d / "df_gamed.csv")]
    return argv


GOOD_ROW = json.dumps(ROWS[0])
ANN = {"instruction": "q", "output_1": "a", "output_2": "b", "generator_1": "x", "generator_2": "y",
       "annotator": "j", "preference": 1.5}

CASES = [
    # -- suite files --------------------------------------------------------------------------------------------
    Case("malformed YAML", suite("name: x\ndatasets:\n  - {name: [a\n"), r"suite\.yaml:\d+: malformed YAML"),
    Case("a list, not a mapping", suite("- a\n- b\n"), r"suite\.yaml:1: a suite file must be a YAML mapping"),
    Case("empty file", suite(""), r"suite\.yaml:1: a suite file must be a YAML mapping"),
    Case("no datasets", suite("name: x\n"), r"suite\.yaml:\d+: datasets: Field required"),
    Case("unknown top-level field", suite_with("seedz: [1]\n"), r"suite\.yaml:5: seedz: unknown field 'seedz'.*did you mean 'seeds'"),
    Case("unknown builder", suite(SUITE.replace("builder: longest", "builder: longst")), r"suite\.yaml:4: datasets\[1\]\.builder: .*Did you mean 'longest'"),
    Case("builder param of the wrong type", suite(SUITE.replace("{k: 10}}\n  - {name: b", "{k: ten}}\n  - {name: b")), r"suite\.yaml:3: datasets\[0\]\.params\.k"),
    Case("negative k", suite(SUITE.replace("{k: 10}}\n  - {name: b", "{k: -1}}\n  - {name: b")), r"datasets\[0\]\.params\.k: .*greater than"),
    Case("unknown builder param", suite(SUITE.replace("{k: 10}}\n  - {name: b", "{kk: 1}}\n  - {name: b")), r"datasets\[0\]\.params\.kk"),
    Case("a build the world teacher cannot serve", suite(SUITE.replace("{name: b, builder: longest, params: {k: 10}}", "{name: b, builder: skillmix, params: {n: 10, skills_from: released}}")), r"suite\.yaml:4: datasets\[1\]\.params\.skills_from: .*needs an LLM teacher.*Fix: set params\.skills_from"),
    Case("duplicate dataset names", suite(SUITE.replace("name: b", "name: a")), r"dataset names must be unique"),
    Case("dataset name with a slash", suite(SUITE.replace("name: b", "name: b/c")), r"datasets\[1\]\.name: String should match"),
    Case("unknown template", suite_with("template: alpacca\n"), r"suite\.yaml:5: template: .*alpaca"),
    Case("template against the preset's", suite_with("template: chatml\nrecipe: {preset: lima}\n"), r"template: template 'chatml' conflicts with recipe preset 'lima'"),
    Case("unknown recipe preset", suite_with("recipe: {preset: limma}\n"), r"suite\.yaml:5: recipe: .*recipe preset 'limma'.*lima"),
    Case("misspelt recipe field", suite_with("recipe: {epocs: 2}\n"), r"recipe\.epocs: unknown field 'epocs'.*did you mean 'epochs'"),
    Case("negative learning rate", suite_with("recipe: {lr: -1}\n"), r"suite\.yaml:5: recipe\.lr: Input should be greater than 0"),
    Case("min_lr above lr", suite_with("recipe: {lr: 0.001, min_lr: 0.01}\n"), r"recipe: .*min_lr=0\.01 must be below lr=0\.001"),
    Case("unknown role provider", suite_with("roles: {judge: {provider: openia}}\n"), r"roles\.judge\.provider: Input should be"),
    Case("openai role without model", suite_with("roles: {judge: {provider: openai}}\n"), r"roles\.judge\.params.*needs `model`"),
    Case("compatible role without base_url", suite_with("roles: {judge: {provider: openai_compatible, params: {model: m}}}\n"), r"needs `base_url`"),
    Case("base_url without scheme", suite_with("roles: {judge: {provider: openai_compatible, params: {model: m, base_url: 'localhost:8000'}}}\n"), r"roles\.judge\.params\.base_url: .*must start with http"),
    Case("unknown role parameter", suite_with("roles: {judge: {provider: openai, params: {model: m, temprature: 0}}}\n"), r"roles\.judge\.params\.temprature"),
    Case("MT-Bench with the world judge", suite_with("evaluation: {mt_bench: {enabled: true}}\n"), r"evaluation\.mt_bench needs an LLM judge"),
    Case("WildBench with the world judge", suite_with("evaluation: {wildbench: {enabled: true}}\n"), r"evaluation\.wildbench needs an LLM judge"),
    Case("AlpacaEval 2.0 with the world judge", suite_with("evaluation: {alpaca_eval: {eval_set: alpaca_eval_2}}\n"), r"'alpaca_eval_2' needs an LLM judge"),
    Case("unknown annotator", suite_with("evaluation: {alpaca_eval: {annotator: gpt5_judge}}\n"), r"evaluation\.alpaca_eval\.annotator: .*annotator config 'gpt5_judge'"),
    Case("alpaca_eval switched off", suite_with("evaluation: {alpaca_eval: {enabled: false}}\n"), r"evaluation\.alpaca_eval\.enabled: cannot be turned off"),
    Case("unknown evaluation", suite_with("evaluation: {mt_bench_x: {enabled: true}}\n"), r"evaluation\.mt_bench_x: unknown field.*did you mean 'mt_bench'"),
    Case("OpenLLM without tasks", suite_with("evaluation: {openllm: {batch_size: 2}}\n"), r"evaluation\.openllm: .*needs a preset"),
    Case("unknown OpenLLM preset", suite_with("evaluation: {openllm: {preset: openllm_v3}}\n"), r"evaluation\.openllm\.preset"),
    Case("unknown leaderboard reference", suite_with("leaderboard: {reference: rnd}\n"), r"unknown leaderboard.reference dataset 'rnd'"),
    Case("alpha out of range", suite_with("leaderboard: {alpha: 1.5}\n"), r"suite\.yaml:5: leaderboard\.alpha: Input should be less than 1"),
    Case("one LC resample", suite_with("leaderboard: {n_bootstrap_lc: 1}\n"), r"leaderboard\.n_bootstrap_lc: n_bootstrap_lc must be 0"),
    Case("no seeds", suite_with("seeds: []\n"), r"suite\.yaml:5: seeds: List should have at least 1 item"),
    Case("zero threads", suite_with("threads: 0\n"), r"suite\.yaml:5: threads: Input should be greater than or equal to 1"),
    Case("file pool without path", suite_with("pool: {source: file}\n"), r"pool: .*needs pool\.path"),
    Case("pool path that does not exist", suite_with("pool: {source: file, path: /nonexistent/pool.jsonl}\n"), r"suite\.yaml:5: pool\.path: /nonexistent/pool\.jsonl does not exist"),
    Case("unknown pool source", suite_with("pool: {source: alpacca}\n"), r"pool\.source: Input should be"),
    Case("held-out file without path", suite_with("evaluation: {heldout: {source: file}}\n"), r"needs evaluation\.heldout\.path"),
    Case("held-out file that does not exist", suite_with("evaluation: {heldout: {source: file, path: /nope.jsonl}}\n"), r"evaluation\.heldout\.path: /nope\.jsonl does not exist"),
    Case("AlpacaEval data that does not exist", suite_with("roles: {judge: {provider: openai, params: {model: m}}}\nevaluation: {alpaca_eval: {eval_set: alpaca_eval_2, data_path: /nope.json}}\n"), r"evaluation\.alpaca_eval\.data_path: /nope\.json does not exist"),
    Case("WildBench tasks that do not exist", suite_with("roles: {judge: {provider: openai, params: {model: m}}}\nevaluation: {wildbench: {enabled: true, tasks_path: /nope.jsonl}}\n"), r"evaluation\.wildbench\.tasks_path: /nope\.jsonl does not exist"),
    Case("hf base model without a pinned revision", suite_with("base_model: {kind: hf, id: meta-llama/Meta-Llama-3-8B}\n"), r"base_model: .*revision must be a 40-hex commit sha"),
    Case("local base model without path", suite_with("base_model: {kind: local}\n"), r"base_model: .*needs path"),
    Case("tiny model with heads not dividing hidden", suite_with("base_model: {config: {hidden_size: 30, heads: 4}}\n"), r"base_model\.config: .*divisible by heads=4"),
    Case("plugin module that cannot be imported", suite_with("plugins: [no_such_plugin_module]\n"), r"suite\.yaml:5: plugins: plugin module 'no_such_plugin_module' cannot be imported"),
    Case("not UTF-8", suite(b"name: caf\xe9\ndatasets: []\n"), r"suite\.yaml:1: not UTF-8 text \(byte 9\)"),
    Case("missing suite file", cli("validate", "{d}/absent.yaml"), r"absent\.yaml: no such suite file"),
    Case("unknown shipped suite", cli("validate", "quickstrat"), r"unknown suite 'quickstrat'.*quickstart"),
    Case("--set with broken YAML", cli("validate", TINY, "--set", "recipe.epochs=[1"), r"--set recipe\.epochs=\[1: the value is not valid YAML"),
    Case("--set without =", cli("validate", TINY, "--set", "recipe.epochs"), r"--set expects KEY=VALUE"),
    Case("--set of a bad value", cli("validate", TINY, "--set", "recipe.epochs=-2"), r"--set recipe\.epochs=-2: recipe\.epochs: Input should be greater than 0"),
    # -- pools and `sftbench build` ---------------------------------------------------------------------------
    Case("pool file missing", cli("build", "random", "--pool", "{d}/none.jsonl", "--k", "2", "--out", "{d}/out.jsonl"), r"none\.jsonl"),
    Case("malformed JSON line", pool([GOOD_ROW, '{"instruction": "q", "output": "a"', GOOD_ROW]), r"pool\.jsonl:2: not valid JSON"),
    Case("row without output", pool([GOOD_ROW, json.dumps({"instruction": "q"})]), r"pool\.jsonl:2: .*output"),
    Case("output that is a number", pool([GOOD_ROW, json.dumps({"instruction": "q", "output": 3})]), r"pool\.jsonl:2: field 'output' must be a non-empty string"),
    Case("a row that is a list", pool([GOOD_ROW, "[1, 2]"]), r"pool\.jsonl:2: "),
    Case("not UTF-8 pool", pool(GOOD_ROW.encode() + b"\n" + b'{"instruction": "caf\xe9", "output": "a"}\n'), r"pool\.jsonl:2: not UTF-8"),
    Case("empty pool", pool([]), r"pool\.jsonl: no usable rows"),
    Case("JSON pool that is not a list", pool(b'{"instruction": "q"}', name="pool.json"), r"pool\.json"),
    Case("output is a directory", cli("build", "random", "--pool", "world", "--k", "2", "--out", "{d}"), r"--out .* is a directory"),
    Case("output folder missing", cli("build", "random", "--pool", "world", "--k", "2", "--out", "{d}/no/dir/x.jsonl"), r"--out .*: the folder .* does not exist"),
    Case("unknown builder to build", cli("build", "longst", "--pool", "world", "--out", "{d}/x.jsonl"), r"Did you mean 'longest'"),
    Case("--param with broken YAML", cli("build", "random", "--pool", "world", "--param", "k=[1", "--out", "{d}/x.jsonl"), r"--param k=\[1: the value is not valid YAML"),
    Case("unknown --param", cli("build", "random", "--pool", "world", "--param", "kk=1", "--out", "{d}/x.jsonl"), r"kk"),
    Case("roles file that does not parse", cli("build", "random", "--pool", "world", "--roles", str(ROOT / "README.md"), "--out", "{d}/x.jsonl"), r"README\.md"),
    # -- stored results, leaderboards, metrics ------------------------------------------------------------------
    Case("leaderboard of an empty directory", cli("leaderboard", "{d}"), r"no results\.json found"),
    Case("results.json of the wrong shape", lambda d: (d.joinpath("r").mkdir(), d.joinpath("r/results.json").write_text('{"runs": 3}'), ["leaderboard", str(d / "r")])[-1], r"results\.json.*neither|not sftbench results"),
    Case("truncated results.json", lambda d: (d.joinpath("r").mkdir(), d.joinpath("r/results.json").write_text('{"schema": "sftbench.res'), ["leaderboard", str(d / "r")])[-1], r"results\.json: not valid JSON"),
    Case("leaderboard.json of another tool", lambda d: (d.joinpath("lb.json").write_text('{"rows": []}'), ["leaderboard", str(d / "lb.json")])[-1], r"lb\.json: neither"),
    Case("annotations file missing", cli("metrics", "alpaca-eval", "{d}/none.json", "--df-gamed", "{d}/none.csv"), r"none\.json"),
    Case("annotations that are not JSON", lambda d: (d.joinpath("a.json").write_text("{oops"), ["metrics", "alpaca-eval", str(d / "a.json")])[-1], r"a\.json"),
    Case("a preference of banana", annotations([ANN, {**ANN, "preference": "banana"}]), r"ann\.json: annotation 2: preference 'banana'"),
    Case("an annotation without output_2", annotations([ANN, {k: v for k, v in ANN.items() if k != "output_2"}]), r"ann\.json: annotation 2: .*output_2"),
    Case("verify a path that does not exist", cli("verify", "{d}/nostore"), r"nostore: no such store"),
    Case("compare without --against", cli("compare", "{d}"), r"--against", code=2),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_clear_message(case: Case, tmp_path: Path, capsys):
    argv = case.argv(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == case.code, err
    assert "Traceback" not in err
    import re
    assert re.search(case.message, err, re.S), err
    after = sorted(p.name for p in tmp_path.iterdir())
    assert after == before, f"left behind: {set(after) - set(before)}"


def test_there_are_at_least_sixty_cases():
    assert len(CASES) >= 60


def test_dropped_rows_are_said_and_recorded(tmp_path, capsys):
    """Well-formed rows with an empty request or response are data, not damage: left out, warned about, counted."""
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [*ROWS, {"instruction": "   ", "output": "a"}]))
    out = tmp_path / "out.jsonl"
    assert main(["build", "random", "--pool", str(path), "--k", "3", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {path}: left out 1 row with an empty instruction or response" in err
    card = json.loads(Path(f"{out}.card.json").read_text())
    assert card["pool"]["dropped_empty_rows"] == 1 and "left out 1 row" in card["warnings"][0]
