"""Report -> one static HTML page: sortable tables, inline SVG plots, provenance footnotes. No server, no CDN:
CSS, JavaScript and plots are inline, so the file opens from disk anywhere."""

from __future__ import annotations

import json
import re
from html import escape

from sftbench.leaderboard import plots
from sftbench.leaderboard.power import mde_note
from sftbench.leaderboard.render_text import ci, group_text, mde_by_column, noise_texts, settings_text
from sftbench.leaderboard.stats import Report, RowStats, TableStats
from sftbench.leaderboard.table_rows import Cell, Header, comparison_table, main_table, summary_lines

CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:1rem 0;font-size:14px}
th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}
thead th{border-bottom:2px solid #333;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"} th[aria-sort=descending]::after{content:" \\25BC"}
.ci{color:#777;font-size:11px}
.verdict-better{color:#0a7d28;font-weight:bold} .verdict-worse{color:#b3261e;font-weight:bold}
.note,.meta{color:#555;font-size:13px} figure{display:block;margin:0 0 1rem 0} figure svg{max-width:100%;height:auto}
th.group{text-align:center;border-bottom:1px solid #999;cursor:default}
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
    Array.prototype.forEach.call(table.tHead.rows[table.tHead.rows.length - 1].cells, function (th, i) {
      if (i === col) th.setAttribute('aria-sort', dir); else th.removeAttribute('aria-sort');
    });
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[table.tHead.rows.length - 1].cells, function (th, i) {
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


def _td(c: Cell, link: str = "") -> str:
    sort = "" if c.sort is None else f' data-sort="{escape(str(c.sort))}"'
    cls = {"better": "verdict-better", "worse": "verdict-worse"}.get(c.verdict or "", "")
    interval = f' <span class="ci">{ci(*c.ci)}</span>' if c.ci else ""
    note = f' <span class="ci">{escape(c.note)}</span>' if c.note else ""
    text = f"<b>{escape(c.text)}</b>" if c.best else escape(c.text)
    return f"<td{sort}{f' class={chr(34)}{cls}{chr(34)}' if cls else ''}>{text}{link}{interval}{note}</td>"


def _thead(headers: list[Header], sort_key: str | None) -> str:
    groups: list[tuple[str, int]] = []
    for h in headers:
        if groups and groups[-1][0] == h.group:
            groups[-1] = (h.group, groups[-1][1] + 1)
        else:
            groups.append((h.group, 1))
    top = "".join(f'<th class="group" colspan="{n}">{escape(g)}</th>' for g, n in groups)
    marked = ' aria-sort="descending"'
    cells = "".join(f'<th data-key="{escape(h.key)}"{marked if h.key == sort_key else ""}>{escape(h.label)}</th>'
                    for h in headers)
    return f'<thead><tr class="groups">{top}</tr><tr>{cells}</tr></thead>'


def _leaderboard(t: TableStats, i: int, sort_by: str, per_usd: bool = False) -> tuple[str, list[RowStats]]:
    headers, body, rows = main_table(t, sort_by, per_usd)
    sort_key = next((h.key for h in headers if h.key.endswith(f".{sort_by}") or h.key == sort_by), None)
    html_rows = []
    for n, (r, cells) in enumerate(zip(rows, body), start=1):
        link = f'<sup><a href="#prov-{i}-{escape(r.dataset)}">{n}</a></sup>'
        html_rows.append(f'<tr data-dataset="{escape(r.dataset)}">{_td(cells[0], link)}'
                         + "".join(_td(c) for c in cells[1:]) + "</tr>")
    return (f'<table class="sortable leaderboard" id="leaderboard-{i}">'
            f"{_thead(headers, None if sort_by == 'name' else sort_key)}<tbody>{''.join(html_rows)}</tbody></table>",
            rows)


def _comparisons(t: TableStats, i: int, sort_by: str, mde: dict | None = None) -> str:
    if not t.reference or not t.comparisons:
        return ""
    headers, body = comparison_table(t, sort_by, mde)
    rows = "".join(f'<tr data-dataset="{escape(cells[0].text)}">' + "".join(_td(c) for c in cells) + "</tr>"
                   for cells in body)
    return (f"<h3>Paired comparisons against <code>{escape(t.reference)}</code> (points)</h3>"
            f'<table class="sortable comparisons" id="comparisons-{i}">{_thead(headers, None)}'
            f"<tbody>{rows}</tbody></table>")


def _provenance(t: TableStats, i: int, rows: list[RowStats]) -> str:
    items = []
    for r in rows:
        p = r.provenance
        base = p.get("base_model") or {}
        steps = ", ".join(f"<code>{escape(str(s.get('train')))}</code>" for s in p.get("steps", []))
        scorers = {g.title: g.fingerprint for g in t.groups}
        items.append(
            f'<li id="prov-{i}-{escape(r.dataset)}"><b>{escape(r.dataset)}</b>: card sha256 '
            f"<code>{escape(str(p.get('card_sha256')))}</code>; builder {escape(str(p.get('builder')))}; recipe "
            f"<code>{escape(str(p.get('recipe_sha')))}</code> (template {escape(str(p.get('template')))}); base model "
            f"{escape(str(base.get('name')))} <code>{escape(str(base.get('revision')))}</code>; train steps {steps}"
            f"<details><summary>recipe and scorer fingerprints</summary><pre>"
            f"{escape(json.dumps({'recipe': p.get('recipe'), 'scorers': scorers}, indent=1, sort_keys=True))}"
            "</pre></details></li>")
    return f'<h3>Provenance</h3><ol class="provenance">{"".join(items)}</ol>'


def _figure(fig: plots.Figures | None, plot_id: str) -> str:
    if fig is None:
        return ""
    svg = re.sub(r"<metadata>.*?</metadata>", "", fig.svg[fig.svg.index("<svg"):], flags=re.S)
    return f'<figure id="{plot_id}">{svg}</figure>'


def to_html(report: Report) -> str:
    sections = []
    sort_by = report.settings.sort_by
    for i, t in enumerate(report.tables, start=1):
        table, rows = _leaderboard(t, i, sort_by, report.settings.points_per_usd)
        notes = "".join(f'<p class="note">Note: {escape(n)}.</p>' for n in
                        [*t.notes, *(f"{g.title}: {n}" for g in t.groups for n in g.notes)])
        summary = "".join(f'<p class="summary">{escape(line)}</p>' for line in summary_lines(report, t))
        meta = "; ".join(group_text(g) for g in t.groups)
        sections.append(
            f'<section class="base-model" id="table-{i}"><h2>{escape(t.base_model)}</h2>'
            f'<p class="meta">{escape(meta)}; seeds per dataset: {max(len(r.seeds) for r in t.rows)}. Click a column '
            f"header to sort.</p>{table}{summary}{_comparisons(t, i, sort_by, mde_by_column(report, t))}{notes}"
            f"{_figure(plots.length_plot(t, sort_by), f'plot-length-{i}')}"
            f"{_figure(plots.bars_plot(t, sort_by), f'plot-bars-{i}')}{_provenance(t, i, rows)}</section>")
    lines = [*noise_texts(report), settings_text(report), *filter(None, [mde_note(report)])]
    footer = "".join(f"<p>{escape(line)}</p>" for line in lines)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>sftbench leaderboard: '
            f"{escape(report.suite)}</title><style>{CSS}</style></head><body>"
            f"<h1>Leaderboard: {escape(report.suite)}</h1>{''.join(sections)}"
            f'<footer class="meta">{footer}<p>Generated by sftbench from stored results; a static page.</p></footer>'
            f"<script>{JS}</script></body></html>\n")
