"""The static HTML leaderboard opened in headless Chromium: table, a real click that sorts it, plots, footnotes,
no script errors; a screenshot is kept in test-artifacts/leaderboard.png (git-ignored).

Chromium is Debian's `chromium` package. When it is missing the test installs it with apt-get (as root); it
skips with the reason only when that is impossible, unless SFTBENCH_REQUIRE_CHROMIUM=1 (CI), where it fails.
"""

import os
from pathlib import Path

import pytest
from sftbench.leaderboard.report import write_reports
from sftbench.leaderboard.stats import Settings

from tests.leaderboard.chromium import Browser, find_chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    binary = find_chromium(install=True)
    if binary is None:
        reason = "chromium not found and could not be installed (apt-get install -y chromium, as root)"
        if os.environ.get("SFTBENCH_REQUIRE_CHROMIUM") == "1":
            pytest.fail(reason + "; SFTBENCH_REQUIRE_CHROMIUM=1 requires it")
        pytest.skip(reason)
    b = Browser(binary)
    yield b
    b.close()


def rows(b: Browser, table: str = "#leaderboard-1") -> list[str]:
    return b.eval(f"[...document.querySelectorAll('{table} tbody tr')].map(r => r.dataset.dataset)")


def column(b: Browser, key: str) -> list[float]:
    return b.eval("(() => { const t = document.querySelector('#leaderboard-1');"
                  " const head = t.tHead.rows[t.tHead.rows.length - 1];"
                  f" const i = [...head.cells].findIndex(c => c.dataset.key === '{key}');"
                  " return [...t.tBodies[0].rows].map(r => Number(r.cells[i].dataset.sort)); })()")


def test_html_page_in_headless_chromium(browser: Browser, golden_suite: Path):
    write_reports(golden_suite, Settings(reference="random", n_bootstrap=100, n_bootstrap_lc=4, n_permutations=500))
    browser.open(golden_suite / "leaderboard.html")
    b = browser

    assert b.eval("document.title") == "sftbench leaderboard: golden"
    assert sorted(rows(b)) == ["bad", "curated", "longest", "random", "untuned-base"]
    headers = b.eval("[...document.querySelectorAll('#leaderboard-1 thead th')].map(th => th.textContent)")
    assert "LC win rate % [95% CI]" in headers and "avg output chars (± SE)" in headers
    assert "AlpacaEval (world eval prompts)" in headers  # the evaluation's group header above its columns
    lc = column(b, "alpaca_eval.lc_win_rate")
    assert lc == sorted(lc, reverse=True)  # initial order: the suite's sort_by, descending

    chars_th = "#leaderboard-1 th[data-key='alpaca_eval.avg_output_chars']"
    b.click(chars_th)  # a real mouse click on the header
    chars = column(b, "alpaca_eval.avg_output_chars")
    assert chars == sorted(chars, reverse=True) and chars != column(b, "alpaca_eval.lc_win_rate")
    assert b.eval(f"document.querySelector(\"{chars_th}\").getAttribute('aria-sort')") == "descending"
    b.click(chars_th)
    assert column(b, "alpaca_eval.avg_output_chars") == sorted(chars)
    b.click("#leaderboard-1 th[data-key=dataset]")
    assert rows(b) == ["bad", "curated", "longest", "random", "untuned-base"]
    assert "Δ vs base [95% CI, unadjusted]" in headers

    comparisons = b.eval("[...document.querySelectorAll('#comparisons-1 tbody tr')].map(r => r.textContent)")
    assert len(comparisons) == 4 and any("worse" in r for r in comparisons) and any("better" in r for r in comparisons)

    plots = b.eval("""(() => { const q = s => document.querySelectorAll(s).length;
        const box = document.querySelector('#plot-length-1 svg').getBoundingClientRect();
        return {lc: q('#plot-length-1 [id^=point-lc_win_rate-]'), wr: q('#plot-length-1 [id^=point-win_rate-]'),
                bars: q('#plot-bars-1 [id^=bar-alpaca_eval-]'), width: box.width, height: box.height}; })()""")
    assert plots["lc"] == 5 and plots["wr"] == 5 and plots["bars"] == 5 * 2  # the untuned base too
    assert plots["width"] > 300 and plots["height"] > 200

    notes = b.eval("[...document.querySelectorAll('ol.provenance li')].map(li => li.id)")
    assert len(notes) == 5  # provenance of every row, the untuned base too
    target = b.eval("document.querySelector('#leaderboard-1 tbody tr sup a').getAttribute('href')")
    assert target[1:] in notes
    assert "card sha256" in b.eval("document.querySelector('ol.provenance').textContent")

    assert not [e for e in b.events if e.get("method") == "Runtime.exceptionThrown"]
    b.screenshot(ARTIFACTS / "leaderboard.png")
    png = (ARTIFACTS / "leaderboard.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
