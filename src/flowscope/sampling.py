"""Sampling a job: the live and replay loops, and when a live diagnosis may stop.

`LiveSession` polls one job of a cluster (recording every poll if asked); `ReplaySession`
reads a recording through the same collector. Both yield `(graph, sample)` pairs.
`sample_until_confident` drives a live diagnosis to a verdict that holds (`StopRule`), asking
for the stack samples the diagnosis still needs.

Every live loop is `LiveSession.rounds()`: a poll every interval until the session's
`Deadline` (the command's --duration) has passed, each poll's requests cut to what is left of
it, failed polls counted (`failed`, `polls`). A loop whose polls all failed ends in
`PollsFailed` (`all_failed()`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from flowscope.analysis import tiers
from flowscope.analysis.engine import DEFAULT_WINDOW_S, MIN_WINDOW_S, diagnose
from flowscope.analysis.findings import (
    Cause,
    Confidence,
    CpuSplit,
    Diagnosis,
    Fact,
    Note,
    NoteKind,
    Verdict,
)
from flowscope.budget import share_unchanged
from flowscope.deadline import Deadline
from flowscope.errors import FlinkUnreachable, FlowscopeError, PollsFailed, RecordingError
from flowscope.flink.rest import FlinkRestSource, JobSummary
from flowscope.model import JobGraph, Sample
from flowscope.recording import RecordedTransport, Recorder, Recording, RecordingTransport

# Job states after which a job never runs again: a job selected by name is looked up anew.
ENDED_STATES = frozenset({"CANCELED", "FAILED", "FINISHED", "SUSPENDED"})
# How many recent clean polls set the time a poll may take.
POLL_MEMORY = 5


@dataclass(frozen=True)
class Round:
    """One poll of a loop: its graph and sample, or the error it failed with."""

    graph: JobGraph | None
    sample: Sample | None
    error: str | None = None


class LiveSession:
    """Polls one job of a live cluster every `interval_s` seconds, until `deadline`.

    A poll that fails is counted (`failed`, `last_error`, and in the recording) and does not
    end the session: loops keep going through a JobManager's outage. Each poll has a share of
    time (`budget_s`, the interval or more when the cluster is slow to answer): no request of
    it, retries included, outlives it. No request of the session outlives `deadline` (a
    command's --duration, from the command's start; without one, the session has no end).
    When the job ends and another one of the same name runs (a job resubmitted), the session
    follows it, unless the job was selected by id.
    """

    def __init__(
        self,
        url: str,
        job: str | JobSummary | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        record_to: str | Path | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        interval_s: float = 2.0,
        deadline: Deadline | None = None,
        aggregated: bool = False,
    ) -> None:
        # Read every vertex's gauges aggregated over its subtasks (a fleet scan: requests grow
        # with vertices, never subtasks); counters stay per subtask.
        self.aggregated = aggregated
        self.interval_s = interval_s
        self.failed = 0
        self.succeeded = 0
        self.last_error: str | None = None
        self.switches: list[str] = []  # "followed job X to its new id ...", as they happened
        self._took: deque[float] = deque(maxlen=POLL_MEMORY)
        self.recorder = Recorder(record_to, url) if record_to else None
        inner = transport or httpx.HTTPTransport()
        if self.recorder:
            inner = RecordingTransport(inner, self.recorder)
        try:
            self.source = FlinkRestSource(url, headers=headers, timeout_s=timeout_s,
                                          transport=inner)
        except FlowscopeError:
            if self.recorder:
                self.recorder.close()
            raise
        # Without a command's deadline, the session's own clock starts at its first request
        # (opening the file and the client is set-up).
        self.deadline = deadline if deadline is not None else Deadline()
        self.source.http.until = self.deadline
        # A job already read from the cluster's job list (a scan, the dashboard) is followed
        # as if chosen by id, without listing the jobs again.
        self.selector = job.id if isinstance(job, JobSummary) else job
        try:
            self.job: JobSummary = job if isinstance(job, JobSummary) else self._select(job)
        except FlowscopeError:
            self.close()
            raise
        # TaskManagers to take a thread dump of with each poll (set by the diagnosis loop).
        self.thread_dump_tms: list[str] = []
        # Vertex ids whose flame graphs to read with each poll (also set by the diagnosis loop).
        self.flamegraph_vertices: list[str] = []
        # Vertex ids whose subtasks' gauges to read one by one (None: every vertex while the
        # job is small; see analysis.tiers). Set by the diagnosis loop.
        self.detail_vertices: set[str] | None = None
        self._big_job: bool | None = None
        self._previous: Sample | None = None

    def _select(self, selector: str | None) -> JobSummary:
        """The job to poll; a reading of the job list that fails or finds no match is tried
        again a few times, within the session's first interval or two (a flaky answer at
        start is not a wrong name)."""
        until = time.monotonic() + min(max(2.0 * self.interval_s, 3.0), self.deadline.left())
        self.source.http.deadline = until
        try:
            for attempt in range(3):
                try:
                    return self.source.select_job(selector)
                except FlowscopeError:
                    if attempt == 2 or time.monotonic() + 0.2 >= until:
                        raise
                    time.sleep(0.1 * (attempt + 1))
        finally:
            self.source.http.deadline = None
        raise AssertionError("unreachable")  # pragma: no cover

    def budget_s(self) -> float:
        """How long the next poll may take (seconds): the interval, or more for a cluster whose
        clean polls take longer than that; never past the session's end (plus GRACE_S)."""
        budget = self.interval_s
        if self._took:
            budget = max(budget, 2.0 * sorted(self._took)[len(self._took) // 2])
        return min(budget, self.source.http.timeout_s, self.deadline.request_s())

    def _out_of_time(self, refused_before: int, budget: float) -> None:
        """A poll that ran out of its budget (a big job's first polls list every vertex's
        metric names) counts as taking it all: the next poll gets twice as long, up to the
        request timeout, instead of being cut short at the interval forever."""
        if self.source.http.out_of_time > refused_before:
            self._took.append(budget)

    def steer(self, d: Diagnosis) -> None:
        """Read the vertices the diagnosis looks at closely subtask by subtask from the next
        poll on, and a big job's other vertices aggregated (`analysis.tiers`)."""
        self.detail_vertices = tiers.detail_vertices(d)

    def poll(self) -> tuple[JobGraph, Sample]:
        began = time.monotonic()
        budget = self.budget_s()
        self.source.http.deadline = began + budget
        refused = self.source.http.out_of_time
        try:
            if self._big_job is None:  # the graph is read once anyway, and then cached
                self._big_job = tiers.is_big(self.source.graph(self.job.id))
            detail = set() if self.aggregated else self.detail_vertices
            if detail is None and self._big_job:
                detail = set()  # a big job before any diagnosis: every vertex aggregated
            graph, sample = self.source.poll(
                self.job.id, self.thread_dump_tms, self.flamegraph_vertices, detail
            )
            self._big_job = tiers.is_big(graph)
            share_unchanged(self._previous, sample)
            self._previous = sample
        except FlowscopeError as exc:
            self.failed += 1
            self.last_error = str(exc)
            if self.recorder:
                self.recorder.fail_poll(self.source.clock(), str(exc))
            self._out_of_time(refused, budget)
            raise
        finally:
            self.source.http.deadline = None
        if self.recorder:
            self.recorder.commit_poll(sample.t, self.job.id)
        self.succeeded += 1
        if not sample.warnings:
            self._took.append(time.monotonic() - began)
        else:
            self._out_of_time(refused, budget)
        if sample.job_state in ENDED_STATES and self._follow():
            return self.poll()
        return graph, sample

    def _follow(self) -> bool:
        """After the job ended: when it was chosen by name (or as the only running job) and a
        job of that name runs now under a new id, switch to it and say so."""
        if self.selector == self.job.id:
            return False
        try:
            self.source.http.deadline = time.monotonic() + self.budget_s()
            found = self.source.select_job(self.selector or self.job.name)
        except FlowscopeError:
            return False
        finally:
            self.source.http.deadline = None
        if found.id == self.job.id or found.state in ENDED_STATES:
            return False
        self.switches.append(f"job {self.job.name!r} ({self.job.id[:8]}) ended; following "
                             f"its successor {found.id[:8]}")
        self.job = found
        return True

    def rounds(
        self,
        interval_s: float | None = None,
        duration_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[Round]:
        """Poll every `interval_s` until the session's deadline (narrowed to `duration_s`
        from its start, if given) has passed, yielding every poll, failed ones too (counted
        in `failed`, `last_error`). The deadline ends the loop whatever the polls do."""
        if interval_s is not None:
            self.interval_s = interval_s
        self.deadline = self.deadline.within(duration_s)
        self.source.http.until = self.deadline
        while not self.deadline.passed():
            began = time.monotonic()
            try:
                graph, sample = self.poll()
            except FlowscopeError as exc:  # counted; the next poll may succeed
                yield Round(None, None, str(exc))
            else:
                yield Round(graph, sample)
            if not self.deadline.sleep(self.interval_s - (time.monotonic() - began), sleep):
                return

    def samples(
        self,
        interval_s: float | None = None,
        duration_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[tuple[JobGraph, Sample]]:
        """The polls of `rounds()` that succeeded."""
        for r in self.rounds(interval_s, duration_s, sleep):
            if r.graph is not None and r.sample is not None:
                yield r.graph, r.sample

    @property
    def polls(self) -> int:
        """Polls made so far, failed ones included."""
        return self.failed + self.succeeded

    def all_failed(self) -> PollsFailed | None:
        """When polls were made and every one failed: the error that says so (None
        otherwise)."""
        if self.succeeded or not self.failed:
            return None
        return PollsFailed(repr(self.job.name), self.failed, self.polls, self.deadline.elapsed(),
                           self.last_error or "")

    def close(self) -> None:
        self.source.close()
        if self.recorder:
            self.recorder.close()


class ReplaySession:
    """Replays a recording of one job through the REST collector."""

    def __init__(self, path: str | Path, job: str | None = None) -> None:
        self.recording = Recording(path)
        try:
            self._open(path, job)
        except FlowscopeError as exc:
            self.recording.close()
            if isinstance(exc, RecordingError):
                raise
            # The recorded URL is the client's base: one httpx cannot use is damage.
            raise RecordingError(f"{path} is damaged and cannot be read ({exc})") from None

    def _open(self, path: str | Path, job: str | None) -> None:
        jobs = self.recording.job_ids()
        if not jobs:
            raise RecordingError(f"{path} holds no polls")
        if job is None:
            self.job_id = jobs[-1]
        else:
            matches = [j for j in jobs if j.startswith(job)]
            if len(matches) != 1:
                raise RecordingError(
                    f"{path} holds jobs {', '.join(j[:8] for j in jobs)}; {job!r} matches "
                    f"{len(matches)}"
                )
            self.job_id = matches[0]
        self.polls = self.recording.polls(self.job_id)
        if not self.polls:
            raise RecordingError(f"{path} holds no polls of job {self.job_id}")
        self._transport = RecordedTransport(self.recording)
        self._t = self.polls[0].t
        self.source = FlinkRestSource(
            self.polls[0].url or "http://recording", transport=self._transport,
            clock=lambda: self._t,
        )

    def samples(self) -> Iterator[tuple[JobGraph, Sample]]:
        for poll in self.polls:
            self._transport.poll_id = poll.id
            self._t = poll.t
            try:
                yield self.source.poll(
                    self.job_id,
                    self.recording.thread_dumps_at(poll.id),
                    self.recording.flamegraphs_at(poll.id),
                )
            except FlowscopeError as exc:
                raise RecordingError(
                    f"{self.recording.path}: poll {poll.id} cannot be replayed: {exc}"
                ) from None

    def close(self) -> None:
        self.source.close()
        self.recording.close()


def load_recording(path: str | Path, job: str | None = None) -> tuple[JobGraph, list[Sample]]:
    """Every sample of one job in a recording, oldest first."""
    replay = ReplaySession(path, job)
    try:
        pairs = list(replay.samples())
    finally:
        replay.close()
    return pairs[-1][0], [s for _, s in pairs]


@dataclass
class Progress:
    """What a caller can show while samples accumulate."""

    polls: int
    elapsed_s: float
    uptime_s: float | None
    window_s: float
    diagnosis: Diagnosis


@dataclass
class StackRequests:
    """Stack samples the next poll should take (see flowscope.analysis.cpu)."""

    flamegraph_vertices: list[str]
    thread_dump_tms: list[str]

    def __bool__(self) -> bool:
        return bool(self.flamegraph_vertices or self.thread_dump_tms)


# Causes told by what the busy threads do: stack samples decide between them.
TOLD_BY_WORK = (Cause.COMPUTE_BOUND, Cause.OFF_CPU, Cause.BUSY)
# Causes that the frames of a flame graph may overrule (the state backend, an Async I/O queue
# or a checkpoint's synchronous phase, whose rules come first: analysis.causes.CAUSE_RULES).
TOLD_BEFORE_FRAMES = (Cause.SLOW_INSTANCE,)


def stacks_wanted(d: Diagnosis) -> StackRequests:
    """For each bottleneck whose subtasks are all busy and whose busy time is not yet split
    into on-CPU and off-CPU: its flame graphs, or, when those cannot be read, thread dumps of
    its TaskManagers."""
    want = StackRequests([], [])
    for f in d.bottlenecks:
        if f.cause in TOLD_BEFORE_FRAMES and f.vertex_id is not None and f.cpu is None:
            want.flamegraph_vertices.append(f.vertex_id)
            continue
        if f.cause not in TOLD_BY_WORK or f.vertex_id is None:
            continue
        if isinstance(f.cpu, CpuSplit):
            continue  # split already, by flame graphs or by enough thread dumps
        if f.cpu is None:
            want.flamegraph_vertices.append(f.vertex_id)
            continue
        want.thread_dump_tms.extend(t for t in f.taskmanagers if t not in want.thread_dump_tms)
    return want


def apply_stack_requests(session: LiveSession, d: Diagnosis) -> bool:
    """Point the session's next polls at the stack samples the diagnosis still needs."""
    want = stacks_wanted(d)
    session.flamegraph_vertices = want.flamegraph_vertices
    session.thread_dump_tms = want.thread_dump_tms
    session.steer(d)
    return bool(want)


# Two consecutive metric snapshots must agree before a live diagnosis is final.
STABLE_SNAPSHOTS = 2
# A job younger than this with a task at capacity is watched on: backpressure follows once the
# buffers before that task have filled.
YOUNG_JOB_S = 60.0


@dataclass
class StopRule:
    """When a live diagnosis may stop sampling: confident, over enough time, with the stack
    samples it asked for, and the same verdict on consecutive metric snapshots."""

    min_window_s: float = MIN_WINDOW_S
    _last_window: float = -1.0
    _signatures: list[tuple[object, ...]] | None = None
    _restarting: int = 0  # consecutive polls judged restarting

    def done(self, d: Diagnosis, pending_stacks: bool) -> bool:
        if self._signatures is None:
            self._signatures = []
        # A job that keeps restarting is judged on its attempts and failures, not on a window
        # of one attempt (each restart starts the window afresh).
        self._restarting = self._restarting + 1 if d.verdict == Verdict.RESTARTING else 0
        if self._restarting:
            return d.confidence == Confidence.HIGH and self._restarting >= STABLE_SNAPSHOTS
        if d.window_s != self._last_window:  # a new snapshot
            self._last_window = d.window_s
            self._signatures.append(
                (d.verdict, tuple((f.vertex_name, f.cause) for f in d.bottlenecks))
            )
        recent = self._signatures[-STABLE_SNAPSHOTS:]
        stable = len(recent) == STABLE_SNAPSHOTS and len(set(recent)) == 1
        young_at_capacity = (d.uptime_s or 0.0) < YOUNG_JOB_S and any(
            f.cause == Cause.NEAR_CAPACITY for f in d.findings)
        return (d.confidence == Confidence.HIGH and d.window_s >= self.min_window_s
                and d.verdict != Verdict.UNKNOWN and not pending_stacks and stable
                and not young_at_capacity)


def sample_until_confident(
    session: LiveSession,
    *,
    interval_s: float = 1.0,
    max_duration_s: float = 120.0,
    window_s: float = DEFAULT_WINDOW_S,
    target_rate: float | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    min_window_s: float = MIN_WINDOW_S,
    on_failure: Callable[[LiveSession], None] | None = None,
) -> tuple[JobGraph, list[Sample], Diagnosis]:
    """Poll until the diagnosis is confident (counters cover `min_window_s`) or the session's
    deadline (at most `max_duration_s` seconds from its start) has passed. `on_failure` hears
    of each failed poll. Raises PollsFailed when every poll failed."""
    start = time.monotonic()
    samples: list[Sample] = []
    graph: JobGraph | None = None
    d: Diagnosis | None = None
    rule = StopRule(min_window_s)
    settled = False
    for r in session.rounds(interval_s=interval_s, duration_s=max_duration_s):
        if r.graph is None or r.sample is None:
            if on_failure:
                on_failure(session)
            continue
        graph, sample = r.graph, r.sample
        if samples and sample.job_id != samples[-1].job_id:
            samples.clear()  # the job was replaced: judge the one running now
            rule = StopRule(min_window_s)
        samples.append(sample)
        d = diagnose(graph, samples, window_s=window_s, target_rate=target_rate)
        if on_progress:
            on_progress(Progress(len(samples), time.monotonic() - start, sample.uptime_s,
                                 d.window_s, d))
        if rule.done(d, apply_stack_requests(session, d)):
            settled = True
            break
    if graph is None or d is None:
        raise session.all_failed() or FlinkUnreachable(
            f"no poll of {session.job.name!r} could be made in {session.deadline.elapsed():.0f}"
            " s (the job's lookup took the whole duration)")
    d.notes.extend(Note(NoteKind.SAID, text=s) for s in session.switches)
    if session.failed:
        d.notes.append(Note(NoteKind.MISSED_POLLS, {
            Fact.MORE: session.failed, Fact.INTERVALS: session.polls,
            Fact.REASON: session.last_error}))
    if not settled and d.verdict != Verdict.UNKNOWN:
        d.notes.append(Note(NoteKind.UNSETTLED_SAMPLING,
                            {Fact.SPAN_S: time.monotonic() - start}))
        d.confidence = d.confidence.at_most(Confidence.MEDIUM)
    return graph, samples, d
