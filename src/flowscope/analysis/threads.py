"""The 2019 sampling backpressure monitor, rebuilt on `/taskmanagers/:tmid/thread-dump`.

Flink up to 1.9 sampled each task thread's stack and counted the samples blocked requesting an
output buffer (`LocalBufferPool.requestBufferBuilderBlocking`): OK <= 0.10 < LOW <= 0.5 < HIGH.
Since the mailbox model (Flink 1.10) a task whose output is full no longer blocks there: it
stops taking input and waits in its mailbox (`TaskMailboxImpl.take`), exactly as it does when
it has no input. On a real Flink 2.3 compute-bound job every backpressured task thread showed
that mailbox wait and none showed `LocalBufferPool`; Flink counts the former as *soft* and the
latter (still possible: one record spanning several buffers) as *hard* backpressure.

So each sample of a task thread is one of
  busy     working on records (on CPU, or off CPU inside user code: I/O, sleeps, locks)
  hard     blocked requesting an output buffer: backpressure seen directly
  waiting  waiting in the mailbox: idle, or soft backpressure; the stack cannot tell
and a subtask's waiting samples count as backpressure when a subtask it sends to is saturated
(busy, hard-blocked or itself backpressured in at least SATURATED of its samples): a task
waits for output only when a receiver does not keep up. That attribution is an inference;
the report says so and compares the resulting level with Flink's time metrics.

Pure: task threads (parsed by flowscope.flink.stacks) in, dataclasses out, with what they
show as typed statements (render.words.profile words them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from flowscope.analysis.findings import Level, level_of
from flowscope.analysis.flame import MAILBOX_WAIT, FrameCounts, is_buffer_wait, is_native_io
from flowscope.model import JobGraph, Sample, ThreadSample

WAIT_STATES = frozenset({"WAITING", "TIMED_WAITING", "BLOCKED"})
SATURATED = 0.8  # busy + backpressured share of samples at which a receiver is saturated
MAX_SAMPLES = 100


class ThreadNote(StrEnum):
    """What the thread-dump sampling shows beside the levels, or why it is partial."""

    SOFT_ONLY = "soft-only"  # no hard backpressure: mailbox waits need a saturated receiver
    SAME_NAME = "same-name"  # threads left out: another job's task has the same name
    NOT_FOUND = "not-found"  # vertices without a task thread in any dump
    SAMPLED_VS_AVERAGED = "sampled-vs-averaged"  # why sampling and time metrics can differ
    STOPPED_AT_DEADLINE = "stopped-at-deadline"  # fewer rounds than asked: the time limit
    NO_DUMP = "no-dump"  # TaskManagers that gave no thread dump


@dataclass(frozen=True)
class SoftBackpressureOnly:
    """Task threads waited in the mailbox but none blocked requesting an output buffer."""

    kind: ClassVar[ThreadNote] = ThreadNote.SOFT_ONLY
    saturated: float  # the busy + backpressured share at which a receiver is saturated, 0..1


@dataclass(frozen=True)
class SameNameElsewhere:
    kind: ClassVar[ThreadNote] = ThreadNote.SAME_NAME
    subtasks: tuple[str, ...]  # "parse[0]", ..., sorted


@dataclass(frozen=True)
class NoThreadFound:
    kind: ClassVar[ThreadNote] = ThreadNote.NOT_FOUND
    vertices: tuple[str, ...]  # vertex names


@dataclass(frozen=True)
class SampledVersusAveraged:
    """Some task's sampled level differs from its time metrics' level."""

    kind: ClassVar[ThreadNote] = ThreadNote.SAMPLED_VS_AVERAGED
    metric_window_s: float | None  # the span the time metrics average


@dataclass(frozen=True)
class StoppedAtDeadline:
    kind: ClassVar[ThreadNote] = ThreadNote.STOPPED_AT_DEADLINE
    rounds: int
    limit_s: float


@dataclass(frozen=True)
class NoDumpFrom:
    kind: ClassVar[ThreadNote] = ThreadNote.NO_DUMP
    taskmanagers: tuple[str, ...]


ThreadStatement = (SoftBackpressureOnly | SameNameElsewhere | NoThreadFound
                   | SampledVersusAveraged | StoppedAtDeadline | NoDumpFrom)


def levels_agree(sampled: Level, measured: Level) -> bool | None:
    """Whether the sampled level matches Flink's time metrics; None when either is unknown."""
    if Level.UNKNOWN in (sampled, measured):
        return None
    return sampled == measured


