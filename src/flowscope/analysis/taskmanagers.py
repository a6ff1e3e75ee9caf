"""TaskManagers joined to the subtasks they run: CPU, GC time and heap next to busy subtasks.

A busy subtask on a TaskManager whose JVM uses little CPU is waiting off-CPU (I/O, sleeps,
locks); one on a TaskManager that spends a tenth of its time in GC is slowed by the collector;
a TaskManager with many busy subtasks and all its cores used is oversubscribed.

Pure: samples over a window (for counter rates, analysis.window.taskmanager_rates) and the
diagnosis's per-subtask busy ratios in; one TaskManagerLoad per TaskManager out, with what it
shows as typed statements (render.words.profile words them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from flowscope.analysis.cpu import jvm_cpu_is_off_cpu
from flowscope.analysis.findings import BUSY_HOT, TaskManagerFacts, TaskState
from flowscope.analysis.gc import GC_MS_PER_S
from flowscope.analysis.window import taskmanager_rates
from flowscope.model import JobGraph, Sample

HEAP_FULL = 0.9


class TaskManagerNote(StrEnum):
    """What a TaskManager's figures show."""

    GC_HEAVY = "gc-heavy"  # GC takes GC_MS_PER_S or more
    HEAP_FULL = "heap-full"  # the heap is HEAP_FULL or more used
    BUSY_OFF_CPU = "busy-off-cpu"  # busy subtasks, too little JVM CPU for on-CPU work
    BUSY_ON_CPU = "busy-on-cpu"  # busy subtasks, JVM CPU enough for on-CPU work


@dataclass(frozen=True)
class GcHeavy:
    kind: ClassVar[TaskManagerNote] = TaskManagerNote.GC_HEAVY
    gc_ms_per_s: float  # time in garbage collection, ms per second


@dataclass(frozen=True)
class HeapFull:
    kind: ClassVar[TaskManagerNote] = TaskManagerNote.HEAP_FULL
    heap_share: float  # used / max, 0..1


@dataclass(frozen=True)
class BusyOffCpu:
    kind: ClassVar[TaskManagerNote] = TaskManagerNote.BUSY_OFF_CPU
    busy_subtasks: int
    busy_cores: float  # the sum of the subtasks' busy ratios: cores' worth of busy time
    cores_used: float  # JVM CPU time per second, in cores


@dataclass(frozen=True)
class BusyOnCpu:
    kind: ClassVar[TaskManagerNote] = TaskManagerNote.BUSY_ON_CPU
    busy_subtasks: int
    cores_used: float  # JVM CPU time per second, in cores


TaskManagerStatement = GcHeavy | HeapFull | BusyOffCpu | BusyOnCpu
# What a profile's conclusions repeat about a TaskManager: memory pressure.
PRESSURE = frozenset({TaskManagerNote.GC_HEAVY, TaskManagerNote.HEAP_FULL})


@dataclass
class TaskManagerLoad:
    id: str
    host: str
    cpu_load: float | None  # the JVM's CPU load, 0..1 of the whole machine (Flink's gauge)
    cores_used: float | None  # JVM CPU time per second over the window, in cores
    gc_ms_per_s: float | None  # time in garbage collection, ms per second
    heap_used_bytes: float | None
    heap_max_bytes: float | None
    subtasks: list[str]  # "enrich[0]", ... of this job
    busy_subtasks: list[str]  # those busy >= BUSY_HOT
    busy_sum: float  # sum of busy ratios of this job's subtasks here (cores' worth of work)
    statements: list[TaskManagerStatement] = field(default_factory=list)

    @property
    def heap_share(self) -> float | None:
        if self.heap_used_bytes is None or not self.heap_max_bytes:
            return None
        return self.heap_used_bytes / self.heap_max_bytes

    @property
    def gc_share(self) -> float | None:
        return None if self.gc_ms_per_s is None else self.gc_ms_per_s / 1000.0


def correlate(
    graph: JobGraph, samples: Sequence[Sample], tasks: Sequence[TaskState]
) -> list[TaskManagerLoad]:
    """One entry per TaskManager of the job, busiest (by busy subtasks) first."""
    if not samples:
        return []
    latest = samples[-1]
    rates = taskmanager_rates(list(samples))
    names = {v.id: v.name for v in graph.vertices}
    busy_of = {(t.vertex_id, s.index): s.busy for t in tasks for s in t.subtasks}
    placed: dict[str, list[tuple[str, float | None]]] = {}
    hosts: dict[str, str] = {}
    for vid, subs in latest.subtasks.items():
        for st in subs:
            if not st.taskmanager_id:
                continue
            placed.setdefault(st.taskmanager_id, []).append(
                (f"{names.get(vid, vid)}[{st.index}]", busy_of.get((vid, st.index)))
            )
            hosts.setdefault(st.taskmanager_id, st.host)
    out = []
    for tm_id in sorted(set(placed) | set(latest.taskmanagers)):
        tm = latest.taskmanagers.get(tm_id)
        info = rates.get(tm_id, TaskManagerFacts())
        here = placed.get(tm_id, [])
        busy = [name for name, b in here if b is not None and b >= BUSY_HOT]
        load = TaskManagerLoad(
            id=tm_id, host=(tm.host if tm and tm.host else hosts.get(tm_id, "")),
            cpu_load=info.cpu_load, cores_used=info.cores_used,
            gc_ms_per_s=info.gc_ms_per_s, heap_used_bytes=info.heap_used_bytes,
            heap_max_bytes=info.heap_max_bytes, subtasks=[n for n, _ in here],
            busy_subtasks=busy, busy_sum=sum(b for _, b in here if b is not None),
        )
        load.statements = _statements(load)
        out.append(load)
    out.sort(key=lambda t: (-len(t.busy_subtasks), -t.busy_sum, t.id))
    return out


def _statements(t: TaskManagerLoad) -> list[TaskManagerStatement]:
    out: list[TaskManagerStatement] = []
    if t.gc_ms_per_s is not None and t.gc_ms_per_s >= GC_MS_PER_S:
        out.append(GcHeavy(t.gc_ms_per_s))
    if t.heap_share is not None and t.heap_share >= HEAP_FULL:
        out.append(HeapFull(t.heap_share))
    if t.busy_subtasks and t.cores_used is not None:
        if jvm_cpu_is_off_cpu(t.cores_used, t.busy_sum):
            out.append(BusyOffCpu(len(t.busy_subtasks), t.busy_sum, t.cores_used))
        else:
            out.append(BusyOnCpu(len(t.busy_subtasks), t.cores_used))
    return out
