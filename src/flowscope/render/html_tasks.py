"""The report's per-task sections: timelines over the recording and per-subtask tables."""

from __future__ import annotations

import math
from collections.abc import Sequence

from flowscope.analysis.findings import Diagnosis, SubtaskState, TaskState
from flowscope.analysis.timeline import TimelineStep, subtask_series, task_series
from flowscope.render.colours import BACKPRESSURED_LINE, BUSY_LINE, IDLE_LINE, PALETTE
from flowscope.render.svg_charts import Frame, Line, esc, heat_strip, legend, nice_step, step_chart


def rate(x: float | None) -> str:
    """Records per second, short: 950, 12.3k, 1.2M."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if x >= 1e6:
        return f"{x / 1e6:.1f}M"
    if x >= 1e4:
        return f"{x / 1e3:.0f}k"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.1f}" if 0 < x < 10 else f"{x:.0f}"


def pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.0f}%"


def _rate_chart(steps: Sequence[TimelineStep], tasks: Sequence[TaskState], field: str,
                label: str, frame: Frame) -> str:
    lines = [Line(t.name, PALETTE[i % len(PALETTE)], task_series(steps, t.vertex_id, field))
             for i, t in enumerate(tasks)]
    top = max((v for ln in lines for _, _, v in ln.points if v is not None), default=0.0)
    step = nice_step(top, 2)
    y_max = math.ceil(top / step) * step if top > 0 else 1.0
    return (f'<div class="card" data-chart="{esc(field)}"><h3>{esc(label)}</h3>{legend(lines)}'
            f"{step_chart(frame, lines, y_max=y_max, fmt=rate, label=label)}</div>")


# Rows of a task's per-subtask strip: past this, the busiest and most backpressured.
MAX_SUBTASK_ROWS = 48


def _task_card(steps: Sequence[TimelineStep], t: TaskState, frame: Frame, cause: str | None
               ) -> str:
    lines = [Line(name, colour, task_series(steps, t.vertex_id, field))
             for name, colour, field in (("busy", BUSY_LINE, "busy"),
                                         ("backpressured", BACKPRESSURED_LINE, "backpressured"),
                                         ("idle", IDLE_LINE, "idle"))]
    mark = f' <span class="badge backpressured">{esc(cause)}</span>' if cause else ""
    html = [f'<div class="card{" hot" if cause else ""}" data-vertex="{esc(t.vertex_id)}">'
            f"<h3>{esc(t.name)}{mark}</h3>{legend(lines)}",
            step_chart(frame, lines, y_max=1.0, fmt=pct, label=f"{t.name}: busy, "
                       "backpressured, idle (max over subtasks)")]
    if t.parallelism > 1 and t.subtasks:
        rows = []
        shown = list(t.subtasks)
        if len(shown) > MAX_SUBTASK_ROWS:
            # A big task: the busiest and the most backpressured over the window, in order.
            keep = sorted(shown, key=lambda s: -max(s.busy or 0.0, s.backpressured or 0.0))
            picked = {s.index for s in keep[:MAX_SUBTASK_ROWS]}
            shown = [s for s in shown if s.index in picked]
        for s in shown:
            busy = subtask_series(steps, t.vertex_id, s.index, "busy")
            bp = subtask_series(steps, t.vertex_id, s.index, "backpressured")
            rows.append((f"#{s.index}", [(a, b, v, w[2]) for (a, b, v), w in zip(busy, bp,
                                                                                  strict=True)]))
        what = ("each subtask" if len(shown) == len(t.subtasks) else
                f"the {len(shown)} busiest or most backpressured of {len(t.subtasks):,} subtasks")
        html.append(f'<div class="muted">{what} over time (colour as in the graph)</div>')
        html.append(heat_strip(frame, rows, label=f"{t.name}: subtasks over time"))
    html.append("</div>")
    return "".join(html)


def _causes(d: Diagnosis) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in d.bottlenecks:
        if f.vertex_id:
            out[f.vertex_id] = f"{out[f.vertex_id]}, {f.cause}" if f.vertex_id in out else f.cause
    return out


def timelines(d: Diagnosis, steps: Sequence[TimelineStep]) -> str:
    """Record rates of every task, then busy / backpressured / idle of each task, over time."""
    head = '<section id="timelines"><h2>Over the recording</h2>'
    if not steps:
        return (head + '<p class="muted">Fewer than two distinct metric snapshots: nothing to '
                "plot over time (the JobManager refreshes metrics about every 10 s).</p></section>")
    frame = Frame(steps[0].start, steps[-1].end)
    span = steps[-1].end - steps[0].start
    intro = (f'<p class="muted">{len(steps)} intervals over {span:.0f} s; x axis: time since '
             "the first snapshot. Hover a chart for the values of an interval.</p>")
    causes = _causes(d)
    cards = [_rate_chart(steps, d.tasks, "records_in_per_s", "records in per second", frame),
             _rate_chart(steps, d.tasks, "records_out_per_s", "records out per second", frame)]
    cards += [_task_card(steps, t, frame, causes.get(t.vertex_id)) for t in d.tasks]
    return head + intro + f'<div class="timelines">{"".join(cards)}</div></section>'


def _bar(kind: str, value: float | None, share: float | None, text: str) -> str:
    width = 0.0 if share is None or not math.isfinite(share) else min(max(share, 0.0), 1.0)
    return (f'<td class="bar {kind}"><span style="width:{100 * width:.0f}%"></span>'
            f"<b>{esc(text)}</b></td>")


def _subtask_row(s: SubtaskState, top_in: float, top_out: float, hot: bool) -> str:
    def share(v: float | None, top: float) -> float | None:
        return None if v is None or top <= 0 else v / top

    return "".join([
        f'<tr class="{"hot" if hot else ""}" data-subtask="{s.index}">',
        f'<td class="l">{s.index}</td><td class="l">{esc(s.taskmanager)}</td>',
        _bar("busy", s.busy, s.busy, pct(s.busy)),
        _bar("bp", s.backpressured, s.backpressured, pct(s.backpressured)),
        _bar("idle", s.idle, s.idle, pct(s.idle)),
        _bar("rate", s.records_in_per_s, share(s.records_in_per_s, top_in),
             rate(s.records_in_per_s)),
        _bar("rate", s.records_out_per_s, share(s.records_out_per_s, top_out),
             rate(s.records_out_per_s)),
        _bar("pool", s.in_pool_usage, s.in_pool_usage, pct(s.in_pool_usage)),
        _bar("pool", s.out_pool_usage, s.out_pool_usage, pct(s.out_pool_usage)),
        f"<td>{pct(s.in_floating_usage)}</td><td>{pct(s.in_exclusive_usage)}</td>",
        f'<td class="l">{esc(s.basis)}</td></tr>',
    ])


def subtask_tables(d: Diagnosis) -> str:
    """Per task, each subtask's ratios, rates, pool usage and TaskManager over the window."""
    hot_subtasks: dict[str, set[int]] = {}
    for f in d.bottlenecks:
        if f.vertex_id:
            hot_subtasks.setdefault(f.vertex_id, set()).update(f.subtasks)
    cards = []
    for t in d.tasks:
        top_in = max((s.records_in_per_s or 0.0 for s in t.subtasks), default=0.0)
        top_out = max((s.records_out_per_s or 0.0 for s in t.subtasks), default=0.0)
        hot = hot_subtasks.get(t.vertex_id)
        rows = "".join(_subtask_row(s, top_in, top_out, bool(hot and s.index in hot))
                       for s in t.subtasks)
        facts = (f"parallelism {t.parallelism} · level {esc(t.level.value)} · in "
                 f"{rate(t.records_in_per_s)}/s · out {rate(t.records_out_per_s)}/s")
        if t.true_rate_per_subtask:  # 0 for sources, which count no records in
            facts += f" · true rate {rate(t.true_rate_per_subtask)}/s per subtask"
        cards.append(
            f'<div class="card{" hot" if hot is not None else ""}" data-vertex="'
            f'{esc(t.vertex_id)}"><h3>{esc(t.name)}</h3><div class="muted">{facts}</div>'
            '<div class="scroll"><table><tr><th class="l">#</th><th class="l">TaskManager</th>'
            "<th>busy</th><th>backpressured</th><th>idle</th><th>records in/s</th>"
            "<th>records out/s</th><th>in pool</th><th>out pool</th><th>in floating</th>"
            f'<th>in exclusive</th><th class="l">basis</th></tr>{rows}</table></div></div>'
        )
    return ('<section id="subtasks"><h2>Subtasks (over the window)</h2><p class="muted">Rates '
            "bars are relative to the task's busiest subtask, so skew stands out; pool usage "
            "covers remote channels only (local and FORWARD inputs read 0).</p>"
            + "".join(cards) + "</section>")
