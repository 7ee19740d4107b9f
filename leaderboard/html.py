"""Report -> one static HTML page: sortable tables, inline SVG plots, provenance footnotes. No server, no CDN:
CSS, JavaScript and plots are inline, so the file opens from disk anywhere."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from sftbench.leaderboard import plots
from sftbench.leaderboard.render_text import ci, judge_label, noise_text, num, pval, settings_text, signed, title
from sftbench.leaderboard.report import sorted_rows
from sftbench.leaderboard.stats import Comparison, Estimate, Report, RowStats, TableStats

CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:1rem 0;font-size:14px}
th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}
thead th{border-bottom:2px solid #333;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"} th[aria-sort=descending]::after{content:" \\25BC"}
.ci{color:#777;font-size:11px}
.verdict-better{color:#0a7d28;font-weight:bold} .verdict-worse{color:#b3261e;font-weight:bold}
.note,.meta{color:#555;font-size:13px} figure{display:inline-block;margin:0 1rem 1rem 0}
ol.provenance{font-size:12px;color:#444} ol.provenance code{font-size:11px}
"""

JS = """
(function () {
  function val(td) {
    var v = td.getAttribute('data-sort');
    if (v === null || v === '') return null;
    var n = Number(v);
    return isNaN(n) ? v.toLowerCase() : n;
  }
  function cmp(x, y) {
    if (x === null) return y === null ? 0 : -1;
    if (y === null) return 1;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x).localeCompare(String(y));
  }
  function sortTable(table, col, dir) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var c = cmp(val(a.cells[col]), val(b.cells[col]));
      return dir === 'ascending' ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      if (i === col) th.setAttribute('aria-sort', dir); else th.removeAttribute('aria-sort');
    });
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.addEventListener('click', function () {
        var cur = th.getAttribute('aria-sort');
        var first = table.tBodies[0].rows.length ? val(table.tBodies[0].rows[0].cells[i]) : null;
        var dir = cur ? (cur === 'ascending' ? 'descending' : 'ascending')
                      : (typeof first === 'number' ? 'descending' : 'ascending');
        sortTable(table, i, dir);
      });
    });
  });
})();
"""


def _td(text: str, sort: Any = None, cls: str = "") -> str:
    sort_attr = "" if sort is None else f' data-sort="{escape(str(sort))}"'
    cls_attr = f' class="{cls}"' if cls else ""
    return f"<td{sort_attr}{cls_attr}>{text}</td>"


def _est(e: Estimate) -> str:
    return _td(f'{e.estimate:.1f} <span class="ci">{ci(e.ci_low, e.ci_high)}</span>', f"{e.estimate:.4f}")


def _thead(headers: list[tuple[str, str]], sort_key: str | None) -> str:
    marked = ' aria-sort="descending"'
    cells = "".join(f'<th data-key="{k}"{marked if k == sort_key else ""}>{escape(h)}</th>' for k, h in headers)
    return f"<thead><tr>{cells}</tr></thead>"


def _leaderboard(t: TableStats, i: int, rows: list[RowStats], sort_by: str) -> str:
    headers = [("dataset", "dataset"), ("builder", "builder"), ("size", "rows"),
               ("train_resp_words", "train resp. words"), ("seeds", "seeds"), ("win_rate", "win rate % [95% CI]"),
               ("lc_win_rate", "LC win rate % [95% CI]"), ("avg_output_chars", "avg output chars")]
    body = []
    for n, r in enumerate(rows, start=1):
        note = f'<sup><a href="#prov-{i}-{escape(r.dataset)}">{n}</a></sup>'
        info = r.info
        body.append(f'<tr data-dataset="{escape(r.dataset)}">' + "".join([
            _td(escape(r.dataset) + note, r.dataset), _td(escape(str(info.get("builder") or "")), info.get("builder")),
            _td(str(info.get("size") or ""), info.get("size")),
            _td(num(info.get("train_resp_words")), info.get("train_resp_words")), _td(str(len(r.seeds)), len(r.seeds)),
            _est(r.metrics["win_rate"]), _est(r.metrics["lc_win_rate"]),
            _td(f"{r.avg_output_chars:.0f}", f"{r.avg_output_chars:.2f}")]) + "</tr>")
    return (f'<table class="sortable leaderboard" id="leaderboard-{i}">'
            f"{_thead(headers, None if sort_by == 'name' else sort_by)}<tbody>{''.join(body)}</tbody></table>")


