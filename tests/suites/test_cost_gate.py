"""Issue #19, engine side: the cost estimate sees every paid call, and `sftbench run` gates on it before spending.

The estimate (suites/engine/cost_estimate.py) is a worst case by construction: every answer is as long as the
role's max_tokens allows, and each prompt is estimated from the role's template plus a content size (the ledger's
own reservation rule, ~3 characters a token). What it must get exactly right is what it can know before running:
which calls every pending step makes, how many, how long their answers may be, and at which price. So the end-to-end
tests below compare it with the ledger of a real run against the loopback server, made to answer with exactly
max_tokens tokens:

- calls and completion tokens per role: equal;
- USD: equal within float rounding, with prices that bill completion tokens only (input_per_m: 0), so the
  comparison does not depend on how the loopback counts prompt tokens (whitespace words);
- prompt tokens: the estimate is an upper bound of what the loopback counted, within a factor of PROMPT_FACTOR (6):
  the estimate counts ~3 characters a token where the loopback counts whitespace words (about half as many), and
  it sizes a judge's content as two answers of generation.max_new_tokens or 1500 characters, more than the tiny
  suite's answers fill (measured: judge 4.8x, rater 2.3x).

The noise floor re-judges min(noise_floor_sample, all annotations) pairs while its plugin's expected_calls counts
noise_floor_sample, so the world test sets a sample no larger than its annotations (see the report on #19).
"""

from __future__ import annotations

import gzip
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from sftbench.judges.llm.loopback.server import LoopbackServer
from sftbench.suites.engine.cli import _parse_set, main

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "tests" / "assets" / "tiny_suite.yaml")
ONE_DATASET = "datasets=[{name: random, builder: random, params: {k: 40}}]"
PROMPT_FACTOR = 6  # see the module docstring
OUT_PER_M = 100_000.0  # USD per 1M completion tokens: judging the tiny suite costs more than the $5 threshold


def exact_length(messages, body):
    """An answer of exactly max_tokens whitespace tokens that every role parses: 'M' for a judge, 'Score: 5' else."""
    n = int(body.get("max_tokens") or body.get("max_completion_tokens"))
    words = ["M"] if body["model"] == "loop-judge" else ["Score:", "5"]
    return " ".join((words + ["x"] * n)[:max(n, len(words))])


@pytest.fixture
def server():
    with LoopbackServer(responder=exact_length) as srv:
        yield srv


def role(name: str, server: LoopbackServer, model: str, out_per_m: float = OUT_PER_M, in_per_m: float = 0.0,
         extra: str = "") -> str:
    return (f"roles.{name}={{provider: openai_compatible, params: {{model: {model}, base_url: '{server.base_url}', "
            f"max_retries: 1, backoff_base_s: 0.01, parse_retries: 0, {extra}"
            f"prices: {{{model}: {{input_per_m: {in_per_m}, output_per_m: {out_per_m}}}}}}}}}")


def estimate_of(sets: list[str], runs: Path, store: Path):
    from sftbench.suites.engine.cost_estimate import estimate
    from sftbench.suites.engine.plan import make_plan
    from sftbench.suites.engine.schema import load_suite
    overrides: dict = {}
    for s in sets:
        overrides.update(_parse_set([s]))
    return estimate(make_plan(load_suite(TINY, overrides), runs, progress=False, store=store))


def ledger_of(store: Path) -> dict[str, dict[str, float]]:
    """The run's ledger, per model: every step manifest's `llm_cost`, added up."""
    total: dict[str, dict[str, float]] = {}
    for manifest in store.glob("*/manifest.json"):
        for model, entry in (json.loads(manifest.read_text()).get("llm_cost") or {}).get("by_model", {}).items():
            mine = total.setdefault(model, {})
            for k, v in entry.items():
                mine[k] = mine.get(k, 0) + v
    return total


def run_args(runs: Path, sets: list[str], *extra: str) -> list[str]:
    args = ["run", TINY, "--runs-dir", str(runs), "--quiet"]
    for s in sets:
        args += ["--set", s]
    return args + list(extra)


