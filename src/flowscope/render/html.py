"""The diagnosis as one self-contained HTML page (`flowscope report`).

The page inlines its CSS and draws every chart as static SVG, so it opens offline and makes no
request at all; its Content-Security-Policy forbids scripts and remote loads as a second line
of defence. Every string that comes from Flink (job, task and TaskManager names) is escaped.

Sections: header (job, verdict, confidence, window), the job graph coloured like Flink's UI,
findings with evidence and actions, timelines per task and of record rates, and the
per-subtask breakdown of each task. The renderer only lays out what the analysis decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

from flowscope.analysis.findings import Diagnosis, Evidence, Finding
from flowscope.analysis.timeline import TimelineStep
from flowscope.model import JobGraph
from flowscope.render import html_tasks, words
from flowscope.render.colours import (
    BACKPRESSURED_FILL,
    BUSY_FILL,
    IDLE_FILL,
)
from flowscope.render.svg_charts import esc
from flowscope.render.svg_graph import job_graph_svg

# No script, no remote anything: styles inline, images only as data: URLs.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@dataclass(frozen=True)
class ReportMeta:
    """Where the data came from, for the header. Times are epoch seconds."""

    source: str  # a recording's path or a cluster's URL
    first_t: float
    last_t: float
    polls: int
    snapshots: int
    generated_at: float
    version: str = ""


def utc(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds(s: float | None) -> str:
    if s is None:
        return "n/a"
    s = round(s)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _css() -> str:
    return resources.files("flowscope.render").joinpath("static/report.css").read_text("utf-8")


def _header(d: Diagnosis, meta: ReportMeta) -> str:
    bottlenecks = d.bottlenecks
    if bottlenecks:
        summary = "; ".join(
            f"<b>{esc(f.vertex_name or 'job')}</b> ({esc(f.cause)}): {esc(words.summary(f))}"
            for f in bottlenecks
        )
    elif d.findings:
        summary = esc(words.summary(d.findings[0]))
    else:
        summary = {"healthy": "No backpressure: no task is holding its inputs back.",
                   "limited": "No backpressure, but the first task runs at its limit.",
                   "unknown": "Could not tell yet: see the notes."}.get(d.verdict.value, "")
    facts = [
        ("job id", f"<code>{esc(d.job_id)}</code>"), ("state", esc(d.job_state)),
        ("confidence", esc(d.confidence)),
        ("window", f"{esc(seconds(d.window_s))} of counters, ending {esc(utc(d.t))}"),
        ("job uptime", esc(seconds(d.uptime_s))),
        ("recorded", f"{esc(utc(meta.first_t))} → {esc(utc(meta.last_t))} "
                     f"({esc(seconds(meta.last_t - meta.first_t))})"),
        ("polls", f"{meta.polls} ({meta.snapshots} distinct metric snapshots)"),
        ("source", f"<code>{esc(meta.source)}</code>"),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    return (
        '<header class="top"><div><h1>'
        f"{esc(d.job_name or d.job_id)}</h1>"
        '<span class="muted">flowscope backpressure report</span></div>'
        f'<span class="badge {esc(d.verdict.value)}" id="verdict">{esc(d.verdict.value)}</span>'
        f'</header><p class="summary">{summary}</p><dl class="facts">{dl}</dl>'
    )


def _graph(graph: JobGraph, d: Diagnosis) -> str:
    key = "".join(
        f'<span><i style="background:{c}"></i>{label}</span>'
        for c, label in ((IDLE_FILL, "idle"), (BUSY_FILL, "busy"),
                         (BACKPRESSURED_FILL, "backpressured"))
    )
    return (
        '<section id="graph"><h2>Job graph</h2>'
        f'<div class="scroll">{job_graph_svg(graph, d)}</div>'
        f'<div class="colour-key">{key}<span>mixed in between, as in Flink\'s web UI; '
        f"values are the max over each task's subtasks over the window; edges show the ship "
        f"strategy</span></div></section>"
    )


def _value(e: Evidence) -> str:
    if isinstance(e.value, str):
        return esc(e.value)
    v = e.value
    return esc(f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}")


def _finding(f: Finding) -> str:
    cls = "finding bottleneck" if f.is_bottleneck else "finding"
    where = esc(f.vertex_name) if f.vertex_name else "job"
    parts = [f'<div class="{cls}" data-cause="{esc(f.cause)}">',
             f'<div><span class="cause">{esc(f.cause)}</span> · <b>{where}</b>'
             f"{' · bottleneck' if f.is_bottleneck else ''}</div>",
             f"<div>{esc(words.summary(f))}</div>"]
    if f.subtasks:
        parts.append(f'<div class="muted">subtasks {esc(", ".join(map(str, f.subtasks)))}</div>')
    if f.taskmanagers:
        parts.append(f'<div class="muted">TaskManagers {esc(", ".join(f.taskmanagers))}</div>')
    if f.actions:
        items = []
        for a in f.actions:
            extra = "".join(f"<br><code>{esc(k)}: {esc(v)}</code>" for k, v in a.config.items())
            extra += "".join(f"<br><code>{esc(k)} → parallelism {p}</code>"
                             for k, p in a.parallelism.items())
            items.append(f"<li>{esc(words.action(a, f))}{extra}</li>")
        parts.append(f"<b>What to do</b><ul>{''.join(items)}</ul>")
    if f.evidence:
        rows = "".join(
            f'<tr><td class="wrap">{esc(e.subject)}</td><td class="l">{esc(e.metric)}</td>'
            f"<td>{_value(e)}</td><td class=\"l\">{esc(e.unit)}</td>"
            f"<td>{esc(seconds(e.window_s))}</td><td class=\"wrap\">{esc(words.why(e))}</td></tr>"
            for e in f.evidence
        )
        parts.append(
            f"<details{' open' if f.is_bottleneck else ''}><summary>evidence "
            f"({len(f.evidence)})</summary><table><tr><th class=\"l\">subject</th>"
            '<th class="l">metric</th><th>value</th><th class="l">unit</th><th>window</th>'
            f'<th class="l">why it matters</th></tr>{rows}</table></details>'
        )
    parts.append("</div>")
    return "".join(parts)


def _findings(d: Diagnosis) -> str:
    body = "".join(_finding(f) for f in d.findings) or '<p class="muted">No findings.</p>'
    notes = "".join(f"<li>{esc(n)}</li>" for n in words.notes(d.notes))
    if notes:
        body += f'<h3>Notes</h3><ul class="notes">{notes}</ul>'
    return f'<section id="findings"><h2>Findings</h2>{body}</section>'


def _footer(meta: ReportMeta) -> str:
    version = f" {esc(meta.version)}" if meta.version else ""
    return (
        f"<footer>Made by flowscope{version} at {esc(utc(meta.generated_at))}. Ratios are "
        "shares of each subtask's own time (busy + backpressured + idle = 1) from Flink's "
        "accumulated counters between consecutive distinct metric snapshots (the JobManager "
        "refreshes metrics about every 10 s); where counters have not moved, Flink's 60 s "
        "gauges are used (basis column). A task's ratio is the max over its subtasks, as in "
        "Flink's UI; its rate is the sum. Backpressure levels: OK ≤ 10% < LOW ≤ 50% < HIGH."
        "</footer>"
    )


def render(
    graph: JobGraph, d: Diagnosis, steps: Sequence[TimelineStep], meta: ReportMeta,
    extra: Sequence[str] = (),
) -> str:
    """The whole report as an HTML document (str); `extra` sections (already HTML) follow
    the findings."""
    title = f"flowscope: {d.job_name or d.job_id} ({d.verdict.value})"
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_css()}</style></head><body><main>",
        _header(d, meta),
        _graph(graph, d),
        _findings(d),
        *extra,
        html_tasks.timelines(d, steps),
        html_tasks.subtask_tables(d),
        _footer(meta),
        "</main></body></html>\n",
    ])