def thread_kind(t: ThreadSample) -> str:
    """"hard" (blocked requesting an output buffer), "waiting" (in the mailbox: idle or soft
    backpressure) or "busy" (working on records, on or off CPU)."""
    if any(is_buffer_wait(f) for f in t.frames):
        return "hard"
    if t.state in WAIT_STATES and MAILBOX_WAIT in t.frames:
        return "waiting"
    return "busy"


def thread_on_cpu(t: ThreadSample) -> bool:
    """A busy thread that runs on a CPU: RUNNABLE and not inside native I/O (which the JVM
    reports as RUNNABLE although the thread waits)."""
    return t.state == "RUNNABLE" and not is_native_io(t.frames)


def vertex_threads(samples: Sequence[Sample], graph: JobGraph,
                   vertex_id: str) -> Iterator[ThreadSample]:
    """The task threads of a vertex's subtasks in the samples' thread dumps: a thread counts
    when its name is the vertex's, it is the only one of that name in its dump, and the
    subtask (index and attempt) ran on that TaskManager at the poll (thread names carry no
    job id; another job's task of the same name is not this one's)."""
    name = graph.vertex(vertex_id).name
    for s in samples:
        if not s.thread_dumps:
            continue
        where = {(st.index, st.attempt): st.taskmanager_id for st in s.subtasks.get(vertex_id, [])}
        for tm, threads in s.thread_dumps.items():
            names = Counter((t.task, t.subtask, t.attempt) for t in threads)
            for t in threads:
                if (t.task == name and names[(t.task, t.subtask, t.attempt)] == 1
                        and where.get((t.subtask, t.attempt)) == tm):
                    yield t


def frame_counts(samples: Sequence[Sample], graph: JobGraph, vertex_id: str) -> FrameCounts:
    """A vertex's thread-dump samples by what their stacks show (see FrameCounts)."""
    counts = FrameCounts()
    for t in vertex_threads(samples, graph, vertex_id):
        counts.add(t.frames)
    return counts


@dataclass
class SubtaskSampling:
    """One subtask over all thread-dump rounds. Ratios are shares of its samples, 0..1."""

    vertex_id: str
    vertex_name: str
    index: int
    taskmanager_id: str
    samples: int
    busy: float
    on_cpu: float  # busy and RUNNABLE
    hard: float  # blocked requesting an output buffer
    waiting: float  # waiting in the mailbox (idle or soft backpressure)
    backpressured: float  # hard + waiting attributed to a saturated receiver
    level: Level
    saturated_receivers: list[str] = field(default_factory=list)  # e.g. ["enrich[0]"]
    metric_backpressured: float | None = None  # Flink's time metrics over the diagnosis window
    metric_level: Level = Level.UNKNOWN

    @property
    def agrees(self) -> bool | None:
        return levels_agree(self.level, self.metric_level)


@dataclass
class TaskSampling:
    """A vertex as the sampling monitor sees it: the max over its subtasks, like Flink's UI."""

    vertex_id: str
    vertex_name: str
    backpressured: float | None
    level: Level
    busy: float | None
    metric_backpressured: float | None
    metric_level: Level

    @property
    def agrees(self) -> bool | None:
        return levels_agree(self.level, self.metric_level)


@dataclass
class ThreadDumpReport:
    rounds: int  # thread-dump rounds (one dump per TaskManager each)
    dumps: int  # thread-dump responses read
    span_s: float  # from the first to the last round
    tasks: list[TaskSampling]
    subtasks: list[SubtaskSampling]
    hard_samples: int  # samples blocked in LocalBufferPool, over all subtasks
    metric_window_s: float | None = None  # the span of the time metrics compared with
    notes: list[ThreadStatement] = field(default_factory=list)

    def task(self, name: str) -> TaskSampling | None:
        return next((t for t in self.tasks if t.vertex_name == name), None)

    @property
    def disagreements(self) -> list[TaskSampling]:
        return [t for t in self.tasks if t.agrees is False]


