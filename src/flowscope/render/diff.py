"""`flowscope diff` for a terminal and as JSON (schema flowscope.diff/1, docs/diff.md)."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from flowscope.analysis.diff import (
    RATE_NOISE,
    RATIO_NOISE,
    BottleneckChange,
    Pair,
    TaskDelta,
    WindowDiff,
    WindowRef,
    rate_moved,
    ratio_moved,
)
from flowscope.render.jsonout import json_safe
from flowscope.render.terminal import rate

SCHEMA = "flowscope.diff/1"
CHANGE_STYLE = {BottleneckChange.GONE: "bold green", BottleneckChange.MOVED: "bold yellow",
                BottleneckChange.UNCHANGED: "bold", BottleneckChange.APPEARED: "bold red"}


def _ratio(p: Pair) -> Text:
    def one(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.0f}%"

    return Text(f"{one(p.before)} → {one(p.after)}", style="bold" if ratio_moved(p) else "dim")


def _rate(p: Pair) -> Text:
    def one(x: float | None) -> str:
        return rate(x)

    return Text(f"{one(p.before)} → {one(p.after)}", style="bold" if rate_moved(p) else "dim")


def _side(r: WindowRef) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(r.t))
    neck = ", ".join(r.bottlenecks) or "no bottleneck"
    return (f"{r.job_name} ({r.job_id[:8]}) at {when}, window {r.window_s:.0f} s: "
            f"{r.verdict}, {neck}")


def headline(d: WindowDiff) -> str:
    """What changed, in one line."""
    b = d.b.bottlenecks
    a = d.a.bottlenecks
    neck = {
        BottleneckChange.GONE: f"bottleneck gone (was {', '.join(a)})",
        BottleneckChange.MOVED: f"bottleneck moved from {', '.join(a)} to {', '.join(b)}",
        BottleneckChange.UNCHANGED: (f"bottleneck unchanged ({', '.join(a)})" if a
                                     else "no bottleneck on either side"),
        BottleneckChange.APPEARED: f"bottleneck appeared: {', '.join(b)}",
    }[d.bottleneck]
    t = d.throughput
    if t.before is None or t.after is None:
        flow = "throughput not measured on both sides"
    elif d.throughput_moved:
        flow = f"throughput {rate(t.before)} → {rate(t.after)} records/s ({t.relative:+.0%})"
    else:
        flow = f"throughput unchanged within noise ({rate(t.before)} → {rate(t.after)} records/s)"
    return f"{neck}; {flow}"


def task_table(d: WindowDiff) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for col in ("task", "par", "busy", "backpressured", "idle", "in/s", "out/s"):
        table.add_column(col, justify="left" if col == "task" else "right")
    for t in d.tasks:
        table.add_row(Text(t.name, style="bold" if t.changed else "dim"), _par(t),
                      _ratio(t.busy), _ratio(t.backpressured), _ratio(t.idle),
                      _rate(t.records_in_per_s), _rate(t.records_out_per_s))
    return table


def _par(t: TaskDelta) -> Text:
    a, b = t.parallelism
    return Text(f"{a} → {b}", style="bold cyan") if a != b else Text(str(a), style="dim")


def render_diff(d: WindowDiff, compact: bool = False) -> Group:
    parts: list[object] = []
    if not compact:
        parts.append(Text(f"A: {_side(d.a)}"))
        parts.append(Text(f"B: {_side(d.b)}"))
    parts.append(Text(headline(d), style=CHANGE_STYLE[d.bottleneck]))
    parts.append(task_table(d))
    for c in d.appeared:
        parts.append(Text(f"+ {c.cause} appeared" + (f" on {c.vertex_name}" if c.vertex_name
                                                      else ""), style="red"))
    for c in d.gone:
        parts.append(Text(f"- {c.cause} went away" + (f" from {c.vertex_name}" if c.vertex_name
                                                       else ""), style="green"))
    for name in d.only_a:
        parts.append(Text(f"only in A: {name}", style="yellow"))
    for name in d.only_b:
        parts.append(Text(f"only in B: {name}", style="yellow"))
    if d.within_noise:
        parts.append(Text(
            f"no change beyond noise (±{100 * RATIO_NOISE:.0f} points of busy / "
            f"backpressured / idle, ±{RATE_NOISE:.0%} of records/s)", style="green"))
    return Group(*parts)  # type: ignore[arg-type]


def _pair(p: Pair) -> dict[str, Any]:
    return {"before": p.before, "after": p.after}


def to_dict(d: WindowDiff) -> dict[str, Any]:
    def ref(r: WindowRef) -> dict[str, Any]:
        return {"job_id": r.job_id, "job_name": r.job_name, "t": r.t, "window_s": r.window_s,
                "verdict": r.verdict.value, "bottlenecks": list(r.bottlenecks)}

    body = {
        "a": ref(d.a), "b": ref(d.b),
        "bottleneck": d.bottleneck.value,
        "within_noise": d.within_noise,
        "noise": {"ratio": RATIO_NOISE, "rate": RATE_NOISE},
        "throughput": {**_pair(d.throughput), "relative": d.throughput.relative,
                       "moved": d.throughput_moved},
        "tasks": [{
            "name": t.name, "changed": t.changed,
            "parallelism": {"before": t.parallelism[0], "after": t.parallelism[1]},
            "level": {"before": t.level[0].value, "after": t.level[1].value},
            **{k: _pair(getattr(t, k)) for k in (
                "busy", "backpressured", "idle", "records_in_per_s", "records_out_per_s")},
        } for t in d.tasks],
        "only_a": list(d.only_a), "only_b": list(d.only_b),
        "causes_appeared": [{"cause": c.cause.value, "vertex_name": c.vertex_name}
                            for c in d.appeared],
        "causes_gone": [{"cause": c.cause.value, "vertex_name": c.vertex_name}
                        for c in d.gone],
        "headline": headline(d),
    }
    return {"schema": SCHEMA, **json_safe(body)}


def render_json(d: WindowDiff) -> str:
    return json.dumps(to_dict(d), indent=2, allow_nan=False)
