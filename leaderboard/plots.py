"""Hand-written SVG plots (no plotting dependency): the length-bias picture and bars with CIs per benchmark."""

from __future__ import annotations

import math
from html import escape

from sftbench.leaderboard.stats import TableStats

WR_COLOR, LC_COLOR, AXIS = "#9aa0a6", "#1f6feb", "#444"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    return [round(start + i * step, 10) for i in range(int(math.ceil((hi - start) / step)) + 1)]


class _Frame:
    """Plot area with linear x/y scales, axes, ticks and labels."""

    def __init__(self, width: int, height: int, xs: tuple[float, float], ys: list[float],
                 margin: tuple[int, int, int, int] = (40, 130, 56, 60)) -> None:
        self.w, self.h = width, height
        self.top, self.right, self.bottom, self.left = margin
        self.x0, self.x1 = xs
        self.yt = ys
        self.y0, self.y1 = ys[0], ys[-1]

    def x(self, v: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return self.left + (v - self.x0) / span * (self.w - self.left - self.right)

    def y(self, v: float) -> float:
        return self.h - self.bottom - (v - self.y0) / ((self.y1 - self.y0) or 1.0) * (self.h - self.top - self.bottom)

    def axes(self, xlabel: str, ylabel: str, xticks: list[float] | None) -> list[str]:
        px0, px1, py0 = self.left, self.w - self.right, self.h - self.bottom
        out = [f'<line class="axis" x1="{px0}" y1="{py0}" x2="{px1}" y2="{py0}" stroke="{AXIS}"/>',
               f'<line class="axis" x1="{px0}" y1="{self.top}" x2="{px0}" y2="{py0}" stroke="{AXIS}"/>']
        for v in self.yt:
            y = self.y(v)
            out += [f'<line x1="{px0}" y1="{y:.1f}" x2="{px1}" y2="{y:.1f}" stroke="#eee"/>',
                    f'<text x="{px0 - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{v:g}</text>']
        for v in xticks or []:
            x = self.x(v)
            out += [f'<line x1="{x:.1f}" y1="{py0}" x2="{x:.1f}" y2="{py0 + 4}" stroke="{AXIS}"/>',
                    f'<text x="{x:.1f}" y="{py0 + 17}" text-anchor="middle" font-size="11">{v:g}</text>']
        out += [f'<text x="{(px0 + px1) / 2:.1f}" y="{self.h - 12}" text-anchor="middle" font-size="12">'
                f'{escape(xlabel)}</text>',
                f'<text transform="translate(16 {(self.top + py0) / 2:.1f}) rotate(-90)" text-anchor="middle" '
                f'font-size="12">{escape(ylabel)}</text>']
        return out


def _svg(plot_id: str, width: int, height: int, title: str, body: list[str]) -> str:
    return "\n".join([f'<svg xmlns="http://www.w3.org/2000/svg" id="{plot_id}" class="plot" width="{width}" '
                      f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
                      'font-family="Helvetica, Arial, sans-serif">', f"<title>{escape(title)}</title>",
                      f'<text x="{width / 2:.0f}" y="22" text-anchor="middle" font-size="14" font-weight="bold">'
                      f"{escape(title)}</text>", *body, "</svg>"]) + "\n"


def _legend(x: float, y: float) -> list[str]:
    return [f'<circle cx="{x}" cy="{y}" r="5" fill="white" stroke="{WR_COLOR}" stroke-width="2"/>',
            f'<text x="{x + 10}" y="{y + 4}" font-size="11">win rate</text>',
            f'<circle cx="{x}" cy="{y + 18}" r="5" fill="{LC_COLOR}"/>',
            f'<text x="{x + 10}" y="{y + 22}" font-size="11">LC win rate (95% CI)</text>']


def length_plot(t: TableStats, plot_id: str = "plot-length") -> str:
    """LC win rate vs average output length; each dataset's raw win rate drawn hollow, joined to its LC value:
    a long vertical drop is a win bought by length."""
    rows = t.rows
    xs = [r.avg_output_chars for r in rows]
    vals = [v for r in rows for e in r.metrics.values() for v in (e.estimate, e.ci_low, e.ci_high) if v is not None]
    pad = max((max(xs) - min(xs)) * 0.08, 5.0)
    xt = nice_ticks(max(0.0, min(xs) - pad), max(xs) + pad)
    frame = _Frame(640, 400, (xt[0], xt[-1]), nice_ticks(min(0.0, *vals), max(vals)))
    body = frame.axes("average output length (characters)", "win rate vs baseline (%)", xt)
    for r in rows:
        wr, lc = r.metrics["win_rate"], r.metrics["lc_win_rate"]
        x, y_wr, y_lc = frame.x(r.avg_output_chars), frame.y(wr.estimate), frame.y(lc.estimate)
        name = escape(r.dataset)
        body.append(f'<g class="dataset" data-dataset="{name}"><title>{name}: win rate {wr.estimate:.1f}, '
                    f'LC {lc.estimate:.1f}, {r.avg_output_chars:.0f} chars</title>')
        body.append(f'<line class="shift" x1="{x:.1f}" y1="{y_wr:.1f}" x2="{x:.1f}" y2="{y_lc:.1f}" '
                    f'stroke="{WR_COLOR}" stroke-dasharray="3 2"/>')
        if lc.ci_low is not None and lc.ci_high is not None:
            body.append(f'<line class="ci" x1="{x:.1f}" y1="{frame.y(lc.ci_low):.1f}" x2="{x:.1f}" '
                        f'y2="{frame.y(lc.ci_high):.1f}" stroke="{LC_COLOR}" stroke-width="2" opacity="0.5"/>')
        body += [f'<circle class="point-wr" cx="{x:.1f}" cy="{y_wr:.1f}" r="5" fill="white" stroke="{WR_COLOR}" '
                 'stroke-width="2"/>', f'<circle class="point-lc" cx="{x:.1f}" cy="{y_lc:.1f}" r="5" '
                 f'fill="{LC_COLOR}"/>', f'<text class="label" x="{x + 8:.1f}" y="{y_lc + 4:.1f}" font-size="11">'
                 f"{name}</text>", "</g>"]
    body += _legend(frame.w - frame.right + 16, frame.top + 10)
    return _svg(plot_id, frame.w, frame.h, f"Length bias: LC win rate vs output length ({t.benchmark})", body)


def bars_plot(t: TableStats, plot_id: str = "plot-bars") -> str:
    """Win rate and LC win rate per dataset, bars with 95% CI whiskers."""
    rows = t.rows
    vals = [v for r in rows for e in r.metrics.values() for v in (e.estimate, e.ci_high) if v is not None]
    width = max(480, 90 + 70 * len(rows) + 130)
    frame = _Frame(width, 360, (0, len(rows)), nice_ticks(0.0, max(vals)), margin=(40, 130, 70, 60))
    body = frame.axes("", "win rate vs baseline (%)", None)
    slot = (frame.x(1) - frame.x(0))
    bar = slot * 0.32
    for i, r in enumerate(rows):
        cx = frame.x(i + 0.5)
        for j, (metric, color) in enumerate((("win_rate", WR_COLOR), ("lc_win_rate", LC_COLOR))):
            e = r.metrics[metric]
            x = cx - bar + j * bar
            y = frame.y(max(e.estimate, 0.0))
            body.append(f'<rect class="bar bar-{metric}" data-dataset="{escape(r.dataset)}" x="{x:.1f}" '
                        f'y="{y:.1f}" width="{bar - 2:.1f}" height="{frame.y(0) - y:.1f}" fill="{color}">'
                        f"<title>{escape(r.dataset)} {metric}: {e.estimate:.1f}</title></rect>")
            if e.ci_low is not None and e.ci_high is not None:
                mx = x + (bar - 2) / 2
                body += [f'<line class="ci" x1="{mx:.1f}" y1="{frame.y(e.ci_low):.1f}" x2="{mx:.1f}" '
                         f'y2="{frame.y(e.ci_high):.1f}" stroke="#111"/>',
                         *(f'<line class="ci-cap" x1="{mx - 4:.1f}" y1="{frame.y(v):.1f}" x2="{mx + 4:.1f}" '
                           f'y2="{frame.y(v):.1f}" stroke="#111"/>' for v in (e.ci_low, e.ci_high))]
        body.append(f'<text x="{cx:.1f}" y="{frame.h - frame.bottom + 16}" text-anchor="end" font-size="11" '
                    f'transform="rotate(-30 {cx:.1f} {frame.h - frame.bottom + 16})">{escape(r.dataset)}</text>')
    body += [f'<rect x="{frame.w - frame.right + 12}" y="{frame.top + 4}" width="10" height="10" fill="{WR_COLOR}"/>',
             f'<text x="{frame.w - frame.right + 28}" y="{frame.top + 13}" font-size="11">win rate</text>',
             f'<rect x="{frame.w - frame.right + 12}" y="{frame.top + 22}" width="10" height="10" fill="{LC_COLOR}"/>',
             f'<text x="{frame.w - frame.right + 28}" y="{frame.top + 31}" font-size="11">LC win rate</text>']
    return _svg(plot_id, frame.w, frame.h, f"Win rates with 95% CIs ({t.base_model} · {t.benchmark})", body)
