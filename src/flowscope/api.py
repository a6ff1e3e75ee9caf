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

from flowscope.analysis.engine import DEFAULT_WINDOW_S, MIN_WINDOW_S, diagnose
from flowscope.analysis.findings import Diagnosis, Verdict
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
    for graph, sample in session.samples(interval_s=interval_s, duration_s=max_duration_s):
        samples.append(sample)
        d = diagnose(graph, samples, window_s=window_s, target_rate=target_rate)
        if on_progress:
            on_progress(Progress(len(samples), time.monotonic() - start, sample.uptime_s,
                                 d.window_s, d))
        if d.confidence == "high" and d.window_s >= min_window_s and d.verdict != Verdict.UNKNOWN:
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