def assert_estimate_matches(est, ledger, role_name: str, model: str) -> None:
    mine, actual = est.roles[role_name], ledger[model]
    assert actual["cached_calls"] == 0 and actual.get("possibly_billed_calls", 0) == 0
    assert mine.calls == actual["calls"]
    assert mine.completion_tokens == actual["completion_tokens"]
    assert mine.usd == pytest.approx(actual["usd"], rel=1e-9, abs=1e-9)
    print(f"{role_name}: estimated prompt tokens {mine.prompt_tokens}, counted {actual['prompt_tokens']}")
    assert actual["prompt_tokens"] <= mine.prompt_tokens <= PROMPT_FACTOR * actual["prompt_tokens"]


def write_pool(path: Path, n: int) -> Path:
    rows = [{"instruction": f"Describe item {i} of the list in a sentence or two.",
             "input": "" if i % 3 else f"item {i}",
             "output": " ".join(["a plain answer about the item"] * (1 + i % 7)) + "."} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# --- the estimate against a real run's ledger --------------------------------------------------------------------

@pytest.mark.slow
def test_world_suite_estimate_equals_the_ledger_and_the_run_proceeds_with_yes(tmp_path, server, own_store, capsys):
    runs = tmp_path / "runs"
    sets = [ONE_DATASET, "leaderboard.noise_floor_sample=20",
            role("judge", server, "loop-judge", extra="judge_mode: text, ")]
    est = estimate_of(sets, runs, own_store)
    assert set(est.roles) == {"judge"} and est.usd > 5  # above the default threshold: the gate needs --yes
    assert {line.kind: line.calls for line in est.lines} == {"lctable": 80, "judge": 40, "noisefloor": 20}
    assert not sys.stdin.isatty()
    assert main(run_args(runs, sets, "--yes")) == 0
    err = capsys.readouterr().err
    assert "proceeding (--yes)" in err and "the estimate's worst case" in err  # no --max-usd: capped at the estimate
    assert_estimate_matches(est, ledger_of(own_store), "judge", "loop-judge")
    assert server.billable == est.calls


@pytest.mark.slow
def test_file_pool_estimate_equals_the_ledger(tmp_path, server, own_store):
    runs = tmp_path / "runs"
    pool = write_pool(tmp_path / "pool.jsonl", 60)
    sets = ["datasets=[{name: ag, builder: alpagasus, params: {k: 5}}]", f"pool={{source: file, path: '{pool}'}}",
            role("rater", server, "loop-rater", out_per_m=1000.0, extra="max_tokens: 16, ")]
    est = estimate_of(sets, runs, own_store)
    assert est.pool_rows == 60 and {line.kind: line.calls for line in est.lines} == {"build": 60}
    assert main(run_args(runs, sets, "--max-usd", "50")) == 0
    assert_estimate_matches(est, ledger_of(own_store), "rater", "loop-rater")


# --- the gate ----------------------------------------------------------------------------------------------------

def cli(args: list[str], **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SFTBENCH_MAX_USD", None)
    return subprocess.run([sys.executable, "-m", "sftbench.suites.engine.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300, **kw)


def test_the_gate_refuses_without_a_terminal_before_any_call(tmp_path, server):
    runs = tmp_path / "runs"
    sets = [ONE_DATASET, role("judge", server, "loop-judge", extra="judge_mode: text, ")]
    got = cli(run_args(runs, sets), stdin=subprocess.DEVNULL)
    assert got.returncode == 2, got.stderr[-2000:]
    assert "--yes" in got.stderr and "--max-usd" in got.stderr and "no terminal" in got.stderr
    assert "LLM judge: openai_compatible/loop-judge: ~160 calls, <= $" in got.stderr  # the estimate was shown (40 judged + 80 lctable + 40 re-judged)
    assert server.requests == 0
    assert not list((tmp_path / "store").glob("*/manifest.json"))  # not even the free steps ran

    # a budget below the estimate refuses too (it would stop the run part-way); the same holds for SFTBENCH_MAX_USD
    got = cli(run_args(runs, sets, "--max-usd", "1"), stdin=subprocess.DEVNULL)
    assert got.returncode == 2 and "above the budget --max-usd 1" in got.stderr and server.requests == 0


def test_the_gate_asks_on_a_terminal(tmp_path, server):
    runs = tmp_path / "runs"
    sets = [ONE_DATASET, role("judge", server, "loop-judge", extra="judge_mode: text, ")]
    primary, secondary = pty.openpty()
    try:
        os.write(primary, b"n\n")
        got = cli(run_args(runs, sets), stdin=secondary)
    finally:
        os.close(primary)
        os.close(secondary)
    assert got.returncode == 2, got.stderr[-2000:]
    assert "Proceed? [y/N]" in got.stderr and "not confirmed" in got.stderr and server.requests == 0


def test_decide_budgets_questions_and_caps():
    from sftbench.suites.engine.cost_estimate import Estimate, Line, RoleTotal
    from sftbench.suites.engine.gate import DEFAULT_GATE_USD, GateRefused, decide

    def est(usd: float | None, provider: str = "openai", local: bool = False) -> Estimate:
        e = Estimate()
        e.roles["judge"] = RoleTotal("judge", provider, "m", False, "x", provider not in ("local", "vllm_server"),
                                     local, calls=10, usd_sync=usd, usd_batch=None if usd is None else usd / 2)
        e.lines.append(Line("judge", "judge", provider, "m", 10, 100, 10, usd, None if usd is None else usd / 2, False))
        return e

    said: list[str] = []
    never = lambda q: pytest.fail("asked")
    # under the threshold: no question; the cap becomes the worst case, rounded up to the cent
    assert decide(est(1.234), None, False, False, said.append, never) == 1.24
    # above it: a terminal is asked; "y" proceeds capped at the estimate, anything else refuses
    worst = pytest.approx(DEFAULT_GATE_USD + 1)
    assert decide(est(DEFAULT_GATE_USD + 1), None, False, True, said.append, lambda q: "y\n") == worst
    with pytest.raises(GateRefused, match="not confirmed"):
        decide(est(DEFAULT_GATE_USD + 1), None, False, True, said.append, lambda q: "\n")
    with pytest.raises(GateRefused, match="--yes.*--max-usd"):
        decide(est(DEFAULT_GATE_USD + 1), None, False, False, said.append, never)
    assert decide(est(DEFAULT_GATE_USD + 1), None, True, False, said.append, never) == worst
    # an explicit budget: the threshold is the budget, and it stays the cap
    assert decide(est(20.0), 50.0, False, False, said.append, never) == 50.0
    with pytest.raises(GateRefused, match="above the budget --max-usd 10"):
        decide(est(20.0), 10.0, False, False, said.append, never)
    # a billing provider's model with no price: never $0; asked about; no cap can hold on it
    with pytest.raises(GateRefused, match="no known price"):
        decide(est(None), None, False, False, said.append, never)
    assert decide(est(None), None, True, False, said.append, never) is None
    with pytest.raises(GateRefused, match="cannot be enforced"):
        decide(est(None), 10.0, True, False, said.append, never)
    # an unpriced endpoint on this machine (a self-hosted server) is named but not asked about
    said.clear()
    assert decide(est(None, "openai_compatible", local=True), None, False, False, said.append, never) is None
    assert any("unknown (no price for this model)" in s for s in said) and any("no budget" in s for s in said)
    # local models and world roles never ask
    assert decide(est(0.0, "vllm_server"), None, False, False, said.append, never) is None
    assert decide(Estimate(), None, False, False, said.append, never) is None


def test_max_usd_from_the_environment(monkeypatch):
    from sftbench.suites.engine.gate import max_usd_from
    monkeypatch.delenv("SFTBENCH_MAX_USD", raising=False)
    assert max_usd_from(None) is None and max_usd_from(3.0) == 3.0
    monkeypatch.setenv("SFTBENCH_MAX_USD", "12.5")
    assert max_usd_from(None) == 12.5 and max_usd_from(3.0) == 3.0  # CLI > environment
    monkeypatch.setenv("SFTBENCH_MAX_USD", "lots")
    with pytest.raises(ValueError, match="SFTBENCH_MAX_USD"):
        max_usd_from(None)


# --- what the estimate counts ------------------------------------------------------------------------------------

def test_plan_counts_a_file_pool_and_prints_kinds_modes_and_warnings(tmp_path, capsys):
    pool = write_pool(tmp_path / "pool.jsonl", 37)
    rater = ("roles.rater={provider: openai_compatible, params: {model: r, base_url: 'http://127.0.0.1:9/v1', "
             "batch: true, prices: {r: {input_per_m: 1, output_per_m: 2}}}}")
    judge = "roles.judge={provider: anthropic, params: {model: claude-unknown-9, judge_mode: text}}"
    args = ["plan", TINY, "--runs-dir", str(tmp_path / "runs"), "--set", f"pool={{source: file, path: '{pool}'}}",
            "--set", "datasets=[{name: ag, builder: alpagasus, params: {k: 5}}]", "--set", rater, "--set", judge]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "LLM rater: openai_compatible/r: ~37 calls, <= $" in out  # the file's rows, counted before loading
    assert "  build: ~37 calls" in out and "batch mode: billed at batch prices" in out
    assert "price: roles.rater.params.prices" in out
    assert "LLM judge: anthropic/claude-unknown-9: ~160 calls, unknown (no price for this model)" in out
    assert "warning: no price known for model 'claude-unknown-9' (roles.judge, anthropic)" in out
    assert "plus the unpriced calls of judge" in out and "list prices as of 2025-06" in out
    assert "LLM cost by step kind: build ~37 calls" in out


def test_the_role_mode_decides_the_expected_total(tmp_path):
    from sftbench.judges.llm import LLMRoleConfig, estimate_role_usd
    pool = write_pool(tmp_path / "pool.jsonl", 10)
    rater = {"provider": "openai", "params": {"model": "gpt-4o-mini", "batch": True}}
    from sftbench.suites.engine.cost_estimate import content_chars, estimate
    from sftbench.suites.engine.plan import make_plan
    from sftbench.suites.engine.schema import load_suite
    suite = load_suite(TINY, {"pool": {"source": "file", "path": str(pool)}, "roles.rater": rater,
                              "datasets": [{"name": "ag", "builder": "alpagasus", "params": {"k": 5}}]})
    plan = make_plan(suite, tmp_path / "runs", progress=False)
    est = estimate(plan)
    r = est.roles["rater"]
    assert r.calls == 10 and r.usd == r.usd_batch == pytest.approx(r.usd_sync / 2) and est.usd == r.usd
    # the same number as the client layer's own estimate for `sftbench plan` (judges/llm/factory.py)
    cfg = LLMRoleConfig(provider="openai", model="gpt-4o-mini", batch=True)
    assert r.usd == pytest.approx(estimate_role_usd("rater", cfg, 10, content_chars(plan, "rater", "build")))


@pytest.mark.parametrize("kind", ["jsonl", "json", "json-lines", "jsonl.gz", "parquet", "parquet.gz"])
def test_count_rows_of_every_pool_format(tmp_path, kind):
    from sftbench.datasets_builders.pools import count_rows
    rows = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(23)]
    lines = "".join(json.dumps(r) + "\n" for r in rows) + "\n"
    path = tmp_path / f"pool.{kind.replace('json-lines', 'json')}"
    if kind.startswith("parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq
        plain = tmp_path / "pool.parquet"
        pq.write_table(pa.Table.from_pylist(rows), plain)
        if kind.endswith(".gz"):
            path.write_bytes(gzip.compress(plain.read_bytes()))
    elif kind == "json":
        path.write_text(json.dumps(rows, indent=1))
    elif kind.endswith(".gz"):
        path.write_bytes(gzip.compress(lines.encode()))
    else:
        path.write_text(lines)
    counted = count_rows(path)
    assert counted.rows == 23 and counted.content_bytes > 0
    with pytest.raises(FileNotFoundError):
        count_rows(tmp_path / "missing.jsonl")


def test_ledger_names_a_model_without_a_price(caplog):
    from sftbench.judges.llm import CostLedger
    ledger = CostLedger()
    with caplog.at_level("WARNING", logger="sftbench.llm"):
        ledger.record("openai_compatible", "mystery", 10, 5)
        ledger.record("openai_compatible", "mystery", 10, 5)
    named = [r for r in caplog.records if "mystery" in r.getMessage()]
    assert len(named) == 1 and "not as $0" in named[0].getMessage()
    assert ledger.totals()["unpriced_calls"] == 2
