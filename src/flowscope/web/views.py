"""The JSON the dashboard's page reads: job summaries, a job's graph and diagnosis at a moment,
and per-task timelines. Plain dicts of finite numbers, strings and lists (NaN becomes null).

The page only draws what it gets: colours (Flink's scheme, from `render.colours`), edge rates
and the bottleneck marks are decided here or in the analysis, never in JavaScript.
"""

from __future__ import annotations

import math
from typing import Any

from flowscope.analysis.findings import Diagnosis, TaskState, Verdict
from flowscope.analysis.fleet import SEVERITY, row_of
from flowscope.analysis.timeline import TASK_FIELDS
from flowscope.analysis.window import distinct_snapshots
from flowscope.model import JobGraph
from flowscope.render import jsonout
from flowscope.render.colours import BACKPRESSURED_LINE, BUSY_LINE, IDLE_LINE, flink_colours
from flowscope.render.fleet import action_of
from flowscope.web.hub import Hub, JobFeed


def _num(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def job_summary(feed: JobFeed) -> dict[str, Any]:
    """What the job list shows: name, where it comes from, verdict and bottlenecks."""
    _, samples, version = feed.snapshot()
    d = feed.latest
    return {
        "key": feed.key,
        "source": {"id": feed.source.id, "kind": feed.source.kind, "label": feed.source.label},
        "job_id": feed.job_id,
        "name": feed.name,
        "polling": feed.polling,
        "error": feed.error,
        "version": version,
        "polls": len(samples),
        "failed_polls": feed.polls_failed,  # live polls that failed (`error`: the last one's)
        "first_t": samples[0].t if samples else None,
        "last_t": samples[-1].t if samples else None,
        "job_state": samples[-1].job_state if samples else None,
        "verdict": str(d.verdict) if d else None,
        "confidence": d.confidence if d else None,
        "bottlenecks": [
            {"vertex_id": f.vertex_id, "vertex_name": f.vertex_name, "cause": str(f.cause)}
            for f in (d.bottlenecks if d else [])
        ],
        **_fleet_fields(feed.key, d),
    }


def _fleet_fields(key: str, d: Diagnosis | None) -> dict[str, Any]:
    """What the fleet page adds to a job's row: its severity rank, the bottleneck's busy
    ratio, the job's highest backpressured ratio, the action with its number, and each task
    coloured as the job graph colours it (topological order)."""
    if d is None:
        return {"severity": SEVERITY[Verdict.UNKNOWN], "busy": None, "backpressured": None,
                "action": None, "subtasks": [], "tasks": []}
    row = row_of(d, key)
    tasks = []
    for t in d.tasks:
        fill, stroke, _ = flink_colours(t.busy, t.backpressured)
        tasks.append({"name": t.name, "busy": _num(t.busy), "backpressured": _num(
            t.backpressured), "idle": _num(t.idle), "fill": fill, "stroke": stroke})
    return {"severity": SEVERITY.get(d.verdict, 9), "busy": _num(row.busy),
            "backpressured": _num(row.backpressured), "action": action_of(row) or None,
            "subtasks": row.subtasks, "tasks": tasks}


def hub_summary(hub: Hub) -> dict[str, Any]:
    """Every source (with its error, if any) and every job: the sidebar, and each SSE event."""
    return {
        "sources": [
            {"id": s.id, "kind": s.kind, "label": s.label,
             "error": hub.pollers[s.id].error if s.id in hub.pollers else None}
            for s in hub.sources
        ],
        "jobs": [job_summary(f) for f in hub.feeds()],
    }


def _edge_rate(tasks: dict[str, TaskState], graph: JobGraph, source: str,
               target: str) -> float | None:
    """Records/s over an edge: the sender's output when it has one edge out, else the
    receiver's input when it has one edge in (otherwise the split is not measured)."""
    if len(graph.outputs(source)) == 1 and source in tasks:
        return tasks[source].records_out_per_s
    if len(graph.inputs(target)) == 1 and target in tasks:
        return tasks[target].records_in_per_s
    return None


def graph_view(graph: JobGraph, d: Diagnosis | None) -> dict[str, Any]:
    """Vertices with Flink's colours and their bottleneck cause; edges with ship strategy and
    records/s."""
    tasks = {t.vertex_id: t for t in d.tasks} if d else {}
    causes = {f.vertex_id: str(f.cause) for f in (d.bottlenecks if d else [])}
    vertices = []
    for v in graph.topological():
        t = tasks.get(v.id)
        busy, bp = (t.busy, t.backpressured) if t else (None, None)
        fill, stroke, text = flink_colours(busy, bp)
        vertices.append({
            "id": v.id, "name": v.name, "parallelism": v.parallelism,
            "busy": _num(busy), "backpressured": _num(bp), "idle": _num(t.idle if t else None),
            "level": str(t.level) if t else "UNKNOWN",
            "records_in_per_s": _num(t.records_in_per_s if t else None, 2),
            "records_out_per_s": _num(t.records_out_per_s if t else None, 2),
            "fill": fill, "stroke": stroke, "text": text,
            "bottleneck": causes.get(v.id),
        })
    edges = [
        {"source": e.source, "target": e.target, "ship_strategy": e.ship_strategy,
         "records_per_s": _num(_edge_rate(tasks, graph, e.source, e.target), 2)}
        for e in graph.edges
    ]
    return {"vertices": vertices, "edges": edges}


def job_view(feed: JobFeed, at: float | None) -> dict[str, Any] | None:
    """A job at epoch second `at` (None: now): summary, the moments one can scrub to (polls
    that saw a new metric snapshot), the coloured graph and the full diagnosis."""
    graph, samples, _ = feed.snapshot()
    if graph is None:
        return None
    d = feed.diagnosis_at(at)
    return {
        **job_summary(feed),
        "at": at,
        "times": [s.t for s in distinct_snapshots(samples)],
        "graph": graph_view(graph, d),
        "diagnosis": jsonout.to_dict(d) if d else None,
    }


def timeline_view(feed: JobFeed) -> dict[str, Any]:
    """Per task, per interval between metric snapshots: busy / backpressured / idle (0..1,
    max over subtasks) and records in/out per second. `t` holds each interval's end (epoch s),
    the arrays hold null where a value was not measurable."""
    steps = feed.timeline()
    graph, _, _ = feed.snapshot()
    tasks: dict[str, dict[str, list[float | None]]] = {}
    for v in graph.topological() if graph else []:
        series: dict[str, list[float | None]] = {}
        for name in TASK_FIELDS:
            series[name] = [
                _num(getattr(step.tasks[v.id], name) if v.id in step.tasks else None)
                for step in steps
            ]
        tasks[v.id] = series
    return {
        "key": feed.key,
        "t": [step.end for step in steps],
        "start": [step.start for step in steps],
        "tasks": tasks,
        "colours": {"busy": BUSY_LINE, "backpressured": BACKPRESSURED_LINE, "idle": IDLE_LINE},
        "marks": marks_view(feed),
    }


def marks_view(feed: JobFeed) -> list[dict[str, Any]]:
    """The changes journaled for the job: when (epoch s), which step, the parallelism after
    it and a verification's verdict."""
    return [{"t": m.t, "step": m.step.value, "parallelism": m.parallelism, "effect": m.effect}
            for m in feed.marks]
