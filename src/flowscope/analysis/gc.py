"""Garbage collection that slows a job: pauses stall every task of a TaskManager. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowscope.analysis.findings import (
    Action,
    ActionKind,
    Cause,
    Evidence,
    Fact,
    Finding,
    TaskManagerFacts,
    Why,
)

if TYPE_CHECKING:
    from flowscope.analysis.evidence import JobEvidence

GC_MS_PER_S = 100.0  # 10% of the time in GC


def gc_persists(tm: TaskManagerFacts) -> bool:
    """GC pressure that holds: at least GC_MS_PER_S over the window, and in most of (at
    least two of) its intervals. A JVM collects hard while a job starts (class loading, JIT,
    state set-up); one such interval is not pressure."""
    if tm.gc_ms_per_s is None or tm.gc_ms_per_s < GC_MS_PER_S:
        return False
    hot = sum(1 for x in tm.gc_intervals if x >= GC_MS_PER_S)
    return hot >= 2 and hot >= 0.6 * len(tm.gc_intervals)


def gc_finding(ev: JobEvidence) -> Finding | None:
    """GC that slows a whole TaskManager: stop-the-world pauses stall every task on it, the
    sources included, so the job falls behind without any task being backpressured."""
    tms = ev.taskmanagers
    hot = {tm: info.gc_ms_per_s or 0.0 for tm, info in tms.items() if gc_persists(info)}
    if not hot:
        return None
    on_hot = [(busy, t.name, t.vertex_id) for t in ev.tasks.values() if t.takes_input
              for tm, busy in t.busy_on_tm.items() if tm in hot]
    busiest = max(on_hot, default=None)
    ev_: list[Evidence] = []
    for tm, ms in sorted(hot.items()):
        info = tms[tm]
        ev_.append(Evidence(f"TaskManager {tm}", "gc_ms_per_s", round(ms, 1), "ms/s",
                            ev.window_s, Why.GC_PER_S))
        if info.heap_max_bytes:
            ev_.append(Evidence(f"TaskManager {tm}", "heap_used_ratio",
                                round((info.heap_used_bytes or 0.0) / info.heap_max_bytes, 3),
                                "ratio", ev.window_s, Why.HEAP_FULL))
    vid, name = (busiest[2], busiest[1]) if busiest else (None, None)
    return Finding(
        Cause.GC_PRESSURE, vid, name, taskmanagers=sorted(hot), evidence=ev_,
        facts={Fact.GC_MS_PER_S: max(hot.values())},
        actions=[Action(ActionKind.LESS_ALLOCATION,
                        config={"taskmanager.memory.task.heap.size": "larger than today",
                                "state.backend.type": "rocksdb"})],
    )
