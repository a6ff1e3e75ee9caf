"""The diagnosis for a terminal: the task table coloured like Flink's UI, then the findings.

Colour follows Flink's web UI: idle is blue, busy is red, backpressured is black (shown as a
dim grey on dark terminals). rich drops colour for NO_COLOR and for non-TTY output.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from flowscope.analysis.findings import Diagnosis, Level, TaskState, Verdict
from flowscope.analysis.numbers import pct as percent
from flowscope.render import words
from flowscope.render.safe import console as safe_console

LEVEL_STYLE = {Level.OK: "green", Level.LOW: "yellow", Level.HIGH: "bold red",
               Level.UNKNOWN: "dim"}
VERDICT_STYLE = {Verdict.HEALTHY: "bold green", Verdict.BACKPRESSURED: "bold red",
                 Verdict.LIMITED: "bold dark_orange", Verdict.RESTARTING: "bold magenta",
                 Verdict.UNKNOWN: "bold yellow"}


def pct(x: float | None) -> str:
    """A ratio as a percentage in a column five characters wide."""
    return percent(x).rjust(5)


def rate(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 10_000:
        return f"{x / 1000:.1f}k"
    return f"{x:.0f}"


def task_colour(t: TaskState) -> str:
    """Flink's scheme: mix red (busy), black (backpressured) and blue (idle)."""
    busy, bp, idle = t.busy or 0.0, t.backpressured or 0.0, t.idle or 0.0
    total = busy + bp + idle or 1.0
    r = int(255 * busy / total)
    b = int(255 * idle / total)
    return f"rgb({max(r, 40)},{40},{max(b, 40)})"


def task_table(d: Diagnosis) -> Table:
    table = Table(title=None, expand=False, show_edge=False, pad_edge=False)
    table.add_column("task")
    table.add_column("par", justify="right")
    table.add_column("busy", justify="right")
    table.add_column("backpressured", justify="right")
    table.add_column("idle", justify="right")
    table.add_column("level")
    table.add_column("in/s", justify="right")
    table.add_column("out/s", justify="right")
    roots = {f.vertex_id: f for f in d.bottlenecks}
    for t in d.tasks:
        name = Text("■ ", style=task_colour(t)) + Text(t.name)
        if t.vertex_id in roots:
            name += Text(f"  ◀ {roots[t.vertex_id].cause}", style="bold red")
        table.add_row(
            name, str(t.parallelism),
            Text(pct(t.busy), style="red" if (t.busy or 0) >= 0.5 else ""),
            Text(pct(t.backpressured), style="bold" if (t.backpressured or 0) > 0.5 else ""),
            Text(pct(t.idle), style="blue" if (t.idle or 0) >= 0.5 else ""),
            Text(t.level.value, style=LEVEL_STYLE[t.level]),
            rate(t.records_in_per_s), rate(t.records_out_per_s),
        )
    return table


def render(d: Diagnosis, verbose: bool = False) -> Group:
    parts: list[object] = []
    head = Text()
    head.append(f"{d.job_name or d.job_id}", style="bold")
    head.append(f"  ({d.job_id[:8]}, {d.job_state}")
    if d.uptime_s is not None:
        head.append(f", up {d.uptime_s:.0f} s")
    head.append(f", window {d.window_s:.0f} s)  ")
    head.append(d.verdict.value.upper(), style=VERDICT_STYLE[d.verdict])
    head.append(f"  confidence {d.confidence}", style="dim")
    parts.append(head)
    parts.append(task_table(d))
    for f in d.findings:
        parts.append(Text(""))
        marker, colour = ("● ", "red") if f.is_bottleneck else ("○ ", "yellow")
        title = Text(marker, style=colour)
        title.append(f"{f.cause}", style="bold")
        title.append(f"  {words.summary(f)}")
        parts.append(title)
        for a in f.actions:
            parts.append(Text.from_markup(f"  [bold]→[/bold] {escape(words.action(a, f))}"))
            for k, v in a.config.items():
                parts.append(Text(f"      {k}: {v}", style="cyan"))
        shown = f.evidence if verbose else f.evidence[:6]
        for e in shown:
            value = e.value if isinstance(e.value, str) else f"{e.value:g}"
            parts.append(Text(f"    {e.subject}: {e.metric} = {value} {e.unit}  ({words.why(e)})",
                              style="dim"))
    for n in words.notes(d.notes):
        parts.append(Text(f"note: {n}", style="yellow"))
    return Group(*parts)  # type: ignore[arg-type]


def print_diagnosis(d: Diagnosis, console: Console | None = None, verbose: bool = False) -> None:
    (console or safe_console()).print(render(d, verbose))