Key = tuple[str, int]  # (vertex id, subtask index)


@dataclass
class _Counts:
    n: int = 0
    busy: int = 0
    on_cpu: int = 0
    hard: int = 0
    waiting: int = 0
    tm: str = ""


def analyse_thread_dumps(
    graph: JobGraph,
    rounds: Sequence[Sequence[ThreadSample]],
    *,
    round_times: Sequence[float] = (),
    metric_backpressured: Mapping[tuple[str, int], float | None] | None = None,
    placement: Mapping[tuple[str, int], str] | None = None,
    dumps: int | None = None,
    metric_window_s: float | None = None,
) -> ThreadDumpReport:
    """Per subtask: shares of busy / hard-blocked / waiting samples, the backpressure ratio and
    level, and the level Flink's time metrics give (`metric_backpressured`, keyed by
    (vertex id, subtask index), ratio 0..1) for comparison.

    `rounds` holds, per round, the task threads of every TaskManager dumped in that round.
    Thread names carry no job id: with `placement` ((vertex id, subtask) -> TaskManager id,
    from the job's vertex details) a thread found on another TaskManager is another job's,
    and two threads of the same name on one TaskManager are left out as ambiguous.
    """
    counts, ambiguous = _count(graph, rounds, placement or {})
    bp, receivers = _backpressure(graph, counts)
    tasks, subtasks = _sampling(graph, counts, bp, receivers, metric_backpressured or {})
    span = (max(round_times) - min(round_times)) if len(round_times) >= 2 else 0.0
    return ThreadDumpReport(
        rounds=len(rounds), dumps=dumps if dumps is not None else len(rounds), span_s=span,
        tasks=tasks, subtasks=subtasks, hard_samples=sum(c.hard for c in counts.values()),
        metric_window_s=metric_window_s,
        notes=_notes(graph, counts, ambiguous, tasks, metric_window_s),
    )


def _count(
    graph: JobGraph, rounds: Sequence[Sequence[ThreadSample]], placement: Mapping[Key, str]
) -> tuple[dict[Key, _Counts], set[str]]:
    """Per subtask its samples of each kind over the rounds, and the subtasks left out as
    ambiguous ("parse[0]": two threads of that name on one TaskManager)."""
    counts: dict[Key, _Counts] = {}
    ambiguous: set[str] = set()
    for threads in rounds:
        for key, th in _this_jobs_threads(graph, threads, placement, ambiguous).items():
            c = counts.setdefault(key, _Counts())
            c.n += 1
            c.tm = th.taskmanager_id or c.tm
            kind = thread_kind(th)
            if kind == "busy":
                c.busy += 1
                c.on_cpu += thread_on_cpu(th)
            elif kind == "hard":
                c.hard += 1
            else:
                c.waiting += 1
    return counts, ambiguous


def _this_jobs_threads(
    graph: JobGraph, threads: Sequence[ThreadSample], placement: Mapping[Key, str],
    ambiguous: set[str],
) -> dict[Key, ThreadSample]:
    """One round's thread per subtask of the job (the newest attempt); threads on another
    TaskManager than the subtask's are another job's, and a name twice on one TaskManager is
    added to `ambiguous` and left out."""
    by_name = {v.name: v for v in graph.vertices}
    latest: dict[Key, ThreadSample] = {}
    seen: dict[tuple[str, str, int, int], int] = {}
    for th in threads:
        ident = (th.taskmanager_id, th.task, th.subtask, th.attempt)
        seen[ident] = seen.get(ident, 0) + 1
    for th in threads:
        v = by_name.get(th.task)
        if v is None or v.parallelism != th.parallelism:
            continue
        key = (v.id, th.subtask)
        if placement and placement.get(key) not in (None, "", th.taskmanager_id):
            continue
        if seen[(th.taskmanager_id, th.task, th.subtask, th.attempt)] > 1:
            ambiguous.add(f"{th.task}[{th.subtask}]")
            continue
        if key not in latest or th.attempt > latest[key].attempt:
            latest[key] = th
    return latest


