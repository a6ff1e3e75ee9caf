"""Findings over time: persistent vs transient bottlenecks, and bottlenecks that move.

The located sources of backpressure are computed per interval between consecutive metric
snapshots (`timeline.task_timeline`, ~10 s each). A vertex that is a source of backpressure in
most intervals is persistent; one that appears in few is transient; two or more vertices that
take turns (a window operator that fires every N seconds and the operator that limits the job
in between) are one moving bottleneck, reported with its period. Pure.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from flowscope.analysis.findings import (
    Action,
    ActionKind,
    Cause,
    Evidence,
    Fact,
    Finding,
    TaskState,
    Why,
)
from flowscope.analysis.locate import locate
from flowscope.analysis.timeline import task_timeline
from flowscope.analysis.window import distinct_snapshots
from flowscope.model import JobGraph, Sample

PERSISTENT_SHARE = 0.6
TRANSIENT_SHARE = 0.3
MOVING_SHARE = 0.15  # each alternating vertex leads in at least this share of intervals
MIN_STEPS = 3
# The JobManager's snapshot of different subtasks can land a moment apart: an interval
# shorter than this is merged into the next one.
MIN_STEP_S = 3.0


@dataclass
class Episode:
    """A run of consecutive intervals in which a vertex was a source of backpressure."""

    vertex_id: str
    start: float
    end: float


@dataclass
class TemporalView:
    steps: int = 0
    span_s: float = 0.0
    root_share: dict[str, float] = field(default_factory=dict)  # vertex id -> share of steps
    episodes: list[Episode] = field(default_factory=list)
    # Which vertex led in each interval (None: no source of backpressure), oldest first.
    sequence: list[tuple[float, float, tuple[str, ...]]] = field(default_factory=list)
    # Each task's busy ratio per interval (None where not measured), oldest first.
    busy: dict[str, list[float | None]] = field(default_factory=dict)


def analyse(graph: JobGraph, samples: Sequence[Sample]) -> TemporalView:
    """Locate the sources of backpressure in every interval of `samples`."""
    kept: list[Sample] = []
    group_start = -math.inf
    for s in distinct_snapshots([s for s in samples if s.job_state == "RUNNING"]):
        if kept and s.t - group_start < MIN_STEP_S:
            # A later snapshot of the same refresh, or a step of a finer series (Prometheus
            # every 1-2 s): the interval ends here. Measured from the group's first snapshot,
            # so a regular fine series makes intervals of MIN_STEP_S or more, not one interval.
            kept[-1] = s
        else:
            kept.append(s)
            group_start = s.t
    steps = task_timeline(graph, kept)
    return view_of([(st.start, st.end, st.tasks) for st in steps], graph)


def view_of(steps: Sequence[tuple[float, float, dict[str, TaskState]]],
            graph: JobGraph | None) -> TemporalView:
    """The view of intervals (start, end, task states by vertex id), oldest first; without
    `graph` each interval's bottleneck is located from the time metrics alone."""
    view = TemporalView(steps=len(steps))
    if not steps:
        return view
    view.span_s = steps[-1][1] - steps[0][0]
    counts: dict[str, int] = {}
    open_eps: dict[str, Episode] = {}
    for start, end, tasks in steps:
        roots = tuple(locate(graph, tasks))
        view.sequence.append((start, end, roots))
        for vid, task in tasks.items():
            view.busy.setdefault(vid, []).append(task.busy)
        for r in roots:
            counts[r] = counts.get(r, 0) + 1
            ep = open_eps.get(r)
            if ep is not None and abs(ep.end - start) < 1e-6:
                ep.end = end
            else:
                ep = open_eps[r] = Episode(r, start, end)
                view.episodes.append(ep)
    view.root_share = {v: n / len(steps) for v, n in counts.items()}
    return view


OSCILLATION = 0.5  # busy swinging by this much between intervals: the load alternates
AVERAGED_BUSY = 0.75  # a bottleneck busy less than this is an average over an alternation


@dataclass(frozen=True)
class Doubts:
    """Why the current window may average over an alternation: timer-firing tasks whose busy
    time swings between intervals ((min, max) busy ratios), and located bottlenecks far from
    fully busy while their input is held back (busy ratios)."""

    swings: tuple[tuple[float, float], ...] = ()
    averaged: tuple[float, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.swings or self.averaged)


