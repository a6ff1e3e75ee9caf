"""Every running job of one or more Flink clusters, diagnosed in one pass (`flowscope scan`).

Each cluster's job list is read once; each running job is then sampled as `diagnose` samples it
(until its verdict holds over consecutive metric snapshots, or `duration_s`), with every
vertex's gauges read aggregated over its subtasks: the requests of a poll grow with the job's
vertices, never with its subtasks. Jobs are sampled concurrently, at most `concurrency` at a
time (each with a few requests in flight). A cluster or a job that cannot be read becomes a
`ScanError` beside the rows; the others go on.

    rows, errors = flowscope.scan.scan_rest(["http://jm-a:8081", "http://jm-b:8081"])
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from flowscope.analysis.engine import DEFAULT_HISTORY_S
from flowscope.analysis.findings import Diagnosis, Fact, Note, NoteKind, Verdict
from flowscope.analysis.fleet import FleetRow, ScanError, held_for, ordered, row_of
from flowscope.analysis.rules import judge
from flowscope.errors import FlowscopeError
from flowscope.flink.answers import JobSummary
from flowscope.flink.fleet import FleetReading, job_states, read_fleet
from flowscope.flink.rest import FlinkRestSource
from flowscope.model import JobGraph


@dataclass
class FleetScan:
    """What a fleet scan of a Prometheus store found at one time."""

    diagnoses: list[Diagnosis]  # one per job seen in the window
    since_s: dict[str, float | None]  # job_id -> seconds the current verdict has held
    queries: int  # HTTP requests sent
    bytes_in: int  # response bytes received
    notes: list[str] = field(default_factory=list)


def scan_prometheus(url: str, *, at: float, window_s: float = 120.0,
                    lookback_s: float = 3600.0, headers: Mapping[str, str] | None = None,
                    graphs: Mapping[str, JobGraph] | None = None,
                    transport: httpx.BaseTransport | None = None,
                    progress: Callable[[str], None] | None = None,
                    jobmanagers: Sequence[str] = ()) -> FleetScan:
    """Diagnose every job with task series in the `window_s` seconds before `at` (epoch s),
    from the evidence one fleet read gives (flink.fleet.read_fleet) judged by the rules
    `diagnose` uses, and how long each job's state has held within `lookback_s` seconds.
    `graphs` (job_id -> JobGraph) lets the jobs it holds be located along their edges;
    `jobmanagers` (REST URLs) look closer at the backpressured or limited jobs they still run
    (`closer_look`)."""
    reading = read_fleet(url, at=at, window_s=window_s, lookback_s=lookback_s,
                         history_s=DEFAULT_HISTORY_S, headers=headers, graphs=graphs,
                         transport=transport, progress=progress)
    diagnoses = [judge(ev) for ev in reading.jobs]
    if jobmanagers:
        diagnoses = closer_look(reading, diagnoses, jobmanagers, headers=headers,
                                progress=progress)
    states = job_states(reading)
    since = {d.job_id: held_for(states.get(d.job_id, []), d.verdict, at, reading.step_s)
             for d in diagnoses}
    notes = list(reading.notes)
    whole = sum(1 for v in since.values() if v is not None and v >= lookback_s - reading.step_s)
    if whole:
        notes.append(f"{whole} jobs held their state through the whole lookback: their time "
                     f"is at least {lookback_s:g} s")
    return FleetScan(diagnoses, since, reading.queries, reading.bytes_in, notes)


# Jobs whose JobManager is asked for their graph and flame graphs at once.
LOOKS_AT_ONCE = 4


def closer_look(reading: FleetReading, diagnoses: list[Diagnosis], urls: Sequence[str], *,
                headers: Mapping[str, str] | None = None,
                progress: Callable[[str], None] | None = None) -> list[Diagnosis]:
    """The backpressured or limited jobs that a JobManager at `urls` still runs, judged
    again with what Prometheus does not hold: the job graph's edges, and the flame graphs of
    each bottleneck whose work (on- or off-CPU) the store could not tell, or whose frames may
    overrule it (a slow subtask whose time goes to its state backend). A job that cannot be
    read keeps its first judgement."""
    from flowscope.sampling import ENDED_STATES

    say = progress or (lambda _: None)
    where: dict[str, str] = {}
    names: dict[str, str] = {}
    for url in urls:
        try:  # every job not over: one that restarts is RESTARTING as often as RUNNING
            with FlinkRestSource(url, headers=headers) as src:
                listed = [j for j in src.jobs() if j.state not in ENDED_STATES]
        except FlowscopeError:
            continue
        where.update((j.id, url) for j in listed)
        names.update((j.id, j.name) for j in listed)
    # The store holds names as the reporter mangles them; the JobManager has the real ones.
    for d in diagnoses:
        d.job_name = names.get(d.job_id, d.job_name)
    wanted = [d for d in diagnoses if d.job_id in where
              and d.verdict in (Verdict.BACKPRESSURED, Verdict.LIMITED)]
    if not wanted:
        return diagnoses
    say(f"asking the JobManagers about {len(wanted)} job(s): graphs and flame graphs")

    def again(d: Diagnosis) -> Diagnosis:
        try:
            return _judged_with_jobmanager(reading, d, where[d.job_id], headers)
        except FlowscopeError:
            return d

    with ThreadPoolExecutor(LOOKS_AT_ONCE, thread_name_prefix="flowscope-look") as pool:
        closer = dict(zip((d.job_id for d in wanted), pool.map(again, wanted), strict=True))
    return [closer.get(d.job_id, d) for d in diagnoses]


def _judged_with_jobmanager(reading: FleetReading, d: Diagnosis, url: str,
                            headers: Mapping[str, str] | None) -> Diagnosis:
    from flowscope.analysis.cpu import from_views
    from flowscope.analysis.jobfacts import frames_of_views
    from flowscope.flink.ondemand import fetch_flamegraphs
    from flowscope.sampling import TOLD_BEFORE_FRAMES, TOLD_BY_WORK

    with FlinkRestSource(url, headers=headers) as src:
        graph = src.graph(d.job_id)
        ev = reading.evidence(d.job_id, graph)
        if ev is None:
            return d
        read = 0
        for f in judge(ev).bottlenecks:
            if f.cause not in (*TOLD_BY_WORK, *TOLD_BEFORE_FRAMES) or f.vertex_id not in ev.tasks:
                continue
            t = ev.tasks[f.vertex_id]
            try:
                views = fetch_flamegraphs(src, d.job_id, f.vertex_id).views
            except FlowscopeError:
                continue
            t.stacks = from_views(views, f.vertex_id, t.name)
            t.frames = frames_of_views(views, graph, f.vertex_id)
            read += 1
    ev.notes.append(Note(NoteKind.FROM_JOBMANAGER, {Fact.SUBJECTS: (src.url,),
                                                    Fact.MORE: read}))
    return judge(ev)


# Jobs sampled at once across all clusters: each holds a few requests in flight, so this bounds
# the load on the JobManagers and on this machine.
DEFAULT_CONCURRENCY = 8


@dataclass(frozen=True)
class ScanProgress:
    """Where a scan is: `done` of `total` jobs finished, the one that just finished."""

    done: int
    total: int
    last: str


def running_jobs(url: str, headers: Mapping[str, str] | None = None) -> list[JobSummary]:
    """The cluster's RUNNING jobs (one request)."""
    with FlinkRestSource(url, headers=headers) as src:
        return [j for j in src.jobs() if j.state == "RUNNING"]


