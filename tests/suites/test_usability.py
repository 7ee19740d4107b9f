"""What a new user meets first: the Python API, --version, shell completion, errors that name the --set
argument, `build --k` beyond the pool, outputs with the user's umask, and hub failures that name both fixes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "assets" / "tiny_suite.yaml"


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sftbench.suites.engine.cli", *args], capture_output=True,
                          text=True, timeout=600, cwd=ROOT, **kw)


def test_version_and_completion():
    got = cli("--version")
    assert got.returncode == 0 and got.stdout.startswith("sftbench ")
    import sftbench
    assert got.stdout.split()[1] == sftbench.__version__
    got = cli("completion", "bash")
    assert got.returncode == 0 and "sftbench" in got.stdout and "leaderboard" in got.stdout


def test_set_errors_name_the_argument_and_exit_2():
    got = cli("validate", str(TINY), "--set", "recipe.epochs=[1")
    assert got.returncode == 2 and "--set recipe.epochs=[1: the value is not valid YAML" in got.stderr
    assert "Traceback" not in got.stderr
    got = cli("validate", str(TINY), "--set", "recipe.epochs")
    assert got.returncode == 2 and "--set expects KEY=VALUE" in got.stderr


def test_build_more_than_the_pool_warns_and_the_card_says_so(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"instruction": f"q{i}", "output": f"a {i}"}) + "\n" for i in range(8)))
    out = tmp_path / "ds.jsonl"
    got = cli("build", "random", "--pool", str(pool), "--k", "50", "--out", str(out))
    assert got.returncode == 0, got.stderr
    assert "warning: builder 'random' was asked for k=50 rows but selected 8" in got.stderr
    card = json.loads(Path(f"{out}.card.json").read_text())
    assert card["size"] == 8 and "k=50" in card["warnings"][0]
    got = cli("build", "random", "--pool", str(pool), "--k", "5", "--out", str(tmp_path))
    assert got.returncode == 2 and "is a directory" in got.stderr and "Traceback" not in got.stderr


def test_a_hub_failure_names_the_repository_the_revision_and_both_fixes(monkeypatch):
    from sftbench.datasets_builders.pools import load_pool
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError) as info:
        load_pool("alpaca", None, None, False)
    text = str(info.value)
    assert "tatsu-lab/alpaca@" in text and "HF_TOKEN" in text and "huggingface-cli login" in text
    assert "pool's `path`" in text


@pytest.mark.slow
def test_python_api_runs_a_suite_and_returns_the_table(tmp_path, own_store):
    import sftbench
    data = yaml.safe_load(TINY.read_text())
    data["datasets"] = data["datasets"][:2]
    data["leaderboard"].update(noise_floor_sample=0, n_bootstrap_lc=0)
    path = tmp_path / "api.yaml"
    path.write_text(yaml.safe_dump(data))
    old = os.umask(0o022)
    try:
        result = sftbench.run(sftbench.load_suite(path), runs_dir=tmp_path / "runs", progress=False)
    finally:
        os.umask(old)
    assert list(result.table["dataset"]) and set(result.table["dataset"]) == {"random", "longest"}
    assert {"alpaca_eval.win_rate", "alpaca_eval.lc_win_rate", "alpaca_eval.win_rate_verdict"} <= set(result.table)
    assert result.markdown.startswith("# Leaderboard: tiny") and result.root == tmp_path / "runs" / "tiny"
    assert result.summary[0].startswith("ran ") and any(line.startswith("files: ") for line in result.summary)
    # alpaca_eval's own loader reads the exported model outputs, and its pairwise_to_winrate the annotations
    from alpaca_eval.metrics import pairwise_to_winrate
    from alpaca_eval.utils import load_or_convert_to_dataframe
    exported = result.root / "exports" / "alpaca_eval" / "random-s0"
    outputs = load_or_convert_to_dataframe(exported / "model_outputs.json")
    assert {"instruction", "output", "generator"} <= set(outputs.columns) and len(outputs) == 40
    annotations = load_or_convert_to_dataframe(exported / "annotations.json")
    row = result.table[result.table["dataset"] == "random"].iloc[0]
    assert pairwise_to_winrate(annotations["preference"])["win_rate"] == pytest.approx(row["alpaca_eval.win_rate"])
    again = sftbench.load_leaderboard(result.root)
    assert again.table.equals(result.table)
    modes = {p.relative_to(own_store): stat.S_IMODE(p.stat().st_mode) for p in own_store.rglob("*")
             if p.is_file() and not p.is_symlink() and ".leases" not in p.parts}
    private = {str(p): oct(m) for p, m in modes.items() if m & 0o044 != 0o044}
    assert not private, private  # weights, datasets, manifests: readable as the umask says
    assert any(str(p).endswith("model.safetensors") for p in modes)
