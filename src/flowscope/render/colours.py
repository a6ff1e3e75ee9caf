"""Flink's web UI colour scheme for tasks: blue idle, red busy, grey/black backpressured.

Flink's job graph starts from blue, blends towards red by the busy share, then towards grey
(fill) and black (border) by the backpressured share; flowscope draws the same mix so a
report looks like the UI its readers know.
"""

from __future__ import annotations

IDLE_FILL, BUSY_FILL, BACKPRESSURED_FILL = "#5db1ff", "#ee6464", "#888888"
UNMEASURED_FILL = "#d9d9d9"  # busy time not reported (NaN)
IDLE_STROKE, BUSY_STROKE, BACKPRESSURED_STROKE = "#1890ff", "#ee2222", "#000000"

# Series colours for the busy / backpressured / idle lines of the report's timelines.
BUSY_LINE, BACKPRESSURED_LINE, IDLE_LINE = "#e03131", "#212529", "#1c7ed6"

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#e15759", "#76b7b2", "#edc948",
           "#9c755f", "#ff9da7", "#bab0ac")


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def blend(a: str, b: str, share: float) -> str:
    """`a` moved `share` (0..1) of the way towards `b`, as #rrggbb."""
    p = min(max(share, 0.0), 1.0)
    ca, cb = _rgb(a), _rgb(b)
    return "#" + "".join(f"{round(x + (y - x) * p):02x}" for x, y in zip(ca, cb, strict=True))


def flink_colours(busy: float | None, backpressured: float | None) -> tuple[str, str, str]:
    """(fill, border, text) for a task with these ratios (0..1; None counts as 0)."""
    fill, stroke = IDLE_FILL, IDLE_STROKE
    if busy:
        fill, stroke = blend(fill, BUSY_FILL, busy), blend(stroke, BUSY_STROKE, busy)
    if backpressured:
        fill = blend(fill, BACKPRESSURED_FILL, backpressured)
        stroke = blend(stroke, BACKPRESSURED_STROKE, backpressured)
    r, g, b = _rgb(fill)
    text = "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#ffffff"
    return fill, stroke, text
