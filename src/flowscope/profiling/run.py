"""Profiles a live job: a quick diagnosis to find the vertex, then the on-demand endpoints.

    report = profile_live("http://localhost:8081", job="flowscope-chained")

Order and bounds (defaults): diagnose until confident (<= 30 s of 1 s polls), the flame graph
of the target vertex (<= 20 s), thread dumps of the job's TaskManagers (20 rounds 0.1 s apart,
<= 20 s), checkpoint details (<= 2 checkpoints), the cluster config (latency settings, buffer
timeout). Every part that fails is named in `report.skipped`; the others still run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from flowscope.analysis.findings import Diagnosis
from flowscope.analysis.latency import analyse_latency
from flowscope.analysis.window import distinct_snapshots, subtask_windows
from flowscope.errors import FlowscopeError
from flowscope.model import JobGraph, Sample
from flowscope.profiling import collect
from flowscope.profiling.checkpoints import checkpoint_evidence
from flowscope.profiling.flamegraph import summarise
from flowscope.profiling.report import (
    ProfileReport,
    ProfileStats,
    ProfileTarget,
    conclude,
    flame_profile,
)
from flowscope.profiling.taskmanagers import correlate
from flowscope.profiling.threaddump import analyse_thread_dumps, parse_thread_dump
from flowscope.sources.rest import FlinkRestSource

PARTS = ("flame", "threads", "checkpoints", "latency", "taskmanagers")


@dataclass
class ProfileOptions:
    """Bounds of a profile run (seconds, counts)."""

    flame_timeout_s: float = 20.0
    thread_samples: int = 20
    thread_delay_s: float = 0.1
    thread_max_s: float = 20.0
    parts: Sequence[str] = PARTS


def choose_target(graph: JobGraph, diagnosis: Diagnosis, vertex: str | None) -> ProfileTarget:
    """The vertex to profile: `vertex` (id, exact or unique partial name), else the first
    located bottleneck, else the busiest task."""
    if vertex:
        for v in graph.vertices:
            if vertex in (v.id, v.name):
                return ProfileTarget(v.id, v.name, "--vertex", _cause_of(diagnosis, v.id))
        partial = [v for v in graph.vertices if vertex.lower() in v.name.lower()]
        if len(partial) == 1:
            v = partial[0]
            return ProfileTarget(v.id, v.name, "--vertex", _cause_of(diagnosis, v.id))
        names = ", ".join(repr(v.name) for v in (partial or graph.vertices))
        raise FlowscopeError(
            f"--vertex {vertex!r} matches {len(partial) or 'no'} vertices; choose from {names}"
        )
    for f in diagnosis.bottlenecks:
        if f.vertex_id:
            return ProfileTarget(f.vertex_id, f.vertex_name or f.vertex_id, "bottleneck",
                                 str(f.cause))
    busiest = max(diagnosis.tasks, key=lambda t: t.busy or 0.0, default=None)
    if busiest is None:
        v = graph.vertices[0]
        return ProfileTarget(v.id, v.name, "first vertex")
    return ProfileTarget(busiest.vertex_id, busiest.name, "busiest task")


RECENT_S = 20.0  # time metrics compared with thread dumps: the last ~two metric refreshes


def recent_backpressure(
    samples: Sequence[Sample], diagnosis: Diagnosis
) -> tuple[dict[tuple[str, int], float | None], float]:
    """Per subtask the backpressured ratio (0..1) from counters over the newest RECENT_S
    seconds of distinct metric snapshots: the time metrics closest to the thread dumps that
    follow. A subtask without counter deltas there keeps the diagnosis's value. Returns the
    ratios and the span (s) they cover."""
    distinct = distinct_snapshots(list(samples))
    recent = [s for s in distinct if distinct and s.t >= distinct[-1].t - RECENT_S]
    out: dict[tuple[str, int], float | None] = {
        (t.vertex_id, s.index): s.backpressured for t in diagnosis.tasks for s in t.subtasks}
    spans = []
    if len(recent) >= 2:
        for vid, ws in subtask_windows(recent).items():
            for w in ws:
                if w.basis == "counters":
                    out[(vid, w.index)] = w.backpressured
                    spans.append(w.span_s)
    return out, (max(spans) if spans else diagnosis.window_s)


def _float(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


def _cause_of(diagnosis: Diagnosis, vertex_id: str) -> str | None:
    return next((str(f.cause) for f in diagnosis.bottlenecks if f.vertex_id == vertex_id), None)


def profile_job(
    source: FlinkRestSource,
    graph: JobGraph,
    samples: Sequence[Sample],
    diagnosis: Diagnosis,
    *,
    vertex: str | None = None,
    options: ProfileOptions | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    stats: ProfileStats | None = None,
) -> ProfileReport:
    """Profile a job whose samples and diagnosis are already at hand (see profile_live)."""
    opts = options or ProfileOptions()
    stats = stats or ProfileStats()
    start = clock()
    requests_before = source.requests
    target = choose_target(graph, diagnosis, vertex)
    report = ProfileReport(
        job_id=graph.job_id, job_name=graph.name, t=start, verdict=str(diagnosis.verdict),
        bottlenecks=[f"{f.vertex_name} ({f.cause})" for f in diagnosis.bottlenecks],
        target=target, stats=stats,
    )
    latest = samples[-1] if samples else None

    if "flame" in opts.parts:
        try:
            fg = collect.fetch_flamegraphs(source, graph.job_id, target.vertex_id,
                                           timeout_s=opts.flame_timeout_s, clock=clock,
                                           sleep=sleep)
            v = graph.vertex(target.vertex_id)
            on = summarise(fg.views["on_cpu"], v.name, v.id, v.operators)
            off = summarise(fg.views["off_cpu"], v.name, v.id, v.operators)
            report.flame = flame_profile(on, off, fg.waited_s, fg.stale)
            stats.flame_requests, stats.flame_wait_s = fg.requests, fg.waited_s
        except FlowscopeError as exc:
            report.skipped["flame"] = str(exc)

    if "threads" in opts.parts and latest is not None:
        placement = {(vid, s.index): s.taskmanager_id
                     for vid, subs in latest.subtasks.items() for s in subs}
        tms = sorted({tm for tm in placement.values() if tm})
        if not tms:
            report.skipped["threads"] = "no subtask of the job is placed on a TaskManager"
        else:
            try:
                dumps = collect.sample_thread_dumps(
                    source, tms, samples=opts.thread_samples, delay_s=opts.thread_delay_s,
                    max_duration_s=opts.thread_max_s, clock=clock, sleep=sleep)
                rounds = [[th for tm, body in r for th in parse_thread_dump(body, tm)]
                          for r in dumps.rounds]
                metric, metric_s = recent_backpressure(samples, diagnosis)
                report.threads = analyse_thread_dumps(
                    graph, rounds, round_times=dumps.times, metric_backpressured=metric,
                    placement=placement, dumps=sum(len(r) for r in dumps.rounds),
                    metric_window_s=metric_s)
                if dumps.stopped_by == "deadline":
                    report.threads.notes.append(
                        f"stopped after {len(dumps.rounds)} rounds at the {opts.thread_max_s:g} s "
                        "limit")
                if dumps.failed:
                    report.threads.notes.append("no thread dump from: " + ", ".join(dumps.failed))
                stats.thread_dump_rounds = len(dumps.rounds)
                stats.thread_dumps = sum(len(r) for r in dumps.rounds)
                stats.thread_dump_s = dumps.duration_s
                stats.thread_samples = sum(s.samples for s in report.threads.subtasks)
            except FlowscopeError as exc:
                report.skipped["threads"] = str(exc)

    if "taskmanagers" in opts.parts:
        report.taskmanagers = correlate(graph, samples, diagnosis.tasks)

    config: dict[str, str] = {}
    if "latency" in opts.parts:
        try:
            config = collect.fetch_cluster_config(source)
        except FlowscopeError as exc:
            report.skipped["config"] = str(exc)
        latency = latest.latency if latest else {}
        if _float(config.get("metrics.latency.interval")) > 0:
            # Histograms appear as markers arrive, after the diagnosis listed metric names.
            latency = collect.fresh_latency(source, graph.job_id) or latency
        report.latency = analyse_latency(graph, latency, config)

    if "checkpoints" in opts.parts:
        try:
            cps = collect.fetch_checkpoints(source, graph.job_id,
                                            [v.id for v in graph.topological()])
            report.checkpoints = checkpoint_evidence(graph, cps.details, cps.subtasks)
            if not cps.details:
                report.skipped["checkpoints"] = "the job has no checkpoint yet (or none enabled)"
        except FlowscopeError as exc:
            report.skipped["checkpoints"] = str(exc)

    report.conclusions = conclude(report)
    report.t = clock()
    stats.requests += source.requests - requests_before
    stats.wall_s += report.t - start
    return report


def profile_live(
    url: str,
    job: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    vertex: str | None = None,
    diagnose_s: float = 30.0,
    interval_s: float = 1.0,
    options: ProfileOptions | None = None,
    transport: httpx.BaseTransport | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> ProfileReport:
    """Diagnose a running job until confident (at most `diagnose_s` seconds), then profile the
    bottleneck (or `vertex`)."""
    from flowscope.api import sample_until_confident
    from flowscope.session import LiveSession

    say = on_stage or (lambda _m: None)
    start = time.time()
    session = LiveSession(url, job, headers=headers, transport=transport)
    try:
        say(f"diagnosing {session.job.name} ...")
        graph, samples, d = sample_until_confident(
            session, interval_s=interval_s, max_duration_s=diagnose_s)
        stats = ProfileStats(requests=session.source.requests, diagnose_polls=len(samples),
                             diagnose_requests=session.source.requests,
                             diagnose_s=time.time() - start)
        say("profiling ...")
        report = profile_job(session.source, graph, samples, d, vertex=vertex,
                             options=options, stats=stats)
        stats.wall_s = time.time() - start
        return report
    finally:
        session.close()


def profile_recording(
    path: str, job: str | None = None, *, vertex: str | None = None, window_s: float = 60.0
) -> ProfileReport:
    """The parts of a profile a recording can give: TaskManager correlation and latency
    markers. Flame graphs, thread dumps and checkpoint details need a live cluster."""
    from flowscope.analysis.engine import diagnose
    from flowscope.api import load_recording

    graph, samples = load_recording(path, job)
    d = diagnose(graph, samples, window_s=window_s)
    target = choose_target(graph, d, vertex)
    report = ProfileReport(
        job_id=graph.job_id, job_name=graph.name, t=samples[-1].t, verdict=str(d.verdict),
        bottlenecks=[f"{f.vertex_name} ({f.cause})" for f in d.bottlenecks], target=target,
        taskmanagers=correlate(graph, samples, d.tasks),
        latency=analyse_latency(graph, samples[-1].latency),
        stats=ProfileStats(diagnose_polls=len(samples)),
    )
    for part in ("flame", "threads", "checkpoints"):
        report.skipped[part] = "needs a live cluster (--url), not a recording"
    report.conclusions = conclude(report)
    return report
