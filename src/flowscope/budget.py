"""How many samples of a job `serve` keeps: its history in samples, bounded by memory.

A sample holds a few values per subtask; measured with `bench/bench_scale.py`'s emulated Flink
2.3 answers (tracemalloc of one unpickled sample at 100 x 500), a subtask costs about 2.5 KB
in a sample when its gauges were read one by one and about 1.0 KB when only its counters were
(its vertex's gauges aggregated), plus ~0.13 KB of counters as arrays (`VertexColumns`). A
job's history is cut to what fits `HISTORY_BYTES`.
"""

from __future__ import annotations

from flowscope.model import Sample

SUBTASK_DETAIL_BYTES = 2_700  # per subtask and sample, gauges read subtask by subtask
SUBTASK_COUNTERS_BYTES = 1_250  # per subtask and sample, gauges aggregated per vertex
HISTORY_BYTES = 512 * 2**20  # per job
MIN_SAMPLES = 8  # enough for a window of diagnosis whatever the job's size


def sample_bytes(sample: Sample) -> int:
    """An estimate of the memory one sample of this job holds, in bytes."""
    detail = sample.detail_vertices
    total = 0
    for vid, subs in sample.subtasks.items():
        per = SUBTASK_DETAIL_BYTES if detail is None or vid in detail else SUBTASK_COUNTERS_BYTES
        total += per * len(subs)
    return total


def history_samples(sample: Sample, cap: int | None, budget: int = HISTORY_BYTES) -> int | None:
    """How many samples like `sample` to keep: at most `cap` (None: no cap) and what fits in
    `budget` bytes, but at least MIN_SAMPLES."""
    fits = max(MIN_SAMPLES, budget // max(1, sample_bytes(sample)))
    return fits if cap is None else min(cap, fits)


def share_unchanged(before: Sample | None, after: Sample) -> None:
    """Let `after` share the subtasks and TaskManagers of `before` where they are equal (Flink
    refreshes metrics every ~10 s, so polls every 2 s mostly see the snapshot the poll before
    saw): a history then holds one copy per snapshot. Values compare exactly (a NaN never
    equals itself, so a sample with NaN keeps its own copy)."""
    if before is None or before.job_id != after.job_id:
        return
    after.share_subtasks_of(before)
    if after.taskmanagers == before.taskmanagers:
        after.taskmanagers = before.taskmanagers
