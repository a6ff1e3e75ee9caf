"""Two windows of a job compared: per task busy / backpressured / idle and rates before and
after, where the bottleneck went, causes that appeared or went away, the throughput change.
Pure.

A difference counts only beyond the noise band, measured on the lab by running the same job
twice with the same parallelism (bench/diff_noise.py prints the figures): between two runs'
60 s windows a task's ratios moved by at most 0.057 and its rates by at most 6.1 % (a
backpressured job, whose hot subtask's speed follows the machine's load), between 30 s halves
of one run by at most 0.108 and 11 %. RATIO_NOISE and RATE_NOISE cover the 60 s windows
`diff` compares by default with room; rates under MIN_RATE records/s on both sides are too
small to compare relatively.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from flowscope.analysis.findings import Cause, Diagnosis, Level, TaskState, Verdict
from flowscope.analysis.flow import sustained_rate
from flowscope.model import JobGraph, Sample

# Half-widths of the noise band (see the module's docstring and bench/diff_noise.py).
RATIO_NOISE = 0.10  # absolute, on busy / backpressured / idle (0..1)
RATE_NOISE = 0.10  # relative, on records/s
MIN_RATE = 5.0  # records/s: below this on both sides, rates count as equal


class BottleneckChange(StrEnum):
    GONE = "gone"  # a bottleneck before, none after
    MOVED = "moved"  # a bottleneck on both sides, on other vertices
    UNCHANGED = "unchanged"  # the same vertices (or none on either side)
    APPEARED = "appeared"  # none before, one after


@dataclass(frozen=True)
class Pair:
    """One quantity before and after (None where not measured)."""

    before: float | None
    after: float | None

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    @property
    def relative(self) -> float | None:
        """The change over the larger of the two (None when either is unknown or both are 0)."""
        if self.before is None or self.after is None:
            return None
        scale = max(abs(self.before), abs(self.after))
        return (self.after - self.before) / scale if scale else 0.0


def ratio_moved(p: Pair) -> bool:
    """Whether a ratio (0..1) moved beyond the noise band."""
    return p.delta is not None and abs(p.delta) > RATIO_NOISE


def rate_moved(p: Pair) -> bool:
    """Whether a rate (records/s) moved beyond the noise band."""
    if p.before is None or p.after is None:
        return False
    if max(p.before, p.after) < MIN_RATE:
        return False
    rel = p.relative
    return rel is not None and abs(rel) > RATE_NOISE


@dataclass(frozen=True)
class TaskDelta:
    """One task in both windows (matched by vertex id, else by name)."""

    name: str
    parallelism: tuple[int, int]
    busy: Pair
    backpressured: Pair
    idle: Pair
    records_in_per_s: Pair
    records_out_per_s: Pair
    level: tuple[Level, Level]

    @property
    def changed(self) -> bool:
        """Beyond the noise band in any ratio or rate, or a new parallelism."""
        return (self.parallelism[0] != self.parallelism[1]
                or any(ratio_moved(p) for p in (self.busy, self.backpressured, self.idle))
                or any(rate_moved(p) for p in (self.records_in_per_s,
                                                 self.records_out_per_s)))


@dataclass(frozen=True)
class CauseChange:
    cause: Cause
    vertex_name: str | None


@dataclass(frozen=True)
class WindowRef:
    """One side of the comparison."""

    job_id: str
    job_name: str
    t: float  # epoch s of the newest sample
    window_s: float
    verdict: Verdict
    bottlenecks: tuple[str, ...]


@dataclass(frozen=True)
class WindowDiff:
    a: WindowRef
    b: WindowRef
    tasks: tuple[TaskDelta, ...]
    only_a: tuple[str, ...]  # tasks of A that B does not have
    only_b: tuple[str, ...]
    bottleneck: BottleneckChange
    appeared: tuple[CauseChange, ...]
    gone: tuple[CauseChange, ...]
    throughput: Pair  # records/s at the sources that the job carries through

    @property
    def throughput_moved(self) -> bool:
        return rate_moved(self.throughput)

    @property
    def within_noise(self) -> bool:
        """No task, cause, bottleneck or throughput changed beyond the noise band."""
        return (not any(t.changed for t in self.tasks) and not self.only_a and not self.only_b
                and self.bottleneck == BottleneckChange.UNCHANGED and not self.appeared
                and not self.gone and not self.throughput_moved)


def _ref(d: Diagnosis) -> WindowRef:
    return WindowRef(d.job_id, d.job_name, d.t, d.window_s, d.verdict,
                     tuple(f.vertex_name or "" for f in d.bottlenecks))


def throughput(d: Diagnosis) -> float | None:
    """Records/s at the sources that the job carries through to its sinks (see
    `flow.sustained_rate`)."""
    return sustained_rate(d)


def _delta(a: TaskState, b: TaskState) -> TaskDelta:
    return TaskDelta(
        name=b.name, parallelism=(a.parallelism, b.parallelism),
        busy=Pair(a.busy, b.busy), backpressured=Pair(a.backpressured, b.backpressured),
        idle=Pair(a.idle, b.idle),
        records_in_per_s=Pair(a.records_in_per_s, b.records_in_per_s),
        records_out_per_s=Pair(a.records_out_per_s, b.records_out_per_s),
        level=(a.level, b.level))


def _causes(d: Diagnosis) -> set[tuple[Cause, str | None]]:
    return {(f.cause, f.vertex_name) for f in d.findings}


def compare(a: Diagnosis, b: Diagnosis) -> WindowDiff:
    """What changed from window `a` to window `b` (of one job, or of two runs of it)."""
    by_id = {t.vertex_id: t for t in a.tasks}
    by_name = {t.name: t for t in a.tasks}
    matched: list[TaskDelta] = []
    seen: set[str] = set()
    only_b = []
    for t in b.tasks:
        old = by_id.get(t.vertex_id) or by_name.get(t.name)
        if old is None:
            only_b.append(t.name)
            continue
        seen.add(old.vertex_id)
        matched.append(_delta(old, t))
    only_a = tuple(t.name for t in a.tasks if t.vertex_id not in seen)
    before = {f.vertex_name for f in a.bottlenecks}
    after = {f.vertex_name for f in b.bottlenecks}
    if before and not after:
        change = BottleneckChange.GONE
    elif after and not before:
        change = BottleneckChange.APPEARED
    elif before != after:
        change = BottleneckChange.MOVED
    else:
        change = BottleneckChange.UNCHANGED
    ca, cb = _causes(a), _causes(b)
    order = sorted
    return WindowDiff(
        a=_ref(a), b=_ref(b), tasks=tuple(matched), only_a=only_a, only_b=tuple(only_b),
        bottleneck=change,
        appeared=tuple(CauseChange(c, v) for c, v in order(cb - ca, key=str)),
        gone=tuple(CauseChange(c, v) for c, v in order(ca - cb, key=str)),
        throughput=Pair(throughput(a), throughput(b)))


def change_points(graphs: Sequence[JobGraph], samples: Sequence[Sample]) -> list[int]:
    """Indexes of the samples at which the job changed: a new job id, another parallelism of
    some vertex, or a subtask on a newer attempt (a restart) than the sample before."""
    out = []
    for i in range(1, len(samples)):
        a, b = samples[i - 1], samples[i]
        if a.job_id != b.job_id or _parallelism(graphs[i - 1]) != _parallelism(graphs[i]):
            out.append(i)
            continue
        before = {(vid, s.index): s.attempt for vid, subs in a.subtasks.items() for s in subs}
        if any(before.get((vid, s.index), s.attempt) < s.attempt
               for vid, subs in b.subtasks.items() for s in subs):
            out.append(i)
    return out


def _parallelism(g: JobGraph) -> dict[str, int]:
    return {v.id: v.parallelism for v in g.vertices}
