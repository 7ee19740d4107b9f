"""Golden files for every output format, rendered from the fake `golden` suite (tests/leaderboard/conftest.py).

Regenerate after an intended change (then review the diff in tests/leaderboard/golden/):

    SFTBENCH_REGEN_GOLDEN=1 .venv/bin/pytest tests/leaderboard/test_golden.py

Markdown, LaTeX, HTML and SVG are compared as text (numbers are rounded to 0.1 there). CSV and JSON carry more
digits, so they are compared value by value with a tolerance of 1e-6 (LC refits may differ in the last digits
across BLAS builds); JSON's `inputs_sha256`, a hash of those digits, is only checked for its shape.
"""

import io
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from sftbench.leaderboard.report import FORMATS, write_reports
from sftbench.suites.engine.cli_leaderboard import _suite_settings
from tests.leaderboard.conftest import FAST

GOLDEN = Path(__file__).parent / "golden"
FILES = [*FORMATS.values(), "leaderboard.length.svg", "leaderboard.bars.svg"]
REGEN = os.environ.get("SFTBENCH_REGEN_GOLDEN") == "1"


@pytest.fixture(scope="module")
def rendered(golden_suite_master: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import shutil
    root = tmp_path_factory.mktemp("render") / "golden"
    shutil.copytree(golden_suite_master, root)
    settings = _suite_settings(root, str(root), n_bootstrap=FAST.n_bootstrap, n_bootstrap_lc=FAST.n_bootstrap_lc,
                               n_permutations=FAST.n_permutations)
    assert settings.reference == "random"
    write_reports(root, settings)
    if REGEN:
        GOLDEN.mkdir(exist_ok=True)
        for name in FILES:
            (GOLDEN / name).write_text((root / name).read_text())
    return root


def approx_equal(a, b, path="$"):
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-6), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            if k != "inputs_sha256":
                approx_equal(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            approx_equal(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


@pytest.mark.parametrize("name", FILES)
def test_output_matches_golden_file(rendered: Path, name: str):
    golden = GOLDEN / name
    assert golden.is_file(), f"{golden} missing: run SFTBENCH_REGEN_GOLDEN=1 pytest {__file__}"
    got, want = (rendered / name).read_text(), golden.read_text()
    if name.endswith(".json"):
        got_doc, want_doc = json.loads(got), json.loads(want)
        assert len(got_doc["inputs_sha256"]) == 64
        approx_equal(got_doc, want_doc)
    elif name.endswith(".csv"):
        pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(got)), pd.read_csv(io.StringIO(want)), rtol=1e-6,
                                      atol=1e-4)
    else:
        assert got == want


def test_formats_carry_what_they_promise(rendered: Path):
    doc = json.loads((rendered / "leaderboard.json").read_text())
    assert doc["schema"] == "sftbench.leaderboard" and doc["schema_version"] == 2
    assert {r["dataset"] for r in doc["leaderboard"]} == {"random", "longest", "curated", "bad"}
    verdicts = {r["dataset"]: r["win_rate_verdict"] for r in doc["leaderboard"]}
    assert verdicts["bad"] == "worse" and verdicts["curated"] == "better" and verdicts["random"] is None
    csv = pd.read_csv(rendered / "leaderboard.csv")
    assert {"win_rate_ci_low", "lc_win_rate_ci_high", "win_rate_diff", "win_rate_p_holm", "card_sha256"} <= set(csv)
    tex = (rendered / "leaderboard.tex").read_text()
    assert "\\toprule" in tex and "\\textbf{" in tex and "\\scriptsize" in tex and "$$" not in tex
    md = (rendered / "leaderboard.md").read_text()
    assert "| dataset" in md and "Paired comparisons against `random`" in md and "judge noise ±" in md
    html = (rendered / "leaderboard.html").read_text()
    assert "<script" in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html and "<link" not in html
