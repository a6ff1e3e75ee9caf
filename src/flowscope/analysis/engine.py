"""The diagnosis: from a job graph and samples over a window to task states and findings.

Pure: no I/O, no clock, no printing. `diagnose()` is the entry point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from flowscope.analysis import capacity, causes
from flowscope.analysis.findings import (
    LOW_THRESHOLD,
    Cause,
    Diagnosis,
    Evidence,
    Finding,
    Level,
    SubtaskState,
    TaskState,
    Verdict,
    level_of,
)
from flowscope.analysis.window import (
    SubtaskWindow,
    distinct_snapshots,
    subtask_windows,
    taskmanager_rates,
    window_samples,
)
from flowscope.model import JobGraph, Sample

# A task whose busiest subtask is busy at least this share of the time can be a bottleneck.
BUSY_HOT = 0.5
# Younger jobs report start-up artefacts and averages over too little time.
MIN_UPTIME_S = 20.0
MIN_WINDOW_S = 8.0
DEFAULT_WINDOW_S = 60.0


def _max(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return max(vals) if vals else None


def _sum(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return sum(vals) if vals else None


def task_states(graph: JobGraph, windows: dict[str, list[SubtaskWindow]]) -> list[TaskState]:
    """Per task the max over subtasks of busy / backpressured / idle, as Flink's UI shows."""
    out = []
    for v in graph.topological():
        subs = windows.get(v.id, [])
        bp = _max([s.backpressured for s in subs])
        rates = [s.true_rate for s in subs if s.true_rate is not None]
        out.append(
            TaskState(
                vertex_id=v.id,
                name=v.name,
                parallelism=v.parallelism,
                max_parallelism=v.max_parallelism,
                busy=_max([s.busy for s in subs]),
                backpressured=bp,
                idle=_max([s.idle for s in subs]),
                level=level_of(bp),
                records_in_per_s=_sum([s.records_in_per_s for s in subs]),
                records_out_per_s=_sum([s.records_out_per_s for s in subs]),
                true_rate_per_subtask=(sum(rates) / len(rates)) if rates else None,
                subtasks=[
                    SubtaskState(
                        index=s.index, taskmanager=s.taskmanager_id, busy=s.busy,
                        backpressured=s.backpressured, idle=s.idle,
                        records_in_per_s=s.records_in_per_s,
                        records_out_per_s=s.records_out_per_s,
                        in_pool_usage=s.in_pool_usage, out_pool_usage=s.out_pool_usage,
                        in_floating_usage=s.in_floating_usage,
                        in_exclusive_usage=s.in_exclusive_usage, basis=s.basis,
                    )
                    for s in subs
                ],
                upstream=graph.upstream(v.id),
                downstream=graph.downstream(v.id),
                ship_strategies=[e.ship_strategy for e in graph.inputs(v.id)],
            )
        )
    return out


def locate(graph: JobGraph, tasks: dict[str, TaskState]) -> list[str]:
    """The sources of backpressure: busy tasks with a backpressured input whose own output is
    not what holds them back. Several on branches and joins; none when healthy."""
    roots = []
    for v in graph.vertices:
        t = tasks[v.id]
        if t.busy is None or t.busy < BUSY_HOT:
            continue
        pressured_inputs = [
            u for u in graph.upstream(v.id)
            if (tasks[u].backpressured or 0.0) > LOW_THRESHOLD
        ]
        if not pressured_inputs:
            continue
        hottest = max(
            (s for s in t.subtasks if s.busy is not None), key=lambda s: s.busy or 0.0
        )
        if (hottest.backpressured or 0.0) > LOW_THRESHOLD and (hottest.backpressured or 0.0) >= (
            hottest.busy or 0.0
        ):
            continue
        roots.append(v.id)
    # A root that is itself backpressured by another root downstream is only a waypoint.
    final = []
    for r in roots:
        if (tasks[r].backpressured or 0.0) > LOW_THRESHOLD and any(
            d in roots for d in _descendants(graph, r)
        ):
            continue
        final.append(r)
    return final


