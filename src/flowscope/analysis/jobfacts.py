"""What a window of polls says beyond the records: restarts and their failures, the job's
checkpoints and each task's part in them, what its state backend reports, and what its stack
samples show (Async I/O queue waits, checkpoint sync phases, state backend frames). Pure;
analysis.gather puts it into the evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flowscope.analysis.cpu import newest_ready_views, ready_views
from flowscope.analysis.evidence import (
    Checkpointing,
    Restarts,
    StateAccess,
    TaskCheckpoints,
)
from flowscope.analysis.flame import FrameCounts, summarise
from flowscope.analysis.threads import frame_counts
from flowscope.model import FlameGraph, JobGraph, Sample
from flowscope.model import Quantity as Q

# Words Flink's failure message uses for a checkpoint that ran out of time.
EXPIRED = ("expired", "timeout")


def restarts(history: Sequence[Sample]) -> Restarts | None:
    """How often the job restarted within `history` (oldest first): the newest execution
    attempt against the oldest, and the distinct times it went RESTARTING; None when it did
    not."""
    if not history:
        return None
    first, last = history[0], history[-1]
    by_attempt = last.max_attempt - first.max_attempt
    times = {s.restarted_at for s in history if s.restarted_at is not None
             and s.restarted_at >= first.t}
    count = max(by_attempt, len(times))
    if count <= 0:
        return None
    failures = last.failures
    entries = failures.entries if failures else ()
    within = [e for e in entries if e.timestamp_ms / 1000.0 >= first.t]
    return Restarts(count=count, span_s=max(last.t - first.t, 0.0), attempt=last.max_attempt,
                    failures=len(within), root=entries[0] if entries else None)


def checkpointing(history: Sequence[Sample]) -> Checkpointing | None:
    """The job's checkpoints within `history`: None when it does not checkpoint (or they were
    not read)."""
    if not history:
        return None
    first, last = history[0].checkpoints, history[-1].checkpoints
    config = last.config
    if config is None and not last.history and not last.completed + last.failed:
        return None
    since = history[0].t * 1000.0
    recent = [c for c in last.history if (c.trigger_ms or 0.0) >= since and not c.savepoint]
    failed = [c for c in recent if c.status == "FAILED"]
    done = [c for c in recent if c.status == "COMPLETED"]
    newest = done[0] if done else last.latest("COMPLETED")
    oldest = done[-1] if done else None
    growth = None
    if newest is not None and oldest is not None and newest is not oldest \
            and newest.state_bytes and oldest.state_bytes:
        growth = newest.state_bytes / oldest.state_bytes
    return Checkpointing(
        interval_ms=config.interval_ms if config else None,
        timeout_ms=config.timeout_ms if config else None,
        unaligned=config.unaligned if config else None,
        completed=max(last.completed - first.completed, len(done)),
        failed=max(last.failed - first.failed, len(failed)),
        expired=sum(1 for c in failed if any(w in c.failure_message.lower() for w in EXPIRED)),
        failure=failed[0].failure_message if failed else "",
        end_to_end_ms=newest.end_to_end_ms if newest else None,
        state_bytes=newest.state_bytes if newest else None, growth=growth)


def task_checkpoints(history: Sequence[Sample], vertex_id: str) -> TaskCheckpoints | None:
    """A task's part in the checkpoints of the history whose details were read."""
    if not history:
        return None
    since = history[0].t * 1000.0
    parts = [v for c in history[-1].checkpoints.history
             if (c.trigger_ms or 0.0) >= since and (v := c.vertex(vertex_id)) is not None]
    if not parts:
        return None

    def longest(values: Sequence[float | None]) -> float | None:
        known = [x for x in values if x is not None]
        return max(known) if known else None

    return TaskCheckpoints(sync_ms=longest([v.sync_ms for v in parts]),
                           alignment_ms=longest([v.alignment_ms for v in parts]),
                           start_delay_ms=longest([v.start_delay_ms for v in parts]),
                           checkpoints=len(parts))


def state_access(window: Sequence[Sample], vertex_id: str) -> StateAccess | None:
    """What a task's state backend reports over the window (None: nothing)."""
    if not window:
        return None
    last = window[-1].subtasks.get(vertex_id, [])
    reads = [v for st in last if (v := st.finite(Q.STATE_READ_LATENCY_NS)) is not None]
    writes = [v for st in last if (v := st.finite(Q.STATE_WRITE_LATENCY_NS)) is not None]
    live = [v for st in last if (v := st.finite(Q.STATE_LIVE_BYTES)) is not None]
    hits = _delta(window, vertex_id, Q.STATE_BLOCK_CACHE_HITS)
    misses = _delta(window, vertex_id, Q.STATE_BLOCK_CACHE_MISSES)
    ratio = hits / (hits + misses) if hits is not None and misses is not None and hits + misses \
        else None
    if not (reads or writes or live or ratio is not None):
        return None
    return StateAccess(read_ns=max(reads) if reads else None,
                       read_ns_fastest=min(reads) if reads else None,
                       write_ns=max(writes) if writes else None,
                       block_cache_hit_ratio=ratio, live_bytes=sum(live) if live else None)


def _delta(window: Sequence[Sample], vertex_id: str, q: Q) -> float | None:
    """A counter's growth over the window, summed over the task's subtasks."""
    def total(s: Sample) -> float | None:
        vals = [v for st in s.subtasks.get(vertex_id, []) if (v := st.finite(q)) is not None]
        return sum(vals) if vals else None

    a, b = total(window[0]), total(window[-1])
    return max(b - a, 0.0) if a is not None and b is not None else None


def frames(history: Sequence[Sample], graph: JobGraph, vertex_id: str) -> FrameCounts | None:
    """What a task's stack samples show: the newest finished flame graph's views together,
    else its threads in the thread dumps; None without either."""
    views = newest_ready_views(history, vertex_id)
    if views is not None:
        return _counted(views, graph.vertex(vertex_id).name, vertex_id)
    dumped = frame_counts(history, graph, vertex_id)
    return dumped if dumped.samples else None


def frames_of_views(views: Mapping[str, FlameGraph], graph: JobGraph,
                    vertex_id: str) -> FrameCounts | None:
    """What a vertex's flame graph views (read now) show, when they are finished."""
    ready = ready_views(views)
    return _counted(ready, graph.vertex(vertex_id).name, vertex_id) if ready else None


def _counted(views: Sequence[FlameGraph], name: str, vertex_id: str) -> FrameCounts:
    counts = FrameCounts()
    for view in views:
        counts.merge(summarise(view, name, vertex_id).frames)
    return counts
