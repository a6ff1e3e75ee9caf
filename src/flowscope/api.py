"""The Python API: diagnose a live job or a recording.

    import flowscope
    d = flowscope.diagnose_live("http://localhost:8081")
    d = flowscope.diagnose_recording("run.fsrec")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from flowscope.analysis.cpu import MIN_THREAD_SAMPLES
from flowscope.analysis.engine import DEFAULT_WINDOW_S, MIN_WINDOW_S, diagnose
from flowscope.analysis.findings import Cause, Diagnosis, Verdict
from flowscope.model import JobGraph, Sample
from flowscope.session import LiveSession, ReplaySession


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


def stacks_wanted(d: Diagnosis) -> StackRequests:
    """For each bottleneck whose subtasks are all busy and whose busy time is not yet split
    into on-CPU and off-CPU: its flame graphs, or, when those cannot be read, thread dumps of
    its TaskManagers."""
    want = StackRequests([], [])
    for f in d.bottlenecks:
        if f.cause not in (Cause.COMPUTE_BOUND, Cause.OFF_CPU) or f.vertex_id is None:
            continue
        metrics = {e.metric: e.value for e in f.evidence}
        if "flame_samples" in metrics:
            continue
        if "flamegraph" not in metrics:
            want.flamegraph_vertices.append(f.vertex_id)
            continue
        taken = metrics.get("busy_thread_samples", 0)
        if not isinstance(taken, int | float) or taken < MIN_THREAD_SAMPLES:
            want.thread_dump_tms.extend(t for t in f.taskmanagers if t not in want.thread_dump_tms)
    return want


def apply_stack_requests(session: LiveSession, d: Diagnosis) -> bool:
    """Point the session's next polls at the stack samples the diagnosis still needs."""
    want = stacks_wanted(d)
    session.flamegraph_vertices = want.flamegraph_vertices
    session.thread_dump_tms = want.thread_dump_tms
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

    def done(self, d: Diagnosis, pending_stacks: bool) -> bool:
        if self._signatures is None:
            self._signatures = []
        if d.window_s != self._last_window:  # a new snapshot
            self._last_window = d.window_s
            self._signatures.append(
                (d.verdict, tuple((f.vertex_name, f.cause) for f in d.bottlenecks))
            )
        recent = self._signatures[-STABLE_SNAPSHOTS:]
        stable = len(recent) == STABLE_SNAPSHOTS and len(set(recent)) == 1
        young_at_capacity = (d.uptime_s or 0.0) < YOUNG_JOB_S and any(
            f.cause == Cause.NEAR_CAPACITY for f in d.findings)
        return (d.confidence == "high" and d.window_s >= self.min_window_s
                and d.verdict != Verdict.UNKNOWN and not pending_stacks and stable
                and not young_at_capacity)


def sample_until_confident(
    session: LiveSession,
    *,
    interval_s: float = 1.0,
    max_duration_s: float = 45.0,
    window_s: float = DEFAULT_WINDOW_S,
    target_rate: float | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    min_window_s: float = MIN_WINDOW_S,
) -> tuple[JobGraph, list[Sample], Diagnosis]:
    """Poll until the diagnosis is confident (counters cover `min_window_s`) or time runs out."""
    start = time.monotonic()
    samples: list[Sample] = []
    graph: JobGraph | None = None
    d: Diagnosis | None = None
    rule = StopRule(min_window_s)
    for graph, sample in session.samples(interval_s=interval_s, duration_s=max_duration_s):
        samples.append(sample)
        d = diagnose(graph, samples, window_s=window_s, target_rate=target_rate)
        if on_progress:
            on_progress(Progress(len(samples), time.monotonic() - start, sample.uptime_s,
                                 d.window_s, d))
        if rule.done(d, apply_stack_requests(session, d)):
            break
    assert graph is not None and d is not None
    return graph, samples, d


def diagnose_live(
    url: str,
    job: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    max_duration_s: float = 45.0,
    interval_s: float = 1.0,
    target_rate: float | None = None,
    record_to: str | Path | None = None,
) -> Diagnosis:
    """Watch a running job until the diagnosis is confident, and return it."""
    session = LiveSession(url, job, headers=headers, record_to=record_to)
    try:
        return sample_until_confident(
            session, interval_s=interval_s, max_duration_s=max_duration_s,
            target_rate=target_rate,
        )[2]
    finally:
        session.close()


def load_recording(path: str | Path, job: str | None = None) -> tuple[JobGraph, list[Sample]]:
    """Every sample of one job in a recording, oldest first."""
    replay = ReplaySession(path, job)
    try:
        pairs = list(replay.samples())
    finally:
        replay.close()
    return pairs[-1][0], [s for _, s in pairs]


def diagnose_recording(
    path: str | Path,
    job: str | None = None,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    target_rate: float | None = None,
    at: float | None = None,
) -> Diagnosis:
    """Diagnose a recording over its last `window_s` seconds (or up to time `at`)."""
    graph, samples = load_recording(path, job)
    if at is not None:
        samples = [s for s in samples if s.t <= at] or samples[:1]
    return diagnose(graph, samples, window_s=window_s, target_rate=target_rate)
