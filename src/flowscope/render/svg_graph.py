"""The job graph as static SVG, left to right by topological depth, coloured like Flink's UI.

Each task box shows its name, parallelism and busy / backpressured / idle; each edge its ship
strategy. Bottlenecks (from the diagnosis, never decided here) get a red outline and their
cause. Every Flink-provided string passes through `esc`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowscope.analysis.findings import Diagnosis, TaskState
from flowscope.model import JobGraph
from flowscope.render.colours import flink_colours
from flowscope.render.svg_charts import esc

NODE_W, NODE_H = 210, 86
COL_GAP, ROW_GAP, MARGIN = 96, 34, 20
NAME_CHARS = 28


@dataclass(frozen=True)
class Placed:
    vertex_id: str
    x: float
    y: float


def depths(graph: JobGraph) -> dict[str, int]:
    """Longest path from a source to each vertex (sources are 0)."""
    out: dict[str, int] = {}

    def depth(vid: str, seen: frozenset[str]) -> int:
        if vid not in out:
            ups = [u for u in graph.upstream(vid) if u not in seen]
            out[vid] = 1 + max((depth(u, seen | {vid}) for u in ups), default=-1)
        return out[vid]

    for v in graph.vertices:
        depth(v.id, frozenset())
    return out


def layout(graph: JobGraph) -> tuple[list[Placed], float, float]:
    """Positions (top-left corners) of every vertex, and the drawing's width and height."""
    d = depths(graph)
    columns: dict[int, list[str]] = {}
    for v in graph.topological():
        columns.setdefault(d[v.id], []).append(v.id)
    rows: dict[str, float] = {}
    for col in sorted(columns):
        ids = columns[col]
        # Order a column by the mean row of its inputs, so edges cross less.
        ids.sort(key=lambda vid: sum(rows.get(u, 0.0) for u in graph.upstream(vid))
                 / max(len(graph.upstream(vid)), 1))
        for i, vid in enumerate(ids):
            rows[vid] = float(i)
    tallest = max((len(c) for c in columns.values()), default=1)
    placed = []
    for col, ids in columns.items():
        offset = (tallest - len(ids)) / 2  # centre short columns
        for vid in ids:
            placed.append(Placed(vid, MARGIN + col * (NODE_W + COL_GAP),
                                 MARGIN + 18 + (rows[vid] + offset) * (NODE_H + ROW_GAP)))
    width = MARGIN * 2 + len(columns) * NODE_W + max(len(columns) - 1, 0) * COL_GAP
    height = MARGIN * 2 + 18 + tallest * NODE_H + (tallest - 1) * ROW_GAP
    return placed, width, height


def _wrap(name: str) -> list[str]:
    """At most two lines of NAME_CHARS, the second cut with an ellipsis."""
    if len(name) <= NAME_CHARS:
        return [name]
    cut = name.rfind(" ", 0, NAME_CHARS + 1)
    cut = cut if cut > NAME_CHARS // 2 else NAME_CHARS
    first, rest = name[:cut], name[cut:].lstrip()
    if len(rest) > NAME_CHARS:
        rest = rest[: NAME_CHARS - 1] + "…"
    return [first, rest]


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def _node(p: Placed, t: TaskState, cause: str | None) -> str:
    fill, stroke, text = flink_colours(t.busy, t.backpressured)
    cls = "node bottleneck" if cause else "node"
    attrs = f' data-cause="{esc(cause)}"' if cause else ""
    out = [f'<g class="{cls}" data-vertex="{esc(t.vertex_id)}"{attrs}>',
           f"<title>{esc(t.name)}\nparallelism {t.parallelism}\nbusy {_pct(t.busy)}, "
           f"backpressured {_pct(t.backpressured)}, idle {_pct(t.idle)} (max over subtasks)"
           f"</title>"]
    if cause:
        out.append(f'<rect class="mark" x="{p.x - 6:.1f}" y="{p.y - 6:.1f}" '
                   f'width="{NODE_W + 12}" height="{NODE_H + 12}" rx="10"/>')
        out.append(f'<text class="mark-label" x="{p.x:.1f}" y="{p.y - 11:.1f}">'
                   f"▼ bottleneck: {esc(cause)}</text>")
    out.append(f'<rect x="{p.x:.1f}" y="{p.y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="6" '
               f'fill="{fill}" stroke="{stroke}" stroke-width="2"/>')
    y = p.y + 20
    for line in _wrap(t.name):
        out.append(f'<text class="name" x="{p.x + 10:.1f}" y="{y:.1f}" fill="{text}">'
                   f"{esc(line)}</text>")
        y += 16
    out.append(f'<text class="stats" x="{p.x + 10:.1f}" y="{p.y + NODE_H - 26:.1f}" '
               f'fill="{text}">parallelism {t.parallelism} · {esc(t.level.value)}</text>')
    out.append(f'<text class="stats" x="{p.x + 10:.1f}" y="{p.y + NODE_H - 10:.1f}" '
               f'fill="{text}">busy {_pct(t.busy)} · bp {_pct(t.backpressured)} · '
               f"idle {_pct(t.idle)}</text>")
    out.append("</g>")
    return "".join(out)


def job_graph_svg(graph: JobGraph, d: Diagnosis) -> str:
    """The whole graph as one <svg> element."""
    placed, width, height = layout(graph)
    at = {p.vertex_id: p for p in placed}
    tasks = {t.vertex_id: t for t in d.tasks}
    causes: dict[str, str] = {}
    for f in d.bottlenecks:
        if f.vertex_id:
            causes[f.vertex_id] = (f"{causes[f.vertex_id]}, {f.cause}" if f.vertex_id in causes
                                   else str(f.cause))
    out = [f'<svg class="graph" viewBox="0 0 {width:.0f} {height:.0f}" '
           # Shrink to the page down to a readable size, then scroll.
           f'style="width:100%;max-width:{width:.0f}px;min-width:{min(width, 760):.0f}px" '
           'role="img" aria-label="job graph">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" '
           'fill="#555"/></marker></defs>']
    for e in graph.edges:
        a, b = at.get(e.source), at.get(e.target)
        if a is None or b is None:
            continue
        x0, y0 = a.x + NODE_W, a.y + NODE_H / 2
        x1, y1 = b.x, b.y + NODE_H / 2
        mid = (x0 + x1) / 2
        out.append(f'<path class="edge" d="M{x0:.1f},{y0:.1f}C{mid:.1f},{y0:.1f} {mid:.1f},'
                   f'{y1:.1f} {x1 - 2:.1f},{y1:.1f}" marker-end="url(#arrow)"/>')
        lx, ly = mid, (y0 + y1) / 2
        out.append(f'<text class="ship" x="{lx:.1f}" y="{ly - 6:.1f}" text-anchor="middle">'
                   f"{esc(e.ship_strategy)}</text>")
    for p in placed:
        t = tasks.get(p.vertex_id)
        if t is not None:
            out.append(_node(p, t, causes.get(p.vertex_id)))
    out.append("</svg>")
    return "".join(out)
