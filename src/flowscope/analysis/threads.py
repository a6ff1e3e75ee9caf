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

Pure: task threads (parsed by flowscope.flink.stacks) in, dataclasses out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from flowscope.analysis.findings import Level, level_of
from flowscope.analysis.flame import MAILBOX_WAIT, FrameCounts, is_buffer_wait, is_native_io
from flowscope.model import JobGraph, Sample, ThreadSample

WAIT_STATES = frozenset({"WAITING", "TIMED_WAITING", "BLOCKED"})
SATURATED = 0.8  # busy + backpressured share of samples at which a receiver is saturated
MAX_SAMPLES = 100


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
    notes: list[str] = field(default_factory=list)

    def task(self, name: str) -> TaskSampling | None:
        return next((t for t in self.tasks if t.vertex_name == name), None)

    @property
    def disagreements(self) -> list[TaskSampling]:
        return [t for t in self.tasks if t.agrees is False]


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
    by_name = {v.name: v for v in graph.vertices}
    counts: dict[tuple[str, int], _Counts] = {}
    ambiguous: set[str] = set()
    for threads in rounds:
        latest: dict[tuple[str, int], ThreadSample] = {}
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
        for key, th in latest.items():
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

    bp: dict[tuple[str, int], float] = {}
    receivers: dict[tuple[str, int], list[str]] = {}
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

    metrics = metric_backpressured or {}
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
    hard = sum(c.hard for c in counts.values())
    waiting = sum(c.waiting for c in counts.values())
    notes = []
    if waiting and not hard:
        notes.append(
            "no task thread was blocked requesting an output buffer (hard backpressure); "
            "backpressured tasks wait in their mailbox like idle ones (Flink's soft "
            "backpressure), so mailbox waits count as backpressure only where a receiver "
            f"is saturated (busy or backpressured in >= {SATURATED:.0%} of its samples)"
        )
    if ambiguous:
        notes.append("left out (another job runs a task of the same name on the same "
                     "TaskManager): " + ", ".join(sorted(ambiguous)[:5]))
    missing = [v.name for v in graph.vertices if not any(k[0] == v.id for k in counts)]
    if missing:
        notes.append("no task thread found for: " + ", ".join(missing))
    if any(t.agrees is False for t in tasks):
        notes.append(
            "where sampling and time metrics disagree: the samples show the moment, the "
            "metrics average the last "
            + (f"{metric_window_s:.0f} s" if metric_window_s else "window")
            + "; after a start or a load change backpressure spreads upstream only as the "
            "in-flight buffers fill, so a sender can read idle in the metrics while the "
            "sampling already counts its waits against a saturated receiver"
        )
    span = (max(round_times) - min(round_times)) if len(round_times) >= 2 else 0.0
    return ThreadDumpReport(
        rounds=len(rounds), dumps=dumps if dumps is not None else len(rounds), span_s=span,
        tasks=tasks, subtasks=subtasks, hard_samples=hard, metric_window_s=metric_window_s,
        notes=notes,
    )