def _descendants(graph: JobGraph, vid: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.downstream(vid))
    while todo:
        d = todo.pop()
        if d not in seen:
            seen.add(d)
            todo.extend(graph.downstream(d))
    return seen


def diagnose(
    graph: JobGraph,
    samples: Sequence[Sample],
    *,
    window_s: float = DEFAULT_WINDOW_S,
    target_rate: float | None = None,
) -> Diagnosis:
    """Diagnose a job over the last `window_s` seconds of `samples` (oldest first)."""
    if not samples:
        raise ValueError("diagnose() needs at least one sample")
    latest = samples[-1]
    recent = distinct_snapshots(window_samples(list(samples), window_s))
    windows = subtask_windows(recent)
    states = task_states(graph, windows)
    tasks = {t.vertex_id: t for t in states}
    tms = taskmanager_rates(recent)
    notes: list[str] = []
    span = max((w.span_s for ws in windows.values() for w in ws if w.basis == "counters"),
               default=0.0)

    confidence = "high"
    bases = {w.basis for ws in windows.values() for w in ws}
    if latest.job_state != "RUNNING":
        notes.append(f"the job is {latest.job_state}, not RUNNING: nothing to diagnose")
        return Diagnosis(latest.job_id, graph.name, latest.job_state, latest.t, span,
                         latest.uptime_s, Verdict.UNKNOWN, "low", states, [], notes)
    if "startup" in bases or "none" in bases:
        confidence = "low"
        notes.append(
            "some subtasks still report Flink's start-up values (busy 1000 / idle 0 / "
            "backpressured 0): their time metrics are not meaningful yet"
        )
    if latest.uptime_s is not None and latest.uptime_s < MIN_UPTIME_S:
        confidence = "low"
        notes.append(f"the job has run only {latest.uptime_s:.0f} s: too young to judge")
    elif span < MIN_WINDOW_S:
        confidence = "low" if span == 0 else "medium"
        notes.append(
            f"counters cover only {span:.0f} s (the JobManager refreshes metrics about every "
            "10 s); ratios come from Flink's 60 s gauges" if span == 0 else
            f"counters cover only {span:.0f} s so far"
        )
    if "gauges" in bases and "counters" in bases:
        notes.append("some subtasks lack counter deltas; their ratios are Flink's 60 s averages")
    restarts = {s.attempt for subs in latest.subtasks.values() for s in subs}
    if max(restarts, default=0) > 0:
        notes.append(f"the job has restarted (attempt {max(restarts)}): only the current "
                     "attempt's samples are used")

    findings: list[Finding] = []
    roots = locate(graph, tasks)
    for r in roots:
        findings.append(causes.classify(graph, tasks, tasks[r], windows[r], tms, span))
    findings.extend(causes.non_root_findings(graph, tasks, windows, roots, span))
    capacity.recommend(graph, tasks, windows, findings, target_rate, span)

    backpressured = any(t.level in (Level.LOW, Level.HIGH) for t in states)
    if confidence == "low" and not roots:
        verdict = Verdict.UNKNOWN
    elif roots or any(f.is_bottleneck for f in findings):
        verdict = Verdict.BACKPRESSURED
    elif backpressured:
        verdict = Verdict.BACKPRESSURED
        findings.append(
            Finding(
                Cause.TRANSIENT, None, None,
                "backpressure is present but no busy task explains it: it may be transient "
                "or moving; watch longer",
                is_bottleneck=False,
                evidence=[
                    Evidence(t.name, "backpressured_ratio", round(t.backpressured or 0, 3),
                             "ratio", span, "backpressured without a busy task downstream")
                    for t in states if t.level in (Level.LOW, Level.HIGH)
                ],
            )
        )
        confidence = "medium" if confidence == "high" else confidence
    else:
        verdict = Verdict.HEALTHY
    return Diagnosis(
        job_id=latest.job_id, job_name=graph.name, job_state=latest.job_state, t=latest.t,
        window_s=span, uptime_s=latest.uptime_s, verdict=verdict, confidence=confidence,
        tasks=states, findings=findings, notes=notes,
    )
