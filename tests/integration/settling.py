"""Waiting for a live scenario's verdict the way `flowscope diagnose` decides, for every
integration test that runs a scenario job (shared, so that no test stops on an earlier or
looser verdict than the others)."""

from __future__ import annotations

import threading
from pathlib import Path

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Diagnosis, Verdict
from flowscope.render import words
from flowscope.sampling import LiveSession, StopRule, apply_stack_requests

# Counters must cover at least two JobManager metric refreshes (~10 s each).
SETTLED_WINDOW_S = 15.0
# Until the buffers before a bottleneck have filled, its input is not backpressured yet.
MIN_UPTIME_S = 45.0
DEADLINE_S = 180.0


def settle(url: str, job_id: str, record_to: Path, observe_s: float = 0.0,
           deadline_s: float = DEADLINE_S, *, interval_s: float = 1.0,
           stop: threading.Event | None = None) -> tuple[Diagnosis, float]:
    """Poll a job every `interval_s` seconds until the diagnosis is final (as `flowscope
    diagnose` decides), the job is past its first minute's buffer filling, and it has been
    watched `observe_s` seconds; return the diagnosis and the job's uptime at that moment.
    `stop` set ends the polling early (the job was cancelled)."""
    session = LiveSession(url, job_id, record_to=record_to)
    samples = []
    d = None
    rule = StopRule(SETTLED_WINDOW_S)  # as `flowscope diagnose` decides, plus:
    try:
        for graph, sample in session.samples(interval_s=interval_s, duration_s=deadline_s):
            if stop is not None and stop.is_set():
                break
            samples.append(sample)
            d = diagnose(graph, samples)
            done = rule.done(d, apply_stack_requests(session, d))
            watched = sample.t - samples[0].t
            # A restarting job's uptime is its newest attempt's: it never grows old.
            grown = (sample.uptime_s or 0.0) >= MIN_UPTIME_S or d.verdict == Verdict.RESTARTING
            if done and watched >= observe_s and grown:
                break
    finally:
        session.close()
    assert d is not None
    assert d.confidence == "high", (
        f"no confident verdict within {deadline_s:.0f} s: {words.notes(d.notes)}")
    return d, d.uptime_s or 0.0
