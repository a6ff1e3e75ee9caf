"""Static SVG charts for the HTML report: step lines over time and per-subtask heat strips.

Each measured value covers an interval (between two metric snapshots), so lines are drawn as
steps, not as points joined by slopes; a gap means "not measurable". Every chart carries
native hover text (`<title>`) per interval, so the report needs no script. All text passes
through `esc`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from flowscope.render.colours import BACKPRESSURED_FILL, UNMEASURED_FILL, blend, flink_colours

Points = Sequence[tuple[float, float, float | None]]  # (start s, end s, value) per interval


def esc(value: object) -> str:
    """Escape text for HTML and SVG (attributes included)."""
    return escape(str(value), quote=True)


@dataclass(frozen=True)
class Line:
    label: str
    colour: str
    points: Points
    dash: str = ""


@dataclass(frozen=True)
class Frame:
    """Where a chart draws: the time range (epoch s) and the plot box in SVG units."""

    t0: float
    t1: float
    width: int = 640
    height: int = 150
    left: int = 52
    right: int = 10
    top: int = 8
    bottom: int = 22

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom

    def x(self, t: float) -> float:
        span = (self.t1 - self.t0) or 1.0
        return self.left + (t - self.t0) / span * self.plot_w


def clock(seconds: float) -> str:
    """Seconds since the recording's start as m:ss (or s below a minute)."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60}:{seconds % 60:02d}"


def nice_step(span: float, target: int) -> float:
    """A 1/2/5 x 10^n step giving about `target` ticks over `span`."""
    if span <= 0:
        return 1.0
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def time_ticks(f: Frame) -> list[float]:
    span = f.t1 - f.t0
    steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]
    step = next((s for s in steps if span / s <= 8), 3600 * math.ceil(span / 8 / 3600))
    n = int(span // step)
    return [f.t0 + i * step for i in range(n + 1)]


def _step_path(f: Frame, points: Points, y: Callable[[float], float]) -> tuple[str, int]:
    """An SVG path of horizontal steps; breaks where a value is missing. Returns (d, points)."""
    parts: list[str] = []
    count = 0
    prev_end: float | None = None
    for start, end, value in points:
        if value is None:
            prev_end = None
            continue
        x0, x1, yy = f.x(start), f.x(end), y(value)
        cmd = "L" if prev_end is not None and abs(prev_end - start) < 1e-6 else "M"
        parts.append(f"{cmd}{x0:.1f},{yy:.1f}L{x1:.1f},{yy:.1f}")
        count += 1
        prev_end = end
    return "".join(parts), count


def _axes(f: Frame, y_ticks: Sequence[tuple[float, str]]) -> list[str]:
    out = [f'<rect class="plot-bg" x="{f.left}" y="{f.top}" width="{f.plot_w:.1f}" '
           f'height="{f.plot_h:.1f}"/>']
    for yy, label in y_ticks:
        out.append(f'<line class="grid" x1="{f.left}" x2="{f.left + f.plot_w:.1f}" '
                   f'y1="{yy:.1f}" y2="{yy:.1f}"/>')
        out.append(f'<text class="tick" x="{f.left - 4}" y="{yy + 3:.1f}" '
                   f'text-anchor="end">{esc(label)}</text>')
    base = f.top + f.plot_h
    for t in time_ticks(f):
        x = f.x(t)
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{f.top}" y2="{base:.1f}"/>')
        out.append(f'<text class="tick" x="{x:.1f}" y="{base + 14:.1f}" '
                   f'text-anchor="middle">{esc(clock(t - f.t0))}</text>')
    return out


def step_chart(
    f: Frame,
    lines: Sequence[Line],
    *,
    y_max: float,
    fmt: Callable[[float], str],
    label: str,
    css_class: str = "chart",
) -> str:
    """A step-line chart of `lines` from 0 to `y_max`, with hover text per interval."""
    y_max = y_max if y_max > 0 else 1.0

    def y(v: float) -> float:
        return f.top + f.plot_h * (1 - min(max(v, 0.0), y_max) / y_max)

    ticks = [(y(y_max * k / 2), fmt(y_max * k / 2)) for k in range(3)]
    out = [f'<svg class="{css_class}" viewBox="0 0 {f.width} {f.height}" role="img" '
           f'aria-label="{esc(label)}" preserveAspectRatio="xMinYMin meet">']
    out += _axes(f, ticks)
    for line in lines:
        d, n = _step_path(f, line.points, y)
        dash = f' stroke-dasharray="{esc(line.dash)}"' if line.dash else ""
        out.append(f'<path class="series" d="{d}" stroke="{esc(line.colour)}"{dash} '
                   f'data-label="{esc(line.label)}" data-points="{n}"/>')
    # One transparent column per interval carries the values as hover text.
    if lines:
        for i, (start, end, _) in enumerate(lines[0].points):
            vals = "; ".join(
                f"{ln.label} {fmt(v) if (v := ln.points[i][2]) is not None else 'n/a'}"
                for ln in lines
            )
            x0, x1 = f.x(start), f.x(end)
            out.append(
                f'<rect class="hover" x="{x0:.1f}" y="{f.top}" width="{max(x1 - x0, 0.5):.1f}" '
                f'height="{f.plot_h:.1f}"><title>{esc(clock(start - f.t0))}–'
                f'{esc(clock(end - f.t0))}: {esc(vals)}</title></rect>'
            )
    out.append("</svg>")
    return "".join(out)


def heat_strip(
    f: Frame,
    rows: Sequence[tuple[str, Sequence[tuple[float, float, float | None, float | None]]]],
    *,
    label: str,
    row_h: int = 12,
) -> str:
    """Rows of intervals coloured like Flink's graph from (start, end, busy, backpressured);
    grey where unmeasured. Used for the subtasks of one task, so skew shows as one hot row."""
    height = f.top + row_h * len(rows) + f.bottom
    frame = Frame(f.t0, f.t1, f.width, height, f.left, f.right, f.top, f.bottom)
    out = [f'<svg class="heat" viewBox="0 0 {frame.width} {height}" role="img" '
           f'aria-label="{esc(label)}" preserveAspectRatio="xMinYMin meet">']
    out += _axes(frame, [])
    for r, (name, cells) in enumerate(rows):
        yy = f.top + r * row_h
        out.append(f'<text class="tick" x="{f.left - 4}" y="{yy + row_h - 3}" '
                   f'text-anchor="end">{esc(name)}</text>')
        for start, end, busy, bp in cells:
            x0, x1 = frame.x(start), frame.x(end)
            text = f"busy {_pct(busy)}, backpressured {_pct(bp)}"
            if busy is None:  # grey for "not measured", darkened by any backpressure
                fill = blend(UNMEASURED_FILL, BACKPRESSURED_FILL, bp or 0.0)
            else:
                fill = flink_colours(busy, bp)[0]
            out.append(
                f'<rect class="cell" x="{x0:.1f}" y="{yy}" width="{max(x1 - x0, 0.5):.1f}" '
                f'height="{row_h - 1}" fill="{fill}"><title>{esc(name)} '
                f'{esc(clock(start - f.t0))}–{esc(clock(end - f.t0))}: {esc(text)}</title></rect>'
            )
    out.append("</svg>")
    return "".join(out)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def legend(lines: Sequence[Line]) -> str:
    items = "".join(
        f'<span class="key"><i style="background:{esc(ln.colour)}"></i>{esc(ln.label)}</span>'
        for ln in lines
    )
    return f'<div class="legend">{items}</div>'
