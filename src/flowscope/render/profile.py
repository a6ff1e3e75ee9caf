"""A profile for a terminal (conclusions first, then each part's table) and as JSON
(schema flowscope.profile/1). Prints, never decides; the sentences come from
render.words.profile."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from flowscope.analysis.checkpoints import CheckpointEvidence
from flowscope.analysis.findings import Work
from flowscope.analysis.flame import FlameSummary
from flowscope.analysis.latency import LatencyReport
from flowscope.analysis.numbers import pct as _pct
from flowscope.analysis.profile import FlameProfile, ProfileReport
from flowscope.analysis.taskmanagers import TaskManagerLoad
from flowscope.analysis.threads import ThreadDumpReport
from flowscope.render.jsonout import json_safe
from flowscope.render.safe import console as safe_console
from flowscope.render.terminal import LEVEL_STYLE
from flowscope.render.words import profile as words

SCHEMA = "flowscope.profile/1"


def _ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x / 1000:.1f} s" if x >= 10_000 else f"{x:.0f} ms"


def _flame_table(s: FlameSummary) -> Table:
    table = Table(show_edge=False, pad_edge=False, title=None)
    table.add_column(f"{s.kind.replace('_', '-')} frame ({s.samples} samples)")
    table.add_column("share", justify="right")
    table.add_column("innermost", justify="right")
    table.add_column("operator")
    for h in s.hot_frames:
        table.add_row(Text(h.method), _pct(h.share), str(h.self_samples), Text(h.operator or ""))
    return table


def render(report: ProfileReport, verbose: bool = False) -> Group:
    """The profile for a terminal: the conclusions, then each part that ran."""
    parts: list[RenderableType] = [_head(report)]
    parts.extend(Text(f"● {words.conclusion(c)}") for c in report.conclusions)
    if report.flame is not None:
        parts.extend(_flame_part(report.flame, verbose))
    if report.threads is not None:
        parts.extend(_threads_part(report.threads, verbose))
    if report.taskmanagers:
        parts.extend(_taskmanagers_part(report.taskmanagers))
    if report.latency is not None:
        parts.extend(_latency_part(report.latency, verbose))
    for cp in report.checkpoints:
        parts.extend(_checkpoint_part(cp, verbose))
    for part, why in report.skipped.items():
        parts.append(Text(f"skipped {part}: {why}", style="yellow"))
    st = report.stats
    parts.append(Text(
        f"{st.requests} requests in {st.wall_s:.1f} s (diagnosis {st.diagnose_polls} polls / "
        f"{st.diagnose_requests} requests in {st.diagnose_s:.1f} s, "
        f"flame graph {st.flame_requests} requests / {st.flame_wait_s:.1f} s, thread dumps "
        f"{st.thread_dumps} in {st.thread_dump_s:.1f} s, {st.thread_samples} task samples)",
        style="dim"))
    return Group(*parts)


def _head(report: ProfileReport) -> Text:
    head = Text()
    head.append(report.job_name or report.job_id, style="bold")
    head.append(f"  ({report.job_id[:8]})  {report.verdict.upper()}")
    if report.target is not None:
        head.append(f"  profiled: {report.target.vertex_name} ({report.target.chosen_by}"
                    + (f", {report.target.cause}" if report.target.cause else "") + ")")
    return head


def _flame_part(f: FlameProfile, verbose: bool) -> list[RenderableType]:
    title = Text("flame graph", style="bold")
    title.append(f"  {f.work.kind}; user samples on CPU {f.work.on_cpu_user}, off CPU "
                 f"{f.work.off_cpu_user}; mailbox waits {f.work.mailbox_samples}; "
                 f"waited {f.waited_s:.1f} s" + (" (stale sample)" if f.stale else ""),
                 style="dim")
    parts: list[RenderableType] = [Text(""), title]
    parts.extend(_flame_table(view) for view in (f.on_cpu, f.off_cpu) if view.hot_frames)
    ops = f.on_cpu.operators if f.work.kind != Work.OFF_CPU else f.off_cpu.operators
    if len(ops) > 1 or verbose:
        for o in ops if verbose else [o for o in ops if o.share >= 0.01]:
            parts.append(Text(f"  {o.operator}: {_pct(o.share)} of samples"
                              + (f", {o.top_method}" if o.top_method else "")
                              + f" ({o.matched_by})", style="dim"))
    return parts


def _threads_part(th: ThreadDumpReport, verbose: bool) -> list[RenderableType]:
    table = Table(show_edge=False, pad_edge=False)
    for col in ("task", "sampled bp", "level", "busy", "metrics bp", "metrics level", "agree"):
        table.add_column(col, justify="right" if col not in ("task", "level") else "left")
    for t in th.tasks:
        agree = {True: "yes", False: "NO", None: "-"}[t.agrees]
        table.add_row(Text(t.vertex_name), _pct(t.backpressured),
                      Text(t.level.value, style=LEVEL_STYLE[t.level]), _pct(t.busy),
                      _pct(t.metric_backpressured),
                      Text(t.metric_level.value, style=LEVEL_STYLE[t.metric_level]), agree)
    parts: list[RenderableType] = [
        Text(""),
        Text(f"thread-dump sampling  {th.rounds} rounds, {th.dumps} dumps over "
             f"{th.span_s:.1f} s", style="bold"),
        table,
    ]
    if verbose:
        for s in th.subtasks:
            parts.append(Text(
                f"  {s.vertex_name}[{s.index}] {s.samples} samples: busy {_pct(s.busy)} "
                f"(on CPU {_pct(s.on_cpu)}), waiting {_pct(s.waiting)}, hard "
                f"{_pct(s.hard)} -> bp {_pct(s.backpressured)}"
                + (f"; saturated receivers {', '.join(s.saturated_receivers[:4])}"
                   if s.saturated_receivers else ""), style="dim"))
    parts.extend(Text(f"  note: {words.threads(n)}", style="yellow") for n in th.notes)
    return parts


def _taskmanagers_part(taskmanagers: list[TaskManagerLoad]) -> list[RenderableType]:
    table = Table(show_edge=False, pad_edge=False, title=None)
    for col in ("TaskManager", "CPU load", "cores", "GC ms/s", "heap", "busy subtasks"):
        table.add_column(col, justify="left" if col in ("TaskManager", "busy subtasks")
                         else "right")
    for tm in taskmanagers:
        table.add_row(
            Text(tm.id), _pct(tm.cpu_load),
            "-" if tm.cores_used is None else f"{tm.cores_used:.2f}",
            "-" if tm.gc_ms_per_s is None else f"{tm.gc_ms_per_s:.0f}", _pct(tm.heap_share),
            ", ".join(tm.busy_subtasks) or "-")
    parts: list[RenderableType] = [Text(""), table]
    parts.extend(Text(f"  {tm.id}: {words.taskmanager(s)}", style="dim")
                 for tm in taskmanagers for s in tm.statements)
    return parts


def _latency_part(lat: LatencyReport, verbose: bool) -> list[RenderableType]:
    parts: list[RenderableType] = [Text(""), Text("latency markers", style="bold")]
    if lat.hops:
        table = Table(show_edge=False, pad_edge=False)
        for col in ("hop", "adds p50", "p95", "p99", "cumulative p99", "expected"):
            table.add_column(col, justify="left" if col == "hop" else "right")
        for h in lat.hops:
            table.add_row(Text(f"{h.from_name} -> {h.to_name}"), _ms(h.p50), _ms(h.p95),
                          _ms(h.p99), _ms(h.cumulative_p99), _ms(h.expected_ms))
        parts.append(table)
    parts.extend(Text(f"  {words.latency(n)}") for n in lat.notes)
    parts.extend(Text(f"  enable: {words.HOW_TO_ENABLE[how]}", style="cyan")
                 for how in lat.how_to_enable)
    shown = lat.caveats if (verbose or lat.hops) else []
    parts.extend(Text(f"  caveat: {words.CAVEATS[c]}", style="dim") for c in shown)
    return parts


def _checkpoint_part(cp: CheckpointEvidence, verbose: bool) -> list[RenderableType]:
    parts: list[RenderableType] = [
        Text(""), Text(f"checkpoint {cp.id} ({cp.status})", style="bold")]
    for v in cp.vertices if verbose else [v for v in cp.vertices if v.start_delay_ms]:
        parts.append(Text(f"  {v.vertex_name}: barrier after {_ms(v.start_delay_ms)}, "
                          f"aligned {_ms(v.alignment_ms)}, {v.acknowledged}/{v.subtasks} "
                          "acknowledged", style="dim"))
    parts.extend(Text(f"  {words.checkpoint(s)}") for s in cp.statements)
    return parts


def print_profile(report: ProfileReport, console: Console | None = None,
                  verbose: bool = False) -> None:
    (console or safe_console()).print(render(report, verbose))


def to_dict(report: ProfileReport) -> dict[str, Any]:
    """The profile as plain JSON-able data (schema flowscope.profile/1)."""
    body = dataclasses.asdict(report)
    body["conclusions"] = [words.conclusion(c) for c in report.conclusions]
    for tm, raw in zip(report.taskmanagers, body["taskmanagers"], strict=True):
        raw["statements"] = [words.taskmanager(s) for s in tm.statements]
    for cp, raw in zip(report.checkpoints, body["checkpoints"], strict=True):
        raw["statements"] = [words.checkpoint(s) for s in cp.statements]
    if report.threads is not None:
        body["threads"]["notes"] = [words.threads(s) for s in report.threads.notes]
    if report.latency is not None:
        lat = body["latency"]
        lat["notes"] = [words.latency(s) for s in report.latency.notes]
        lat["how_to_enable"] = [words.HOW_TO_ENABLE[h] for h in report.latency.how_to_enable]
        lat["caveats"] = [words.CAVEATS[c] for c in report.latency.caveats]
    if report.flame is not None:
        views = (("on_cpu", report.flame.on_cpu), ("off_cpu", report.flame.off_cpu))
        for key, view in views:
            body["flame"][key]["notes"] = [words.flame(s) for s in view.notes]
        body["flame"]["work"]["on_cpu_share"] = report.flame.work.on_cpu_share
        del body["flame"]["work"]["split"]  # the counts behind `kind`, in its own fields
    if report.threads is not None:
        for t, raw in zip(report.threads.tasks, body["threads"]["tasks"], strict=True):
            raw["agrees"] = t.agrees
        for s, raw in zip(report.threads.subtasks, body["threads"]["subtasks"], strict=True):
            raw["agrees"] = s.agrees
    return {"schema": SCHEMA, **json_safe(body)}


def render_json(report: ProfileReport) -> str:
    return json.dumps(to_dict(report), indent=2, allow_nan=False)
