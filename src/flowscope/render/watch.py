"""`flowscope watch`'s view: a WatchState (flowscope.analysis.tracking) as a full-screen
rich view or as plain text lines for pipes and CI logs. Draws, never decides."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from flowscope.analysis.tracking import HISTORY_SNAPSHOTS, WatchState
from flowscope.render import words
from flowscope.render.terminal import LEVEL_STYLE, VERDICT_STYLE, pct, rate

SPARKS = "▁▂▃▄▅▆▇█"
# Flink's UI colours: busy red, backpressured black (grey on a dark terminal), idle blue.
BUSY_STYLE, BP_STYLE, IDLE_STYLE = "red", "grey62", "blue"


def sparkline(values: Sequence[float | None], width: int) -> str:
    """The last `width` ratios (0..1) as block characters; a gap where unmeasured."""
    top = len(SPARKS) - 1
    return "".join(" " if v is None or not math.isfinite(v) else
                   SPARKS[min(top, max(0, round(v * top)))]
                   for v in (list(values)[-width:] if width > 0 else []))


def clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def duration(s: float | None) -> str:
    """`45s`, `12m05s`, `3h20m`; `?` when unknown."""
    n = max(0, int(s or 0))
    if s is None:
        return "?"
    if n >= 3600:
        return f"{n // 3600}h{n % 3600 // 60:02d}m"
    return f"{n // 60}m{n % 60:02d}s" if n >= 60 else f"{n}s"


def where_it_has_been(state: WatchState, last: int = 6) -> str:
    """'14:02:10 enrich (data-skew) -> 14:02:40 window (compute-bound)'."""
    moves = state.moves[-last:]
    text = " -> ".join(f"{clock(m.t)} {m.label}" for m in moves)
    return ("... -> " if len(state.moves) > last else "") + (text or "not judged yet")


def footer(state: WatchState, status: str = "") -> str:
    return (f"poll {state.polls} · {state.snapshots} snapshots · counters cover "
            f"{state.window_s:.0f} s · job up {duration(state.uptime_s)} · watching "
            f"{duration(state.t - state.first_t)}" + (f" · {status}" if status else ""))


def render(state: WatchState, width: int = 100, status: str = "",
           keys: str = "q quit · p pause") -> RenderableType:
    """The full-screen view: header, task table with sparklines, bottlenecks, footer."""
    head = Text()
    head.append(f"{state.job_name or state.job_id}", style="bold")
    head.append(f"  {state.job_id[:8]} {state.job_state}  ")
    head.append(state.verdict.value.upper(), style=VERDICT_STYLE[state.verdict])
    head.append(f"  confidence {state.confidence}  {clock(state.t)}", style="dim")
    spark_w = max(8, min(HISTORY_SNAPSHOTS, width - 72))
    table = Table(show_edge=False, pad_edge=False, expand=False)
    for col, just in [("task", "left"), ("par", "right"), ("busy", "right"), ("bp", "right"),
                      ("idle", "right"), ("level", "left"), ("in/s", "right"),
                      ("out/s", "right"), ("history: busy / bp", "left")]:
        table.add_column(col, justify=just, no_wrap=(col != "task"))  # type: ignore[arg-type]
    for t in state.tasks:
        name = Text(t.name)
        if t.cause:
            name.append(f" ◀ {t.cause}", style="bold red")
        hist = Text(sparkline(t.busy_history, spark_w), style=BUSY_STYLE)
        hist.append("\n" + sparkline(t.backpressured_history, spark_w), style=BP_STYLE)
        table.add_row(
            name, str(t.parallelism), Text(pct(t.busy), style=BUSY_STYLE),
            Text(pct(t.backpressured), style=BP_STYLE), Text(pct(t.idle), style=IDLE_STYLE),
            Text(t.level.value, style=LEVEL_STYLE[t.level]),
            rate(t.records_in_per_s), rate(t.records_out_per_s), hist,
        )
    parts: list[RenderableType] = [head, table, Text("")]
    for f in state.findings:
        line = Text("bottleneck ", style="bold")
        line.append(f"{f.vertex_name or '?'} ({f.cause})", style="bold red")
        line.append(f"  {words.summary(f)}")
        parts.append(line)
    if not state.findings:
        parts.append(Text(f"bottleneck: none ({state.verdict.value})", style="bold"))
    parts.append(Text("where it has been: ", style="bold") + Text(where_it_has_been(state)))
    parts.extend(Text(f"note: {n}", style="yellow") for n in words.notes(state.notes))
    parts.append(Text(""))
    parts.append(Text(footer(state, status) + (f" · {keys}" if keys else ""), style="reverse"))
    return Group(*parts)


def render_waiting(job_name: str, status: str, keys: str = "q quit · p pause"
                   ) -> RenderableType:
    """The full-screen view before any poll has succeeded: the job and why (`status`)."""
    head = Text()
    head.append(job_name, style="bold")
    head.append(f"  no poll has succeeded yet  {clock(time.time())}", style="dim")
    return Group(head, Text(""), Text(status or "waiting for the first poll", style="yellow"),
                 Text(""), Text(keys, style="reverse"))


def render_lines(state: WatchState) -> list[str]:
    """The view as plain lines, for pipes and CI logs."""
    bottleneck = (", ".join(f"{f.vertex_name or '?'} ({f.cause})" for f in state.findings)
                  or "none")
    return [f"{clock(state.t)} {state.job_name} {state.job_state} "
            f"{state.verdict.value.upper()} (confidence {state.confidence}) bottleneck: "
            f"{bottleneck} | {footer(state)}"] + [
        f"  {t.name:<24} busy {pct(t.busy)} bp {pct(t.backpressured)} idle {pct(t.idle)} "
        f"{t.level.value:<7} in/s {rate(t.records_in_per_s):>6} out/s "
        f"{rate(t.records_out_per_s):>6}" + (f"  <- {t.cause}" if t.cause else "")
        for t in state.tasks]
