"""A profile of one job as data: its parts, the conclusions drawn from them, and what it cost.

`conclude()` is pure: it reads the parts and states what they show together (where the time
of the profiled vertex goes, on or off CPU, which operator of a chain, Python UDFs) as typed
conclusions with their numbers. render.words.profile words them; nothing here writes a
sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from flowscope.analysis.checkpoints import CheckpointEvidence, CheckpointStatement
from flowscope.analysis.cpu import WorkSplit, is_mixed, jvm_cpu_is_off_cpu, split_work
from flowscope.analysis.findings import Diagnosis, Work
from flowscope.analysis.flame import (
    FlameSummary,
    HotFrame,
    OperatorTime,
    PythonTime,
    class_of,
    operator_for_class,
)
from flowscope.analysis.latency import Hop, LatencyReport
from flowscope.analysis.taskmanagers import PRESSURE, TaskManagerLoad, TaskManagerStatement
from flowscope.analysis.threads import TaskSampling, ThreadDumpReport
from flowscope.analysis.window import distinct_snapshots, subtask_windows
from flowscope.model import JobGraph, Sample


class TargetNotFound(ValueError):
    """`--vertex` matches no vertex, or several: the vertices it matches, and the names to
    choose from (those it matches, else every vertex's)."""

    def __init__(self, vertex: str, matches: list[str], candidates: list[str]) -> None:
        super().__init__(vertex, matches)
        self.vertex, self.matches, self.candidates = vertex, matches, candidates


class ChosenBy(StrEnum):
    """Why a vertex is the one profiled."""

    OPTION = "--vertex"
    BOTTLENECK = "bottleneck"
    BUSIEST = "busiest task"
    FIRST = "first vertex"  # no task has a busy ratio yet


@dataclass
class ProfileTarget:
    vertex_id: str
    vertex_name: str
    chosen_by: ChosenBy
    cause: str | None = None  # the diagnosis's cause when it is the bottleneck


class ProfileNote(StrEnum):
    """What a profile's parts show together."""

    MAILBOX_WAITS = "mailbox-waits"  # the vertex ran next to no code of its own
    HOT_METHOD = "hot-method"  # the method its work samples are in, on or off CPU
    CHAIN_SHARE = "chain-share"  # the operator of a chain the time belongs to
    PYTHON_UDF = "python-udf"  # the time is spent in a PyFlink UDF
    CORES_OVERSUBSCRIBED = "cores-oversubscribed"  # RUNNABLE threads, little JVM CPU
    JVM_CPU = "jvm-cpu"  # a TaskManager's JVM CPU agrees or disagrees with the flame graph
    THREAD_LEVELS = "thread-levels"  # thread-dump levels next to the time metrics' levels
    TASKMANAGER_PRESSURE = "taskmanager-pressure"  # GC or heap pressure on a TaskManager
    SLOWEST_HOP = "slowest-hop"  # the latency hop that adds the most
    CHECKPOINT = "checkpoint"  # the telling checkpoint's barriers


@dataclass(frozen=True)
class MailboxWaits:
    """The vertex ran next to no code of its own while sampled: idle or backpressured."""

    kind: ClassVar[ProfileNote] = ProfileNote.MAILBOX_WAITS
    vertex: str
    mailbox_samples: int
    samples: int  # on- and off-CPU samples


@dataclass(frozen=True)
class HotMethod:
    """The method that names the vertex's work and its share of the main view's samples."""

    kind: ClassVar[ProfileNote] = ProfileNote.HOT_METHOD
    vertex: str
    view: str  # the flame graph view the share is of: "on_cpu" | "off_cpu"
    share: float  # 0..1
    method: str
    operator: str | None
    work: Work  # ON_CPU or OFF_CPU
    mixed_on_cpu_share: float | None  # a mixed split: the work samples' on-CPU share, 0..1


@dataclass(frozen=True)
class ChainShare:
    """Inside a chained vertex, the operator the time belongs to."""

    kind: ClassVar[ProfileNote] = ProfileNote.CHAIN_SHARE
    chain: str  # the vertex name
    operator: str
    share: float  # of the view's samples, 0..1
    method: str | None  # its top user method
    others: tuple[OperatorTime, ...]  # the next operators (up to two) with >= 1% of samples
    matched_by: str


@dataclass(frozen=True)
class PythonUdf:
    """Samples of the vertex spent in a PyFlink UDF."""

    kind: ClassVar[ProfileNote] = ProfileNote.PYTHON_UDF
    vertex: str
    mode: str  # "process" (waits for the Python worker) | "thread" (CPython in the JVM)
    samples: int
    of_samples: int  # on- and off-CPU samples


@dataclass(frozen=True)
class CoresOversubscribed:
    """Threads RUNNABLE in the flame graph, yet the TaskManager's JVM gets little CPU."""

    kind: ClassVar[ProfileNote] = ProfileNote.CORES_OVERSUBSCRIBED
    taskmanager: str
    cores_used: float  # JVM CPU time per second, in cores
    busy_cores: float  # the sum of the busy ratios of the job's subtasks there


@dataclass(frozen=True)
class JvmCpu:
    """A TaskManager's JVM CPU next to the flame graph's on-/off-CPU class."""

    kind: ClassVar[ProfileNote] = ProfileNote.JVM_CPU
    taskmanager: str
    cores_used: float  # JVM CPU time per second, in cores
    busy_cores: float  # the sum of the busy ratios of the job's subtasks there
    agrees: bool
    work: Work  # the flame graph's class


@dataclass(frozen=True)
class ThreadLevels:
    """Thread-dump sampling's level per task, and where Flink's time metrics differ."""

    kind: ClassVar[ProfileNote] = ProfileNote.THREAD_LEVELS
    rounds: int
    tasks: tuple[TaskSampling, ...]
    disagreeing: tuple[TaskSampling, ...]


@dataclass(frozen=True)
class TaskManagerPressure:
    """A TaskManager statement worth repeating among the conclusions (GC, heap)."""

    kind: ClassVar[ProfileNote] = ProfileNote.TASKMANAGER_PRESSURE
    taskmanager: str
    note: TaskManagerStatement


@dataclass(frozen=True)
class SlowestHop:
    """The latency hop that adds the most."""

    kind: ClassVar[ProfileNote] = ProfileNote.SLOWEST_HOP
    hop: Hop


@dataclass(frozen=True)
class CheckpointBarriers:
    """The first statement of the checkpoint that tells most (slowed, then longest)."""

    kind: ClassVar[ProfileNote] = ProfileNote.CHECKPOINT
    note: CheckpointStatement


Conclusion = (MailboxWaits | HotMethod | ChainShare | PythonUdf | CoresOversubscribed | JvmCpu
              | ThreadLevels | TaskManagerPressure | SlowestHop | CheckpointBarriers)


@dataclass
class FlameProfile:
    on_cpu: FlameSummary
    off_cpu: FlameSummary
    work: WorkSplit
    waited_s: float
    stale: bool = False


@dataclass
class ProfileStats:
    """What the profile cost: requests to the REST API and wall time (s)."""

    requests: int = 0  # all of them, the diagnosis's included
    wall_s: float = 0.0
    diagnose_polls: int = 0
    diagnose_requests: int = 0
    diagnose_s: float = 0.0
    flame_requests: int = 0
    flame_wait_s: float = 0.0
    thread_dump_rounds: int = 0
    thread_dumps: int = 0
    thread_dump_s: float = 0.0
    thread_samples: int = 0  # task-thread samples analysed


@dataclass
class ProfileReport:
    job_id: str
    job_name: str
    t: float  # epoch seconds at the end of the profile
    verdict: str  # the quick diagnosis's verdict
    bottlenecks: list[str]  # "enrich (compute-bound)"
    target: ProfileTarget | None
    flame: FlameProfile | None = None
    threads: ThreadDumpReport | None = None
    taskmanagers: list[TaskManagerLoad] = field(default_factory=list)
    latency: LatencyReport | None = None
    checkpoints: list[CheckpointEvidence] = field(default_factory=list)
    conclusions: list[Conclusion] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # part -> why it is missing
    stats: ProfileStats = field(default_factory=ProfileStats)


def flame_profile(on: FlameSummary, off: FlameSummary, waited_s: float = 0.0,
                  stale: bool = False) -> FlameProfile:
    return FlameProfile(on, off, split_work(on, off), waited_s, stale)


def conclude(report: ProfileReport) -> list[Conclusion]:
    """What the parts show together, with their numbers."""
    out: list[Conclusion] = []
    if report.flame is not None and report.target is not None:
        out.extend(_flame_conclusions(report.flame, report.target.vertex_name,
                                      report.taskmanagers))
    th = report.threads
    if th is not None and th.tasks:
        out.append(ThreadLevels(th.rounds, tuple(th.tasks), tuple(th.disagreements)))
    out.extend(TaskManagerPressure(t.id, s) for t in report.taskmanagers
               for s in t.statements if s.kind in PRESSURE)
    if report.latency is not None and report.latency.slowest is not None:
        out.append(SlowestHop(report.latency.slowest))
    telling = max(report.checkpoints, default=None,
                  key=lambda c: (c.slowed, c.end_to_end_ms or 0.0))
    if telling is not None:
        out.extend(CheckpointBarriers(s) for s in telling.statements[:1])
    return out


def _flame_conclusions(
    f: FlameProfile, name: str, taskmanagers: Sequence[TaskManagerLoad]
) -> list[Conclusion]:
    """Where the vertex's time goes, which operator of its chain, Python UDFs, and its
    TaskManagers' JVM CPU next to the flame graph's class."""
    main = f.on_cpu if f.work.kind != Work.OFF_CPU else f.off_cpu
    both = f.on_cpu.samples + f.off_cpu.samples
    out: list[Conclusion] = []
    if f.work.kind == Work.WAITING:
        out.append(MailboxWaits(name, f.work.mailbox_samples, both))
    elif main.hot_frames:
        hot = _work_frame(main)
        mixed = 1 - f.work.split.off_share if is_mixed(f.work.split) else None
        out.append(HotMethod(name, main.kind, hot.share, hot.method, hot.operator,
                             f.work.kind, mixed))
    ops = [o for o in main.operators if o.samples]
    if len(_chain(name)) > 1 and ops:
        top = ops[0]
        out.append(ChainShare(name, top.operator, top.share, top.top_method,
                              tuple(o for o in ops[1:3] if o.share >= 0.01), top.matched_by))
    py = f.on_cpu.python or f.off_cpu.python
    if py is not None:
        samples = sum(p.samples for p in (f.on_cpu.python, f.off_cpu.python) if p)
        out.append(PythonUdf(name, py.mode, samples, both))
    out.extend(_jvm_cpu(f.work.kind, name, taskmanagers, py))
    return out


def _jvm_cpu(
    work: Work, name: str, taskmanagers: Sequence[TaskManagerLoad], py: PythonTime | None
) -> list[Conclusion]:
    """Each TaskManager running a busy subtask of the vertex: its JVM CPU next to the flame
    graph's class of the work."""
    if py is not None and py.mode == "process":
        return []  # the UDF burns the Python worker's CPU, which the JVM's does not include
    out: list[Conclusion] = []
    for t in taskmanagers:
        if t.cores_used is None or not any(
                s.rpartition("[")[0] == name for s in t.busy_subtasks):
            continue
        on_cpu = not jvm_cpu_is_off_cpu(t.cores_used, max(t.busy_sum, 1e-9))
        if work == Work.ON_CPU and not on_cpu:
            # Java reports a thread waiting for a core as RUNNABLE.
            out.append(CoresOversubscribed(t.id, t.cores_used, t.busy_sum))
        elif work in (Work.ON_CPU, Work.OFF_CPU):
            out.append(JvmCpu(t.id, t.cores_used, t.busy_sum, (work == Work.ON_CPU) == on_cpu,
                              work))
    return out


def _work_frame(summary: FlameSummary) -> HotFrame:
    """The hot frame that names the work: the innermost of the frames tied at the top that
    belongs to an operator's class, else the top frame."""
    top = summary.hot_frames[0]
    tied = [h for h in summary.hot_frames if h.samples >= 0.9 * top.samples]
    named = [h for h in tied
             if h.operator and operator_for_class(class_of(h.method), [h.operator])]
    return named[-1] if named else tied[-1]


def _chain(name: str) -> list[str]:
    return [p for p in name.split(" -> ") if p]


def choose_target(graph: JobGraph, diagnosis: Diagnosis, vertex: str | None) -> ProfileTarget:
    """The vertex to profile: `vertex` (id, exact or unique partial name), else the first
    located bottleneck, else the busiest task."""
    if vertex:
        for v in graph.vertices:
            if vertex in (v.id, v.name):
                return ProfileTarget(v.id, v.name, ChosenBy.OPTION, _cause_of(diagnosis, v.id))
        partial = [v for v in graph.vertices if vertex.lower() in v.name.lower()]
        if len(partial) == 1:
            v = partial[0]
            return ProfileTarget(v.id, v.name, ChosenBy.OPTION, _cause_of(diagnosis, v.id))
        raise TargetNotFound(vertex, [v.name for v in partial],
                             [v.name for v in (partial or graph.vertices)])
    for f in diagnosis.bottlenecks:
        if f.vertex_id:
            return ProfileTarget(f.vertex_id, f.vertex_name or f.vertex_id, ChosenBy.BOTTLENECK,
                                 str(f.cause))
    busiest = max(diagnosis.tasks, key=lambda t: t.busy or 0.0, default=None)
    if busiest is None:
        v = graph.vertices[0]
        return ProfileTarget(v.id, v.name, ChosenBy.FIRST)
    return ProfileTarget(busiest.vertex_id, busiest.name, ChosenBy.BUSIEST)


RECENT_S = 20.0  # time metrics compared with thread dumps: the last ~two metric refreshes


def recent_backpressure(
    samples: Sequence[Sample], diagnosis: Diagnosis
) -> tuple[dict[tuple[str, int], float | None], float]:
    """Per subtask the backpressured ratio (0..1) from counters over the newest RECENT_S
    seconds of distinct metric snapshots: the time metrics closest to the thread dumps that
    follow. A subtask without counter deltas there keeps the diagnosis's value. Returns the
    ratios and the span (s) they cover."""
    distinct = distinct_snapshots(list(samples))
    recent = [s for s in distinct if distinct and s.t >= distinct[-1].t - RECENT_S]
    out: dict[tuple[str, int], float | None] = {
        (t.vertex_id, s.index): s.backpressured for t in diagnosis.tasks for s in t.subtasks}
    spans = []
    if len(recent) >= 2:
        for vid, ws in subtask_windows(recent).items():
            for w in ws:
                if w.basis == "counters":
                    out[(vid, w.index)] = w.backpressured
                    spans.append(w.span_s)
    return out, (max(spans) if spans else diagnosis.window_s)


def _cause_of(diagnosis: Diagnosis, vertex_id: str) -> str | None:
    return next((str(f.cause) for f in diagnosis.bottlenecks if f.vertex_id == vertex_id), None)