def _backpressure(
    graph: JobGraph, counts: Mapping[Key, _Counts]
) -> tuple[dict[Key, float], dict[Key, list[str]]]:
    """Per subtask its backpressured share (hard, plus waits when a receiver is saturated)
    and its saturated receivers."""
    bp: dict[Key, float] = {}
    receivers: dict[Key, list[str]] = {}
    # From the sinks up: a receiver's own backpressure must be known first.
    for v in reversed(graph.topological()):
        for idx in range(v.parallelism):
            mine = counts.get((v.id, idx))
            if mine is None or mine.n == 0:
                continue
            hot = []
            for e in graph.outputs(v.id):
                d = graph.vertex(e.target)
                targets = [idx] if e.is_forward and v.parallelism == d.parallelism else range(
                    d.parallelism)
                for t in targets:
                    dc = counts.get((d.id, t))
                    if dc is None or dc.n == 0:
                        continue
                    load = (dc.busy + dc.hard) / dc.n + bp.get((d.id, t), 0.0)
                    if load >= SATURATED:
                        hot.append(f"{d.name}[{t}]")
            receivers[(v.id, idx)] = hot
            bp[(v.id, idx)] = min(1.0, (mine.hard + (mine.waiting if hot else 0)) / mine.n)
    return bp, receivers


def _sampling(
    graph: JobGraph, counts: Mapping[Key, _Counts], bp: Mapping[Key, float],
    receivers: Mapping[Key, list[str]], metrics: Mapping[Key, float | None],
) -> tuple[list[TaskSampling], list[SubtaskSampling]]:
    """Per task and subtask: the sampled level next to the time metrics' level."""
    subtasks: list[SubtaskSampling] = []
    tasks: list[TaskSampling] = []
    for v in graph.topological():
        subs = []
        for idx in range(v.parallelism):
            sc = counts.get((v.id, idx))
            metric = metrics.get((v.id, idx))
            if sc is None or sc.n == 0:
                continue
            ratio = bp[(v.id, idx)]
            subs.append(SubtaskSampling(
                vertex_id=v.id, vertex_name=v.name, index=idx, taskmanager_id=sc.tm,
                samples=sc.n, busy=sc.busy / sc.n, on_cpu=sc.on_cpu / sc.n, hard=sc.hard / sc.n,
                waiting=sc.waiting / sc.n, backpressured=ratio, level=level_of(ratio),
                saturated_receivers=receivers.get((v.id, idx), []),
                metric_backpressured=metric, metric_level=level_of(metric),
            ))
        subtasks.extend(subs)
        sampled = [s.backpressured for s in subs]
        measured = [m for m in (metrics.get((v.id, i)) for i in range(v.parallelism))
                    if m is not None]
        top = max(sampled) if sampled else None
        mtop = max(measured) if measured else None
        tasks.append(TaskSampling(
            vertex_id=v.id, vertex_name=v.name, backpressured=top, level=level_of(top),
            busy=max((s.busy for s in subs), default=None),
            metric_backpressured=mtop, metric_level=level_of(mtop),
        ))
    return tasks, subtasks


def _notes(
    graph: JobGraph, counts: Mapping[Key, _Counts], ambiguous: set[str],
    tasks: Sequence[TaskSampling], metric_window_s: float | None,
) -> list[ThreadStatement]:
    notes: list[ThreadStatement] = []
    hard = sum(c.hard for c in counts.values())
    waiting = sum(c.waiting for c in counts.values())
    if waiting and not hard:
        notes.append(SoftBackpressureOnly(SATURATED))
    if ambiguous:
        notes.append(SameNameElsewhere(tuple(sorted(ambiguous))))
    missing = [v.name for v in graph.vertices if not any(k[0] == v.id for k in counts)]
    if missing:
        notes.append(NoThreadFound(tuple(missing)))
    if any(t.agrees is False for t in tasks):
        notes.append(SampledVersusAveraged(metric_window_s))
    return notes
