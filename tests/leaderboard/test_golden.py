"""Golden files for every output format, rendered from the fake `golden` suite (tests/leaderboard/conftest.py).

Regenerate after an intended change (then review the diff in tests/leaderboard/golden/):

    SFTBENCH_REGEN_GOLDEN=1 .venv/bin/pytest tests/leaderboard/test_golden.py

Markdown and LaTeX are compared as text (numbers are rounded to 0.1 there); HTML as text with its inline plots
cut out (matplotlib's SVG changes with its version; the plots are checked for their content instead). CSV and
JSON carry more digits, so they are compared value by value with a tolerance of 1e-6 (LC refits may differ in the
last digits across BLAS builds); JSON's `inputs_sha256`, a hash of those digits, is only checked for its shape.
"""

import io
import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
from sftbench.leaderboard.report import FORMATS, write_reports
from sftbench.suites.engine.commands.leaderboard import _suite_settings

from tests.leaderboard.conftest import FAST

GOLDEN = Path(__file__).parent / "golden"
FILES = list(FORMATS.values())
PLOTS = ["leaderboard.length.svg", "leaderboard.bars.svg", "leaderboard.length.pdf", "leaderboard.bars.pdf"]
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
            text = (root / name).read_text()
            (GOLDEN / name).write_text(without_plots(text) if name.endswith(".html") else text)
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
    elif name.endswith(".html"):
        assert without_plots(got) == want
    else:
        assert got == want


def without_plots(html: str) -> str:
    return re.sub(r"<figure id=\"(plot-[a-z]+-\d+)\">.*?</figure>", r"<figure id=\"\1\"></figure>", html, flags=re.S)


def test_plots_show_every_dataset_in_table_order(rendered: Path):
    for name in PLOTS:
        assert (rendered / name).stat().st_size > 1000, name
    bars = (rendered / "leaderboard.bars.svg").read_text()
    for column in ("win_rate", "lc_win_rate"):
        assert [d for d in ("curated", "random", "longest", "bad") if f'id="bar-alpaca_eval-{column}-{d}"' in bars] == \
            ["curated", "random", "longest", "bad"]
    length = (rendered / "leaderboard.length.svg").read_text()
    assert all(f'id="point-lc_win_rate-{d}"' in length and f'id="point-win_rate-{d}"' in length
               for d in ("curated", "random", "longest", "bad"))
    assert (rendered / "leaderboard.bars.pdf").read_bytes()[:5] == b"%PDF-"


def test_every_format_carries_the_same_columns(rendered: Path):
    """One row model: the leaderboard table has the same columns in Markdown, LaTeX, HTML, CSV and JSON."""
    from sftbench.leaderboard.report import build
    from sftbench.leaderboard.results import load_results
    from sftbench.leaderboard.table_rows import main_table
    report = build(load_results(rendered), FAST)
    headers, _, _ = main_table(report.tables[0], "lc_win_rate", per_usd=True)  # the suite's points_per_usd
    md = (rendered / "leaderboard.md").read_text()
    tex = (rendered / "leaderboard.tex").read_text()
    html = (rendered / "leaderboard.html").read_text()
    csv = set(pd.read_csv(rendered / "leaderboard.csv"))
    flat = set(json.loads((rendered / "leaderboard.json").read_text())["leaderboard"][0])
    md_header = next(line for line in md.splitlines() if line.startswith("| dataset"))
    assert [c.strip() for c in md_header.strip("|").split("|")] == \
        [f"{h.group}: {h.label}" if h.group else h.label for h in headers]
    html_keys = re.findall(r'<th data-key="([^"]+)"', html.split('id="leaderboard-1"')[1].split("</thead>")[0])
    assert html_keys == [h.key for h in headers]
    tex_header = next(line for line in tex.splitlines() if line.startswith("dataset &"))
    assert len(tex_header.split(" & ")) == len(headers)
    assert {h.key for h in headers} <= csv and {h.key for h in headers} <= flat


def test_formats_carry_what_they_promise(rendered: Path):
    doc = json.loads((rendered / "leaderboard.json").read_text())
    assert doc["schema"] == "sftbench.leaderboard" and doc["schema_version"] == 3
    assert {r["dataset"] for r in doc["leaderboard"]} == {"random", "longest", "curated", "bad", "untuned-base"}
    verdicts = {r["dataset"]: r["alpaca_eval.win_rate_verdict"] for r in doc["leaderboard"]}
    assert verdicts["bad"] == "worse" and verdicts["curated"] == "better" and verdicts["random"] is None
    assert verdicts["untuned-base"] is None  # the base row is never a verdict against the reference ...
    rows = {r["dataset"]: r for r in doc["leaderboard"]}  # what each cost, and the gain per build $ where priced
    assert rows["curated"]["build_usd"] == 2.5 and rows["random"]["build_usd"] is None
    assert rows["curated"]["train_hours"] == 0.04  # two seeds
    assert rows["curated"]["points_per_usd"] == rows["curated"]["alpaca_eval.lc_win_rate_diff"] / 2.5
    assert rows["longest"]["points_per_usd"] is None
    vs_base = {r["dataset"]: r["alpaca_eval.vs_base"] for r in doc["leaderboard"]}  # ... but everyone's Δ vs it
    assert vs_base["untuned-base"] is None and vs_base["curated"] > vs_base["random"] > vs_base["bad"] > 0
    csv = pd.read_csv(rendered / "leaderboard.csv")
    assert {"alpaca_eval.win_rate_ci_low", "alpaca_eval.lc_win_rate_ci_high", "alpaca_eval.win_rate_diff",
            "alpaca_eval.win_rate_p_holm", "alpaca_eval.vs_base", "alpaca_eval.vs_base_ci_low", "card_sha256"} <= set(csv)
    tex = (rendered / "leaderboard.tex").read_text()
    assert "\\toprule" in tex and "\\textbf{" in tex and "\\scriptsize" in tex and "$$" not in tex
    md = (rendered / "leaderboard.md").read_text()
    assert "| dataset" in md and "Paired comparisons against `random`" in md and "judge noise ±" in md
    assert "Δ vs base" in md and "Minimum detectable effect of this design" in md
    html = (rendered / "leaderboard.html").read_text()
    assert "<script" in html and "<link" not in html  # nothing is fetched: no external script, style or image
    assert not re.search(r'(src|href)="(https?:)?//', html)
