"""Following a job poll by poll: the state a live view shows, and where the bottleneck has
been. Pure: samples in, a plain `WatchState` out; no I/O, no clock.

`Watcher` keeps the window of samples the diagnosis needs, one timeline step per distinct
JobManager metric snapshot (the sparklines' history), and every change of the bottleneck.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from flowscope.analysis.engine import DEFAULT_WINDOW_S, diagnose
from flowscope.analysis.findings import (
    Confidence,
    Diagnosis,
    Finding,
    Level,
    Note,
    TaskState,
    Verdict,
)
from flowscope.analysis.timeline import TimelineStep, task_timeline
from flowscope.analysis.window import distinct_snapshots
from flowscope.model import JobGraph, Sample

HISTORY_SNAPSHOTS = 60  # sparkline length: distinct JobManager metric snapshots (~10 s each)


@dataclass(frozen=True)
class Move:
    """The bottleneck(s) from time `t` (epoch s) on: (task, cause) pairs, empty when none."""

    t: float
    verdict: Verdict
    bottlenecks: tuple[tuple[str, str], ...]

    @property
    def label(self) -> str:
        if self.bottlenecks:
            return ", ".join(f"{name} ({cause})" for name, cause in self.bottlenecks)
        return "no bottleneck" if self.verdict == Verdict.HEALTHY else "no clear source"


@dataclass(frozen=True)
class TaskLine:
    """One row of the view: the task now (over the window) and its recent history."""

    name: str
    parallelism: int
    busy: float | None
    backpressured: float | None
    idle: float | None
    level: Level
    records_in_per_s: float | None
    records_out_per_s: float | None
    busy_history: tuple[float | None, ...]
    backpressured_history: tuple[float | None, ...]
    cause: str | None = None  # set when this task is a bottleneck


@dataclass(frozen=True)
class WatchState:
    """Everything the watch view shows; times are epoch seconds, windows seconds."""

    job_id: str
    job_name: str
    job_state: str
    t: float
    first_t: float
    uptime_s: float | None
    verdict: Verdict
    confidence: Confidence
    window_s: float  # what the counters cover
    polls: int
    snapshots: int
    tasks: list[TaskLine]
    findings: list[Finding]  # the bottlenecks
    moves: list[Move]
    notes: list[Note] = field(default_factory=list)


class Watcher:
    """Accumulates the samples of one job and builds WatchStates; pure, no I/O, no clock."""

    def __init__(self, window_s: float = DEFAULT_WINDOW_S,
                 history: int = HISTORY_SNAPSHOTS) -> None:
        self.window_s = window_s
        self.history: deque[TimelineStep] = deque(maxlen=history)
        self.moves: list[Move] = []
        self.samples: list[Sample] = []
        self.polls = self.snapshots = 0
        self.first_t: float | None = None
        self._snapshot: Sample | None = None
        self._diagnosis: Diagnosis | None = None

    @property
    def diagnosis(self) -> Diagnosis | None:
        """The newest diagnosis (None before the first sample)."""
        return self._diagnosis

    def add(self, graph: JobGraph, sample: Sample) -> None:
        """Take one poll; a new distinct metric snapshot extends the history."""
        if self.samples and sample.job_id != self.samples[-1].job_id:
            # Another job: its counters start afresh. Keep where the bottleneck has been.
            self.samples, self._snapshot = [], None
        self.polls += 1
        self.first_t = sample.t if self.first_t is None else self.first_t
        self.samples.append(sample)
        keep_from = sample.t - self.window_s - 1.0
        while self.samples and self.samples[0].t < keep_from:
            self.samples.pop(0)
        new = self._snapshot is None or len(distinct_snapshots([self._snapshot, sample])) == 2
        if new:
            if self._snapshot is not None:
                self.history.extend(_tasks_only(step)
                                    for step in task_timeline(graph, [self._snapshot, sample]))
            self._snapshot = sample
            self.snapshots += 1
        d = diagnose(graph, self.samples, window_s=self.window_s)
        self._diagnosis = d
        if d.verdict != Verdict.UNKNOWN:
            key = tuple((f.vertex_name or "?", str(f.cause)) for f in d.bottlenecks)
            last = self.moves[-1] if self.moves else None
            if last is None or (last.verdict, last.bottlenecks) != (d.verdict, key):
                self.moves.append(Move(sample.t, d.verdict, key))

    def state(self) -> WatchState:
        """The view of everything added so far (add() at least one sample first)."""
        d, latest = self._diagnosis, self.samples[-1]
        assert d is not None
        causes = {f.vertex_id: str(f.cause) for f in d.bottlenecks}
        return WatchState(
            job_id=d.job_id, job_name=d.job_name, job_state=d.job_state, t=latest.t,
            first_t=self.first_t or latest.t, uptime_s=d.uptime_s, verdict=d.verdict,
            confidence=d.confidence, window_s=d.window_s, polls=self.polls,
            snapshots=self.snapshots, tasks=[self._line(t, causes) for t in d.tasks],
            findings=list(d.bottlenecks),
            moves=list(self.moves), notes=list(d.notes),
        )

    def _line(self, t: TaskState, causes: dict[str | None, str]) -> TaskLine:
        points = [h.tasks.get(t.vertex_id) for h in self.history]
        return TaskLine(
            t.name, t.parallelism, t.busy, t.backpressured, t.idle, t.level,
            t.records_in_per_s, t.records_out_per_s,
            tuple(p.busy if p else None for p in points),
            tuple(p.backpressured if p else None for p in points),
            causes.get(t.vertex_id),
        )


def _tasks_only(step: TimelineStep) -> TimelineStep:
    """A step without its subtasks: the view's history shows tasks, and a step of a job of
    100,000 subtasks would otherwise hold 100,000 subtask states."""
    return TimelineStep(step.start, step.end,
                        {vid: replace(t, subtasks=[]) for vid, t in step.tasks.items()})


def build_state(graph: JobGraph, samples: Sequence[Sample], *,
                window_s: float = DEFAULT_WINDOW_S,
                history: int = HISTORY_SNAPSHOTS) -> WatchState:
    """The watch view after seeing `samples` (oldest first) of one job, poll by poll."""
    if not samples:
        raise ValueError("build_state(): no samples")
    w = Watcher(window_s, history)
    for s in samples:
        w.add(graph, s)
    return w.state()
