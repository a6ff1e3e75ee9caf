"""Two-tier polls of big jobs: which subtasks of a vertex read in detail have their gauges
read one by one (the rest are read aggregated over subtasks, one request per vertex)."""

from __future__ import annotations

from flowscope.model import Quantity, SubtaskSample

# What Flink's aggregating metric handlers can compute, all asked for.
AGGREGATES = "min,max,avg,sum,skew"
# In a two-tier poll, at most this many subtasks of a vertex in detail have their gauges read
# one by one (a constant number of requests per vertex at any parallelism).
DETAIL_SUBTASKS = 64
# In a two-tier poll of a job on more TaskManagers than this, only the TaskManagers of the
# subtasks read one by one are read one by one; the others' metrics come aggregated
# (`/taskmanagers/metrics?agg=`), a few requests whatever their number.
TM_DETAIL_ALL_UP_TO = 16
# ... unless the aggregate shows a TaskManager collecting garbage this much (ms per second,
# the GC rule's threshold): then the next poll reads every TaskManager, to name it.
TM_GC_LOOK_MS_PER_S = 100.0
# TaskManagers read one by one per vertex read in detail: those of its busiest subtasks.
TM_PER_VERTEX = 8


def _share(s: SubtaskSample, q: Quantity) -> float:
    """A subtask's share of its time since it started spent in `q` (busy, idle, bp)."""
    parts = [s.finite(x) for x in (Quantity.BUSY_MS, Quantity.IDLE_MS,
                                    Quantity.BACKPRESSURED_MS)]
    total = sum(p for p in parts if p is not None)
    v = s.finite(q)
    return v / total if v is not None and total > 0 else 0.0


def busiest(samples: list[SubtaskSample], n: int) -> list[SubtaskSample]:
    """The `n` subtasks busy the largest share of their time since they started."""
    return sorted(samples, key=lambda s: -_share(s, Quantity.BUSY_MS))[:n]


def telling_subtasks(samples: list[SubtaskSample], n: int) -> list[SubtaskSample]:
    """The `n` subtasks whose gauges say most, by their accumulated time since they started:
    the busiest half, then the most backpressured, then the least busy (a slow instance and
    skew show at both ends), in subtask order."""
    by_busy = sorted(samples, key=lambda s: -_share(s, Quantity.BUSY_MS))
    pressed = sorted(samples, key=lambda s: -_share(s, Quantity.BACKPRESSURED_MS))
    chosen: dict[int, SubtaskSample] = {}
    for group, quota in ((by_busy, n // 2), (pressed, n // 4), (by_busy[::-1], n)):
        for s in group:
            if len(chosen) >= n or quota <= 0:
                break
            if s.index not in chosen:
                chosen[s.index] = s
                quota -= 1
    return sorted(chosen.values(), key=lambda s: s.index)
