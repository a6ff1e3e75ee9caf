"""Which vertices a poll reads subtask by subtask. Pure.

A poll reads every vertex's subtask counters (busy / idle / backpressured time, records,
bytes) from the vertex detail, one request per vertex whatever its parallelism. Gauges (buffer
pool usages, the time gauges, source metrics) cost one name per subtask, so for a big job they
are read subtask by subtask only where the analysis looks closely: the located bottlenecks, the
tasks at or near their limit, the tasks whose subtasks disagree (skew or a slow instance), and
their neighbours. Every other vertex's gauges are read aggregated over its subtasks (min, max,
avg, sum, skew), one request per vertex.
"""

from __future__ import annotations

from flowscope.analysis.findings import BUSY_HOT, Diagnosis, TaskState
from flowscope.model import JobGraph

# Jobs of at most this many subtasks are read subtask by subtask everywhere (a poll of every
# gauge costs a few requests per vertex at this size).
DETAIL_ALL_UP_TO = 2_000
# Busy ratios of one task's subtasks this far apart (0..1) mark skew or a slow instance.
SPREAD = 0.3
# At most this many vertices in detail besides the located bottlenecks.
MAX_CANDIDATES = 8


def is_big(graph: JobGraph) -> bool:
    """Whether a job has more subtasks than are read subtask by subtask everywhere."""
    return sum(v.parallelism for v in graph.vertices) > DETAIL_ALL_UP_TO


def _spread(t: TaskState) -> float:
    busy = [s.busy for s in t.subtasks if s.busy is not None]
    return max(busy) - min(busy) if len(busy) >= 2 else 0.0


def detail_vertices(d: Diagnosis) -> set[str] | None:
    """The vertex ids the next poll should read subtask by subtask, or None for all of them
    (a small job). The located bottlenecks, up to MAX_CANDIDATES tasks that are busy at least
    BUSY_HOT or whose subtasks' busy ratios differ by SPREAD, and the neighbours of both."""
    if sum(t.parallelism for t in d.tasks) <= DETAIL_ALL_UP_TO:
        return None
    tasks = {t.vertex_id: t for t in d.tasks}
    core = {f.vertex_id for f in d.findings if f.is_bottleneck and f.vertex_id in tasks}
    hot = sorted((t for t in d.tasks if t.vertex_id not in core
                  and ((t.busy or 0.0) >= BUSY_HOT or _spread(t) >= SPREAD)),
                 key=lambda t: -(t.busy or 0.0))
    core.update(t.vertex_id for t in hot[:MAX_CANDIDATES])
    out = set(core)
    for vid in core:
        out.update(tasks[vid].upstream)
        out.update(tasks[vid].downstream)
    return out
