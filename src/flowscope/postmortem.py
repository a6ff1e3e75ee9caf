"""Diagnose a past window of a job: samples from a Prometheus-compatible store, the job graph
from the live REST API, Flink's HistoryServer or a recording (Prometheus has no edges).

    d, history = flowscope.postmortem.diagnose_history(
        "http://prometheus:9090", "my-job", start, end, graph_url="http://historyserver:8082")
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Diagnosis, Note, NoteKind
from flowscope.errors import FlinkApiError, FlinkUnreachable, FlowscopeError, JobNotFound
from flowscope.flink import historyserver
from flowscope.flink.prometheus import History, PrometheusSource
from flowscope.flink.promwindow import fit_to_graph
from flowscope.model import JobGraph, Sample

# A window that ends this close to now is the job's present: stack samples read now fit it.
RECENT_S = 120.0
_RELATIVE = re.compile(r"^-\s*((?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+)$")


def parse_time(text: str, now: float | None = None) -> float:
    """RFC 3339 (`2026-11-30T02:10:00Z`, offsets too), `now`, relative (`-2h`, `-90s`,
    `-1h30m`) or epoch seconds -> epoch seconds. A time without an offset is UTC."""
    from flowscope.flink.prometheus import parse_duration

    now = time.time() if now is None else now
    text = text.strip()
    if text == "now":
        return now
    rel = _RELATIVE.match(text)
    if rel:
        secs = parse_duration(rel.group(1))
        if secs is not None:
            return now - secs
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FlowscopeError(f"{text!r} is not a time: give RFC 3339 "
                             "(2026-11-30T02:10:00Z), a relative time (-2h) or `now`") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def graph_of(job_id: str, *, url: str | None = None, recording: str | Path | None = None,
             headers: Mapping[str, str] | None = None) -> tuple[JobGraph, str]:
    """The job graph and where it came from: a recording holding the job, or a REST URL (a
    JobManager that still knows the job, or a HistoryServer that archived it)."""
    if recording is not None:
        from flowscope.sampling import load_recording

        try:
            graph, _ = load_recording(recording, job_id)
        except FlowscopeError as exc:
            raise FlowscopeError(f"no graph of job {job_id} in {recording}: {exc}") from None
        return graph, f"graph from the recording {recording}"
    if url is None:
        raise FlowscopeError("Prometheus has no job graph: give --url (the JobManager, or a "
                             "HistoryServer for ended jobs) or --graph-from RECORDING")
    from flowscope.flink.rest import FlinkRestSource

    archive = f"graph from the archive at {url.rstrip('/')} (HistoryServer)"
    if historyserver.is_history_server(url, headers=headers):
        return historyserver.job_graph(url, job_id, headers=headers), archive
    try:
        with FlinkRestSource(url, headers=headers) as src:
            return src.graph(job_id), f"graph from the JobManager at {src.url}"
    except (JobNotFound, FlinkApiError):
        pass  # ended, or a HistoryServer (it serves the job, not its metric listings)
    except FlinkUnreachable:
        raise
    return historyserver.job_graph(url, job_id, headers=headers), archive


@dataclass
class PastWindow:
    """A job's samples over a past window, fitted to its graph: the newest attempt's samples
    (`samples`), the whole `history`, and sentences on where each part came from."""

    graph: JobGraph
    samples: list[Sample]
    history: History
    notes: list[str]
    graph_said: str
    prometheus_url: str


def read_past(prometheus_url: str, job: str, start: float, end: float, *,
              graph_url: str | None = None, graph_from: str | Path | None = None,
              headers: Mapping[str, str] | None = None,
              graph_headers: Mapping[str, str] | None = None,
              step_s: float | None = None) -> PastWindow:
    """The samples of `job` (id or name) over [start, end] (epoch seconds) from Prometheus,
    with its graph from `graph_url` or the recording `graph_from`."""
    if end <= start:
        raise FlowscopeError("the window ends before it starts")
    with PrometheusSource(prometheus_url, headers=headers) as src:
        chosen = src.select_job(job, start, end)
        history = src.history(chosen, start, end, step_s=step_s)
    graph, said = graph_of(chosen.id, url=graph_url, recording=graph_from,
                           headers=graph_headers if graph_headers is not None else headers)
    try:
        fitted = fit_to_graph(history, graph)
    except ValueError as exc:
        raise FlowscopeError(f"{said}: {exc}") from None
    notes = [f"from Prometheus at {src.url}, {len(history.samples)} steps of "
             f"{history.step_s:g} s, {history.queries} queries; {said}",
             *history.notes, *fitted]
    return PastWindow(graph, history.attempts()[-1], history, notes, said, src.url)


def diagnose_history(prometheus_url: str, job: str, start: float, end: float, *,
                     graph_url: str | None = None, graph_from: str | Path | None = None,
                     headers: Mapping[str, str] | None = None,
                     graph_headers: Mapping[str, str] | None = None,
                     window_s: float | None = None, step_s: float | None = None,
                     target_rate: float | None = None) -> tuple[Diagnosis, History]:
    """The diagnosis of `job` (id or name) over [start, end] (epoch seconds): judged over the
    last `window_s` seconds of the newest attempt (default: all of it)."""
    past = read_past(prometheus_url, job, start, end, graph_url=graph_url,
                     graph_from=graph_from, headers=headers, graph_headers=graph_headers,
                     step_s=step_s)
    graph, attempt, history = past.graph, past.samples, past.history
    span = attempt[-1].t - attempt[0].t

    def judge() -> Diagnosis:
        return diagnose(graph, attempt, window_s=window_s or span + history.step_s,
                        target_rate=target_rate, history_s=max(span, 1.0) + history.step_s)

    d = judge()
    stacks = None
    if graph_url is not None and graph_from is None and past.graph_said.startswith(
            "graph from the Job"):
        stacks = _live_stacks(graph_url, history.job.id, d, attempt[-1], end,
                              graph_headers if graph_headers is not None else headers)
        if stacks:
            d = judge()
    d.notes[:0] = [Note(NoteKind.SAID, text=n)
                   for n in [*past.notes, *([stacks] if stacks else [])]]
    return d, history


def _live_stacks(url: str, job_id: str, d: Diagnosis, last: Sample, end: float,
                 headers: Mapping[str, str] | None) -> str | None:
    """Prometheus holds no stack samples. When the window ends now (within RECENT_S) and the
    job still runs, read the flame graphs of each busy bottleneck from the JobManager, as a
    live diagnosis does, into the newest sample; say so (None when none were read)."""
    from flowscope.flink.ondemand import fetch_flamegraphs
    from flowscope.flink.rest import FlinkRestSource
    from flowscope.sampling import stacks_wanted

    wanted = stacks_wanted(d).flamegraph_vertices
    if not wanted or time.time() - end > RECENT_S:
        return None
    read = []
    try:
        with FlinkRestSource(url, headers=headers) as src:
            for vid in wanted:
                try:
                    fg = fetch_flamegraphs(src, job_id, vid)
                except FlowscopeError:
                    continue
                last.flamegraphs[vid] = fg.views
                read.append(vid)
    except FlowscopeError:
        return None
    if not read:
        return None
    return (f"on-/off-CPU from the JobManager's flame graphs of {len(read)} vertex(es), read "
            "now (the job still runs; Prometheus holds no stack samples)")
