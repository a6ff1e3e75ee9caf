"""The diagnosis of a window of polls: the evidence (analysis.gather) judged by the rules
(analysis.rules). Pure: no I/O, no clock, no printing. `diagnose()` is the entry point.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowscope.analysis.findings import Diagnosis
from flowscope.analysis.gather import gather
from flowscope.analysis.gcpause import gc_paused
from flowscope.analysis.rules import MIN_UPTIME_S, MIN_WINDOW_S, YOUNG_JOB_S, judge
from flowscope.model import JobGraph, Sample

__all__ = ["DEFAULT_HISTORY_S", "DEFAULT_WINDOW_S", "MIN_UPTIME_S", "MIN_WINDOW_S",
           "YOUNG_JOB_S", "diagnose"]

DEFAULT_WINDOW_S = 60.0
DEFAULT_HISTORY_S = 180.0


@gc_paused
def diagnose(
    graph: JobGraph,
    samples: Sequence[Sample],
    *,
    window_s: float = DEFAULT_WINDOW_S,
    target_rate: float | None = None,
    history_s: float = DEFAULT_HISTORY_S,
) -> Diagnosis:
    """Diagnose a job over the last `window_s` seconds of `samples` (oldest first); bottlenecks
    that come and go or move are judged over the last `history_s` seconds."""
    if not samples:
        raise ValueError("diagnose(): no samples")
    evidence = gather(graph, samples, window_s=window_s, history_s=history_s)
    return judge(evidence, target_rate=target_rate)