def scan_rest(
    urls: Sequence[str],
    *,
    headers: Mapping[str, str] | None = None,
    duration_s: float = 60.0,
    interval_s: float = 2.0,
    window_s: float = 60.0,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[ScanProgress], None] | None = None,
) -> tuple[list[FleetRow], list[ScanError]]:
    """Rows for every RUNNING job of the clusters at `urls`, most held-back first, and what
    could not be read. `duration_s` bounds each job's sampling; the scan takes about that long
    per `concurrency` jobs."""
    errors: list[ScanError] = []
    work: list[tuple[str, JobSummary]] = []
    with ThreadPoolExecutor(max(1, min(concurrency, len(urls))),
                            thread_name_prefix="flowscope-scan") as pool:
        listed = list(pool.map(lambda u: _listing(u, headers), urls))
    for url, (jobs, error) in zip(urls, listed, strict=True):
        if error is not None:
            errors.append(ScanError(url, None, error))
        work.extend((url, j) for j in jobs)
    rows: list[FleetRow] = []
    lock = threading.Lock()
    done = 0

    def one(item: tuple[str, JobSummary]) -> None:
        nonlocal done
        url, job = item
        try:
            row: FleetRow | None = _diagnose_job(url, job, headers, duration_s, interval_s,
                                                 window_s)
            failure = None
        except FlowscopeError as exc:
            row, failure = None, str(exc)
        with lock:
            if row is not None:
                rows.append(row)
            else:
                errors.append(ScanError(url, job.name, failure or "unreadable"))
            done += 1
            if progress:
                progress(ScanProgress(done, len(work), job.name))

    if work:
        with ThreadPoolExecutor(max(1, min(concurrency, len(work))),
                                thread_name_prefix="flowscope-scan") as pool:
            list(pool.map(one, work))
    return ordered(rows), errors


def _listing(url: str, headers: Mapping[str, str] | None) -> tuple[list[JobSummary], str | None]:
    try:
        return running_jobs(url, headers), None
    except FlowscopeError as exc:
        return [], str(exc)


def _diagnose_job(url: str, job: JobSummary, headers: Mapping[str, str] | None,
                  duration_s: float, interval_s: float, window_s: float) -> FleetRow:
    from flowscope.deadline import Deadline
    from flowscope.sampling import LiveSession, sample_until_confident

    session = LiveSession(url, job, headers=headers, interval_s=interval_s,
                          deadline=Deadline(duration_s), aggregated=True)
    try:
        *_, d = sample_until_confident(session, interval_s=interval_s,
                                       max_duration_s=duration_s, window_s=window_s)
    finally:
        session.close()
    # Over REST the verdict is known to hold over the window it was judged on, no longer.
    return row_of(d, url, since_s=d.window_s if d.window_s > 0 else None)
