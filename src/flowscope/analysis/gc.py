"""Garbage collection that slows a job: pauses stall every task of a TaskManager. Pure."""

from __future__ import annotations

from flowscope.analysis.findings import (
    Action,
    Cause,
    Evidence,
    Finding,
    TaskManagerFacts,
    TaskState,
)
from flowscope.analysis.window import SubtaskWindow
from flowscope.model import JobGraph

GC_MS_PER_S = 100.0  # 10% of the time in GC


def gc_persists(tm: TaskManagerFacts) -> bool:
    """GC pressure that holds: at least GC_MS_PER_S over the window, and in most of (at
    least two of) its intervals. A JVM collects hard while a job starts (class loading, JIT,
    state set-up); one such interval is not pressure."""
    if tm.gc_ms_per_s is None or tm.gc_ms_per_s < GC_MS_PER_S:
        return False
    hot = sum(1 for x in tm.gc_intervals if x >= GC_MS_PER_S)
    return hot >= 2 and hot >= 0.6 * len(tm.gc_intervals)


def gc_finding(
    graph: JobGraph,
    tasks: dict[str, TaskState],
    windows: dict[str, list[SubtaskWindow]],
    tms: dict[str, TaskManagerFacts],
    window_s: float,
) -> Finding | None:
    """GC that slows a whole TaskManager: stop-the-world pauses stall every task on it, the
    sources included, so the job falls behind without any task being backpressured."""
    hot = {tm: info.gc_ms_per_s or 0.0 for tm, info in tms.items() if gc_persists(info)}
    if not hot:
        return None
    on_hot = [(s.busy or 0.0, graph.vertex(vid).name, vid)
              for vid, subs in windows.items() for s in subs
              if s.taskmanager_id in hot and graph.inputs(vid)]
    busiest = max(on_hot, default=None)
    ev = []
    for tm, ms in sorted(hot.items()):
        info = tms[tm]
        ev.append(Evidence(f"TaskManager {tm}", "gc_ms_per_s", round(ms, 1), "ms/s", window_s,
                           "time in garbage collection per second (collector threads add up, "
                           "so it can pass 1000)"))
        if info.heap_max_bytes:
            ev.append(Evidence(f"TaskManager {tm}", "heap_used_ratio",
                               round((info.heap_used_bytes or 0.0) / info.heap_max_bytes, 3),
                               "ratio", window_s, "a nearly full heap makes every GC costlier"))
    vid, name = (busiest[2], busiest[1]) if busiest else (None, None)
    return Finding(
        Cause.GC_PRESSURE, vid, name,
        f"GC pressure: TaskManager(s) {', '.join(sorted(hot))} spend "
        f"{max(hot.values()):.0f} ms of every second in garbage collection; pauses stall every "
        "task there" + (f". {name} is the busiest task on them, the likely allocator"
                        if name else ""),
        taskmanagers=sorted(hot), evidence=ev,
        actions=[Action(
            "Reduce allocation and live state in the busiest operator (a flame graph or an "
            "allocation profiler shows where), move large state to RocksDB, or give the "
            "TaskManagers more heap.",
            config={"taskmanager.memory.task.heap.size": "larger than today",
                    "state.backend.type": "rocksdb"},
        )],
    )