def _diff_cells(c: Comparison | None) -> str:
    if c is None:
        return _td("reference", "") + _td("") + _td("")
    cls = {"better": "verdict-better", "worse": "verdict-worse"}.get(c.verdict, "")
    return (_td(f'{signed(c.diff)} <span class="ci">{ci(c.ci_low, c.ci_high)}</span>', f"{c.diff:.4f}")
            + _td(pval(c.p_adjusted), c.p_adjusted) + _td(escape(c.verdict), c.verdict, cls))


def _comparisons(t: TableStats, i: int, rows: list[RowStats]) -> str:
    if not t.reference or not t.comparisons:
        return ""
    comps = {(c.dataset, c.metric): c for c in t.comparisons}
    headers = [("dataset", "dataset"), ("wr_diff", "Δ win rate [95% CI]"), ("wr_p", "p (Holm)"),
               ("wr_verdict", "verdict"), ("noise", "judge noise ±"), ("lc_diff", "Δ LC win rate [95% CI]"),
               ("lc_p", "p (Holm)"), ("lc_verdict", "verdict")]
    body = []
    for r in rows:
        wr = comps.get((r.dataset, "win_rate"))
        floor = wr.noise_floor if wr else None
        body.append(f"<tr>{_td(escape(r.dataset), r.dataset)}{_diff_cells(wr)}{_td(num(floor), floor)}"
                    f"{_diff_cells(comps.get((r.dataset, 'lc_win_rate')))}</tr>")
    return (f"<h3>Paired comparisons against <code>{escape(t.reference)}</code> (points)</h3>"
            f'<table class="sortable comparisons" id="comparisons-{i}">{_thead(headers, None)}'
            f"<tbody>{''.join(body)}</tbody></table>")


def _provenance(t: TableStats, i: int, rows: list[RowStats]) -> str:
    items = []
    for r in rows:
        p = r.provenance
        base = p.get("base_model") or {}
        judges = ", ".join(f"<code>{escape(str(s.get('judge')))}</code>" for s in p.get("steps", []))
        items.append(
            f'<li id="prov-{i}-{escape(r.dataset)}"><b>{escape(r.dataset)}</b>: card sha256 '
            f"<code>{escape(str(p.get('card_sha256')))}</code>; builder {escape(str(p.get('builder')))}; recipe "
            f"<code>{escape(str(p.get('recipe_sha')))}</code> (template {escape(str(p.get('template')))}); base model "
            f"{escape(str(base.get('name')))} <code>{escape(str(base.get('revision')))}</code>; judge "
            f"<code>{escape(str(p.get('judge_sha')))}</code>; baseline {escape(str(p.get('baseline')))}; "
            f"judge steps {judges}<details><summary>recipe and judge fingerprint</summary><pre>"
            f"{escape(json.dumps({'recipe': p.get('recipe'), 'judge': p.get('judge')}, indent=1, sort_keys=True))}"
            "</pre></details></li>")
    return f'<h3>Provenance</h3><ol class="provenance">{"".join(items)}</ol>'


def to_html(report: Report) -> str:
    sections = []
    for i, t in enumerate(report.tables, start=1):
        rows = sorted_rows(t, report.settings.sort_by)
        notes = "".join(f'<p class="note">Note: {escape(n)}.</p>' for n in t.notes)
        sections.append(
            f'<section class="benchmark" id="table-{i}"><h2>{escape(title(t))}</h2>'
            f'<p class="meta">Baseline {escape(t.baseline)}; judge {escape(judge_label(t.judge))}; {t.n_prompts} eval '
            f"prompts; seeds per dataset: {max(len(r.seeds) for r in t.rows)}. Click a column header to sort.</p>"
            f"{_leaderboard(t, i, rows, report.settings.sort_by)}{_comparisons(t, i, rows)}{notes}"
            f"<figure>{plots.length_plot(t, f'plot-length-{i}')}</figure>"
            f"<figure>{plots.bars_plot(t, f'plot-bars-{i}')}</figure>{_provenance(t, i, rows)}</section>")
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>sftbench leaderboard: '
            f"{escape(report.suite)}</title><style>{CSS}</style></head><body>"
            f"<h1>Leaderboard: {escape(report.suite)}</h1>{''.join(sections)}"
            f'<footer class="meta"><p>{escape(noise_text(report))}</p><p>{escape(settings_text(report))}</p>'
            "<p>Generated by sftbench from stored results; a static page.</p></footer>"
            f"<script>{JS}</script></body></html>\n")