def unsettled(view: TemporalView, timers: set[str], roots: dict[str, float]) -> Doubts:
    """Why the current window may average over an alternation: a task that fires timers (a
    window) whose busy time swings between intervals, or a located bottleneck (vertex id ->
    busy ratio) that is far from fully busy while its input is held back."""
    swings = []
    for vid in sorted(timers):
        busy = [b for b in view.busy.get(vid, []) if b is not None]
        if len(busy) >= 2 and max(busy) - min(busy) >= OSCILLATION:
            swings.append((min(busy), max(busy)))
    averaged = tuple(r for r in roots.values() if r < AVERAGED_BUSY)
    return Doubts(tuple(swings), averaged)


def alternating(view: TemporalView) -> set[str]:
    """The vertices that each lead in at least MOVING_SHARE of the intervals that have a
    bottleneck at all (a job that bursts is idle in between: those intervals say nothing
    about who leads)."""
    led = sum(1 for _, _, roots in view.sequence if roots)
    if not led:
        return set()
    counts: dict[str, int] = {}
    for _, _, roots in view.sequence:
        for r in roots:
            counts[r] = counts.get(r, 0) + 1
    return {v for v, n in counts.items() if n / led >= MOVING_SHARE}


def switches(view: TemporalView, vertices: set[str]) -> int:
    """How often the leading vertex changes between members of `vertices`."""
    leaders = [next(iter(r for r in roots if r in vertices), None) for _, _, roots in view.sequence]
    seq = [x for x in leaders if x is not None]
    return sum(1 for a, b in pairwise(seq) if a != b)


def period_s(view: TemporalView, vertex_id: str) -> float | None:
    starts = [e.start for e in view.episodes if e.vertex_id == vertex_id]
    if len(starts) < 2:
        return None
    return statistics.median(b - a for a, b in pairwise(starts))


def moving_finding(view: TemporalView, names: dict[str, str]) -> Finding | None:
    """One finding for vertices that take turns as the bottleneck, or None. `names`: every
    task's name by vertex id, sources first."""
    if view.steps < MIN_STEPS:
        return None
    leaders = alternating(view)
    if len(leaders) < 2 or switches(view, leaders) < 2:
        return None
    order = [vid for vid in names if vid in leaders]
    named = [names[v] for v in order]
    # The vertex that leads least often is the burst (e.g. the window firing): its turns
    # keep the rhythm; the steady vertex's turns are what is left in between.
    burst = min(order, key=lambda v: view.root_share[v])
    period = period_s(view, burst)
    ev = [
        Evidence(names[v], "root_share", round(view.root_share[v], 3), "ratio",
                 view.span_s, Why.ROOT_SHARE)
        for v in order
    ]
    ev.append(Evidence(" <-> ".join(named), "switches", switches(view, leaders), "count",
                       view.span_s, Why.SWITCHES))
    if period:
        ev.append(Evidence(" <-> ".join(named), "period_s", round(period, 1), "s", view.span_s,
                           Why.PERIOD))
    return Finding(
        Cause.MOVING, order[0], " <-> ".join(named), subtasks=[], evidence=ev,
        facts={Fact.NAMES: tuple(named), Fact.PERIOD_S: period},
        actions=[Action(ActionKind.SIZE_FOR_PEAK)],
    )


def annotate(findings: list[Finding], view: TemporalView) -> None:
    """Say how persistent each bottleneck finding is; demote ones seen in few intervals."""
    if view.steps < MIN_STEPS:
        return
    for f in findings:
        if not f.is_bottleneck or f.vertex_id is None or f.cause == Cause.MOVING or f.at_head:
            continue
        # Count from its first turn: before that the job was young or the load lower.
        led = [f.vertex_id in roots for _, _, roots in view.sequence]
        first = led.index(True) if True in led else len(led)
        since = led[first:]
        if not since:
            continue  # never a source of backpressure at the history's resolution
        share = sum(since) / len(since)
        f.evidence.append(Evidence(
            f.vertex_name or f.vertex_id, "root_share", round(share, 3), "ratio", view.span_s,
            Why.LED_SINCE, {Fact.LED: sum(since), Fact.INTERVALS: len(since)},
        ))
        if not since[-1] and share < TRANSIENT_SHARE:
            f.is_bottleneck = False
            f.transient_share, f.transient_of = share, f.cause
            f.cause = Cause.TRANSIENT
