"""Profiles a live job: a quick diagnosis to find the vertex, then the on-demand endpoints
(flowscope.flink.ondemand), analysed by flowscope.analysis (flame, threads, taskmanagers,
latency, checkpoints, profile).

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

from flowscope.analysis.checkpoints import checkpoint_evidence
from flowscope.analysis.findings import Diagnosis
from flowscope.analysis.flame import summarise
from flowscope.analysis.latency import analyse_latency
from flowscope.analysis.profile import (
    ProfileReport,
    ProfileStats,
    ProfileTarget,
    TargetNotFound,
    choose_target,
    conclude,
    flame_profile,
    recent_backpressure,
)
from flowscope.analysis.taskmanagers import correlate
from flowscope.analysis.threads import NoDumpFrom, StoppedAtDeadline, analyse_thread_dumps
from flowscope.errors import FlowscopeError
from flowscope.flink import ondemand
from flowscope.flink.rest import FlinkRestSource
from flowscope.model import JobGraph, Sample

PARTS = ("flame", "threads", "checkpoints", "latency", "taskmanagers")


@dataclass
class ProfileOptions:
    """Bounds of a profile run (seconds, counts)."""

    flame_timeout_s: float = 20.0
    thread_samples: int = 20
    thread_delay_s: float = 0.1
    thread_max_s: float = 20.0
    parts: Sequence[str] = PARTS


def _float(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


def _target(graph: JobGraph, diagnosis: Diagnosis, vertex: str | None) -> ProfileTarget:
    try:
        return choose_target(graph, diagnosis, vertex)
    except TargetNotFound as exc:
        names = ", ".join(repr(n) for n in exc.candidates)
        raise FlowscopeError(f"--vertex {exc.vertex!r} matches {len(exc.matches) or 'no'} "
                             f"vertices; choose from {names}") from None


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
    target = _target(graph, diagnosis, vertex)
    report = ProfileReport(
        job_id=graph.job_id, job_name=graph.name, t=start, verdict=str(diagnosis.verdict),
        bottlenecks=[f"{f.vertex_name} ({f.cause})" for f in diagnosis.bottlenecks],
        target=target, stats=stats,
    )
    latest = samples[-1] if samples else None

    if "flame" in opts.parts:
        try:
            fg = ondemand.fetch_flamegraphs(source, graph.job_id, target.vertex_id,
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
                dumps = ondemand.sample_thread_dumps(
                    source, tms, samples=opts.thread_samples, delay_s=opts.thread_delay_s,
                    max_duration_s=opts.thread_max_s, clock=clock, sleep=sleep)
                rounds = [[th for _, threads in r for th in threads] for r in dumps.rounds]
                metric, metric_s = recent_backpressure(samples, diagnosis)
                report.threads = analyse_thread_dumps(
                    graph, rounds, round_times=dumps.times, metric_backpressured=metric,
                    placement=placement, dumps=sum(len(r) for r in dumps.rounds),
                    metric_window_s=metric_s)
                if dumps.stopped_by == "deadline":
                    report.threads.notes.append(
                        StoppedAtDeadline(len(dumps.rounds), opts.thread_max_s))
                if dumps.failed:
                    report.threads.notes.append(NoDumpFrom(tuple(dumps.failed)))
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
            config = ondemand.fetch_cluster_config(source)
        except FlowscopeError as exc:
            report.skipped["config"] = str(exc)
        latency = latest.latency if latest else {}
        if _float(config.get("metrics.latency.interval")) > 0:
            # Histograms appear as markers arrive, after the diagnosis listed metric names.
            latency = source.fresh_latency(graph.job_id) or latency
        report.latency = analyse_latency(graph, latency, config)

    if "checkpoints" in opts.parts:
        try:
            cps = ondemand.fetch_checkpoints(source, graph.job_id,
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
    from flowscope.sampling import LiveSession, sample_until_confident

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
    from flowscope.sampling import load_recording

    graph, samples = load_recording(path, job)
    d = diagnose(graph, samples, window_s=window_s)
    target = _target(graph, d, vertex)
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
