"""The windows `flowscope diff` compares: the newest window of each of two recordings, the
windows before and after the newest rescale or restart found in one recording, or two
windows of one job read from Prometheus."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flowscope.analysis.diff import change_points
from flowscope.analysis.engine import DEFAULT_WINDOW_S, diagnose
from flowscope.analysis.findings import Diagnosis
from flowscope.errors import RecordingError
from flowscope.model import JobGraph, Sample
from flowscope.sampling import ReplaySession


def _replay(path: str | Path, job: str | None) -> tuple[list[JobGraph], list[Sample]]:
    replay = ReplaySession(path, job)
    try:
        pairs = list(replay.samples())
    finally:
        replay.close()
    return [g for g, _ in pairs], [s for _, s in pairs]


def newest_window(path: str | Path, job: str | None = None,
                  window_s: float = DEFAULT_WINDOW_S) -> Diagnosis:
    """The diagnosis of a recording's newest `window_s` seconds (after its last change, when
    the job changed within them)."""
    graphs, samples = _replay(path, job)
    cuts = change_points(graphs, samples)
    start = cuts[-1] if cuts else 0
    return diagnose(graphs[-1], samples[start:], window_s=window_s)


def around_change(path: str | Path, job: str | None = None,
                  window_s: float = DEFAULT_WINDOW_S) -> tuple[Diagnosis, Diagnosis]:
    """The windows before and after the newest rescale or restart in one recording (each
    the last `window_s` seconds of its side)."""
    graphs, samples = _replay(path, job)
    cuts = change_points(graphs, samples)
    if not cuts:
        raise RecordingError(f"{path} holds no rescale or restart of the job to compare "
                             "around: give two recordings")
    cut = cuts[-1]
    earlier = [c for c in cuts[:-1]]
    start = earlier[-1] if earlier else 0
    if cut - start < 2 or len(samples) - cut < 2:
        raise RecordingError(f"{path}: too few polls on one side of the change at "
                             f"poll {cut} to compare")
    before = diagnose(graphs[cut - 1], samples[start:cut], window_s=window_s)
    after = diagnose(graphs[-1], samples[cut:], window_s=window_s)
    return before, after


def prometheus_window(prometheus: str, job: str, at: str, window_s: float, *,
                      graph_url: str, graph_from: str | None,
                      headers: Mapping[str, str]) -> Diagnosis:
    """The diagnosis of the `window_s` seconds before `at` (RFC 3339, relative or `now`),
    read from a Prometheus-compatible store."""
    from flowscope.postmortem import diagnose_history, parse_time

    end = parse_time(at)
    lead = 30.0  # counters need a sample before the window's start
    d, _ = diagnose_history(prometheus, job, end - window_s - lead, end, graph_url=graph_url,
                            graph_from=graph_from, headers=dict(headers), window_s=window_s)
    return d
