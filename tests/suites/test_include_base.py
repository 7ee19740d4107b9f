"""`evaluation.include_base`: the untuned base model, evaluated through the suite's template and decoding, is a
row of the leaderboard with a Δ vs base column per evaluation; it adds steps without changing any other key, never
touches the base model's own files, and takes no dataset's name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sftbench
from sftbench.suites.engine.schema import BASE_ROW

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "assets" / "tiny_suite.yaml"
SMALL = ["--set", "datasets=[{name: random, builder: random, params: {k: 100}}, "
                  "{name: lima, builder: lima, params: {k: 100}}]"]


def test_include_base_adds_only_its_own_steps():
    plain = sftbench.plan(sftbench.load_suite(TINY))
    with_base = sftbench.plan(sftbench.load_suite(TINY, {"evaluation.include_base": True}))
    before = {s.key.dirname for s in plain.steps}
    after = {s.key.dirname for s in with_base.steps}
    assert before < after
    added = sorted(d.split("-")[0] for d in after - before)
    assert added == ["generate", "judge", "untuned"]  # the untuned checkpoint, its answers and their judging


def test_the_base_row_and_its_deltas(tmp_path):
    got = subprocess.run([sys.executable, "-m", "sftbench.suites.engine.cli", "run", str(TINY), "--quiet",
                          "--runs-dir", str(tmp_path / "runs"), "--store", str(tmp_path / "store"), *SMALL,
                          "--set", "evaluation.include_base=true"], capture_output=True, text=True, timeout=900,
                         cwd=ROOT)
    assert got.returncode == 0, got.stderr[-3000:]
    doc = json.loads((tmp_path / "runs" / "tiny" / "leaderboard.json").read_text())
    rows = {r["dataset"]: r for r in doc["leaderboard"]}
    assert set(rows) == {"random", "lima", BASE_ROW}
    assert rows[BASE_ROW]["builder"] == "none (untuned base model)"
    assert rows[BASE_ROW]["alpaca_eval.vs_base"] is None and rows[BASE_ROW]["alpaca_eval.lc_win_rate_verdict"] is None
    for name in ("random", "lima"):  # Δ vs base is the difference of the headline column, with an interval
        r = rows[name]
        assert r["alpaca_eval.vs_base"] == r["alpaca_eval.lc_win_rate"] - rows[BASE_ROW]["alpaca_eval.lc_win_rate"] \
            or abs(r["alpaca_eval.vs_base"] - (r["alpaca_eval.lc_win_rate"]
                                               - rows[BASE_ROW]["alpaca_eval.lc_win_rate"])) < 1e-9
        assert r["alpaca_eval.vs_base_ci_low"] <= r["alpaca_eval.vs_base"] <= r["alpaca_eval.vs_base_ci_high"]
    (table,) = doc["tables"]
    assert table["base"] == BASE_ROW and BASE_ROW not in {c["dataset"] for c in table["comparisons"]}
    md = (tmp_path / "runs" / "tiny" / "leaderboard.md").read_text()
    assert "Δ vs base" in md and f"| {BASE_ROW}" in md and "Minimum detectable effect" in md
    # the untuned checkpoint shares the base's weights and rewrites only its own tokenizer and template files
    store = tmp_path / "store"
    (untuned,) = store.glob("untuned-base-*")
    (pretrain,) = store.glob("pretrain-*")
    assert (untuned / "sftbench_template.json").is_file() and not (pretrain / "sftbench_template.json").exists()
    weights = next(untuned.glob("*.safetensors"))
    assert os.stat(weights).st_ino == os.stat(pretrain / weights.name).st_ino
    verify = subprocess.run([sys.executable, "-m", "sftbench.suites.engine.cli", "verify", str(store)],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert verify.returncode == 0, verify.stdout + verify.stderr  # every step's files as recorded


def test_no_dataset_takes_the_base_rows_name(tmp_path):
    got = subprocess.run([sys.executable, "-m", "sftbench.suites.engine.cli", "validate", str(TINY), "--set",
                          "evaluation.include_base=true", "--set",
                          f"datasets=[{{name: {BASE_ROW}, builder: random, params: {{k: 10}}}}]"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert got.returncode == 2 and f"the dataset name '{BASE_ROW}'" in got.stderr and "rename" in got.stderr
    assert "Traceback" not in got.stderr
