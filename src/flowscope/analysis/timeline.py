"""Task states over time: busy / backpressured / idle and record rates per interval.

A recording is a series of polls; the JobManager refreshes metrics about every 10 s, so only
polls that saw a new snapshot (`distinct_snapshots`) mark a new interval. Between each pair of
consecutive distinct snapshots the subtasks' counters give exact ratios and rates
(`subtask_windows`), and each task's values are folded the way Flink's UI folds them
(`engine.task_states`: ratios are the max over subtasks, rates the sum).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from itertools import pairwise

from flowscope.analysis import columnar
from flowscope.analysis.findings import TaskState
from flowscope.analysis.locate import task_states
from flowscope.analysis.memo import IdentityMemo
from flowscope.analysis.window import distinct_snapshots, subtask_windows
from flowscope.model import JobGraph, Sample

# More intervals than this are merged (counters make a merged interval an exact average).
DEFAULT_MAX_STEPS = 240
# The steps of snapshot pairs already seen, while both samples live: `watch`, `serve` and
# `diagnose()` (through `temporal`) ask again for a history that changes by one poll at a time.
_STEPS: IdentityMemo[TimelineStep] = IdentityMemo(256)

TASK_FIELDS = ("busy", "backpressured", "idle", "records_in_per_s", "records_out_per_s")


@dataclass(frozen=True)
class TimelineStep:
    """One interval between two distinct metric snapshots.

    `start` and `end` are the poll times (epoch seconds) at which the two snapshots were first
    seen; the ratios (0..1) and rates (records/s) in `tasks` cover that interval as the
    subtasks' own counters measured it. Buffer usages are the window's (`diagnose`), not the
    interval's: a step's subtask states leave them None.
    """

    start: float
    end: float
    tasks: dict[str, TaskState]  # by vertex id

    @property
    def span_s(self) -> float:
        return self.end - self.start


def _pick(snapshots: list[Sample], max_steps: int) -> list[Sample]:
    """At most `max_steps` + 1 snapshots, evenly spread, always keeping the first and last."""
    if len(snapshots) <= max_steps + 1:
        return snapshots
    n = len(snapshots) - 1
    idx = sorted({round(i * n / max_steps) for i in range(max_steps + 1)})
    return [snapshots[i] for i in idx]


def task_timeline(
    graph: JobGraph, samples: Sequence[Sample], *, max_steps: int = DEFAULT_MAX_STEPS
) -> list[TimelineStep]:
    """Each task's state per interval between consecutive distinct snapshots, oldest first.

    Polls of a job that is not RUNNING are skipped. With more than `max_steps` intervals,
    evenly spaced snapshots are kept, so each step averages over several refreshes.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps < 1: {max_steps}")
    running = [s for s in samples if s.job_state == "RUNNING"]
    snaps = _pick(distinct_snapshots(running), max_steps)
    return [_STEPS.get((graph, before, after), partial(_step, graph, before, after))
            for before, after in pairwise(snaps)]


def _step(graph: JobGraph, before: Sample, after: Sample) -> TimelineStep:
    # Folded over arrays: no Python object per subtask unless one is read.
    fast: dict[str, TaskState] = {}
    folded = columnar.intervals(before, after)
    for v in graph.vertices:
        cols = folded.get(v.id)
        if cols is not None:
            fast[v.id] = columnar.task_state(
                v, cols, graph.upstream(v.id), graph.downstream(v.id),
                [e.ship_strategy for e in graph.inputs(v.id)])
    windows = subtask_windows([before, after], states_only=True, skip=set(fast))
    states = task_states(graph, windows, given=fast)
    return TimelineStep(before.t, after.t, {t.vertex_id: t for t in states})


def task_series(
    steps: Sequence[TimelineStep], vertex_id: str, field: str
) -> list[tuple[float, float, float | None]]:
    """(start, end, value) per step of one task's `field` (one of TASK_FIELDS); None where the
    value was not measurable (start-up values, NaN, the task absent in that interval)."""
    if field not in TASK_FIELDS:
        raise ValueError(f"unknown field {field!r}; one of {', '.join(TASK_FIELDS)}")
    out: list[tuple[float, float, float | None]] = []
    for step in steps:
        task = step.tasks.get(vertex_id)
        value = getattr(task, field) if task is not None else None
        if value is not None and not math.isfinite(value):
            value = None
        out.append((step.start, step.end, value))
    return out


def subtask_series(
    steps: Sequence[TimelineStep], vertex_id: str, index: int, field: str
) -> list[tuple[float, float, float | None]]:
    """Like `task_series` for one subtask (`field` is a SubtaskState attribute, e.g. "busy")."""
    out: list[tuple[float, float, float | None]] = []
    for step in steps:
        task = step.tasks.get(vertex_id)
        sub = columnar.subtask_at(task.subtasks, index) if task else None
        value = getattr(sub, field) if sub is not None else None
        if value is not None and not math.isfinite(value):
            value = None
        out.append((step.start, step.end, value))
    return out
