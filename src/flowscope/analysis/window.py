"""Turns raw samples into per-subtask ratios and rates over a window.

Counters (`accumulate*TimeMs`, `numRecordsIn`, ...) give exact ratios between two samples:
busy / (busy + idle + backpressured) needs no wall clock, and the same sum is the window's
length as the subtask itself measured it. Flink's JobManager refreshes metrics about every
10 s, so consecutive polls often see the same snapshot; only snapshots that moved count.
Where counters are missing or have not moved, the `*PerSecond` gauges (Flink's own averages
over up to 60 s) are used and the window says so.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise

import numpy as np

from flowscope.analysis.findings import TaskManagerFacts
from flowscope.analysis.memo import IdentityMemo
from flowscope.model import Quantity as Q
from flowscope.model import Sample, SubtaskSample
from flowscope.model import TmQuantity as TmQ

# Flink reports busy 1000 / idle 0 / backpressured 0 until its time gauges have data. A task
# that is busy all the time reads the same, so this only counts where counters cannot tell.
STARTUP_ARTIFACT = (1000.0, 0.0, 0.0)
MIN_COUNTER_SPAN_S = 1.0


@dataclass(slots=True)
class SubtaskWindow:
    """One subtask over a window. Ratios are 0..1; None means not measurable."""

    vertex_id: str
    index: int
    taskmanager_id: str
    host: str
    busy: float | None
    backpressured: float | None
    idle: float | None
    span_s: float  # the window the ratios cover, as measured by the subtask's own time
    basis: str  # "counters" | "gauges" | "startup" | "none"
    records_in_per_s: float | None = None
    records_out_per_s: float | None = None
    bytes_in_per_s: float | None = None
    bytes_out_per_s: float | None = None
    buffers_out_per_s: float | None = None
    bytes_in_remote_per_s: float | None = None
    bytes_in_local_per_s: float | None = None
    buffers_in_remote_per_s: float | None = None
    soft_backpressured: float | None = None
    hard_backpressured: float | None = None
    # Buffer gauges: mean over the window's samples.
    in_pool_usage: float | None = None
    in_exclusive_usage: float | None = None
    in_floating_usage: float | None = None
    out_pool_usage: float | None = None
    operators_records_in_per_s: dict[str, float] = field(default_factory=dict)
    # Busy seconds per record since the attempt started (the newest counters' totals), over
    # the records taken in (or sent out, for a subtask that takes none in).
    cost_since_start_s: float | None = None
    # The head of the job: a source subtask's own view of its input (newest values, and
    # changes over the window per second of it), and event time (epoch ms).
    pending_records: float | None = None
    pending_growth_per_s: float | None = None
    emit_lag_ms: float | None = None
    emit_lag_growth: float | None = None  # ms of lag gained per second of the window
    source_idle_ms: float | None = None  # time since the source last received a record
    records_in_errors_per_s: float | None = None
    splits: int | None = None
    splits_paused_share: float | None = None  # of the splits' time, paused by alignment
    split_watermarks: dict[str, float | None] = field(default_factory=dict)
    input_watermark_ms: float | None = None
    output_watermark_ms: float | None = None
    # Checkpoints and timers (Flink's task gauges and counters).
    checkpoint_alignment_ms: float | None = None  # the longest seen in the window
    checkpoint_start_delay_ms: float | None = None
    fired_timers_per_s: float | None = None

    @property
    def true_rate(self) -> float | None:
        """Records processed per second of busy time (DS2's true processing rate)."""
        if not self.records_in_per_s or not self.busy or self.busy < 0.05:
            return None  # no input (a source) or too little busy time to extrapolate
        return self.records_in_per_s / self.busy


_BUSY, _IDLE, _BP = Q.BUSY_MS.value, Q.IDLE_MS.value, Q.BACKPRESSURED_MS.value
_RECORDS_IN, _RECORDS_OUT = Q.RECORDS_IN.value, Q.RECORDS_OUT.value
RATE_FIELDS = (
    ("records_in_per_s", Q.RECORDS_IN.value), ("records_out_per_s", Q.RECORDS_OUT.value),
    ("bytes_in_per_s", Q.BYTES_IN.value), ("bytes_out_per_s", Q.BYTES_OUT.value),
    ("buffers_out_per_s", Q.BUFFERS_OUT.value),
    ("bytes_in_remote_per_s", Q.BYTES_IN_REMOTE.value),
    ("bytes_in_local_per_s", Q.BYTES_IN_LOCAL.value),
    ("buffers_in_remote_per_s", Q.BUFFERS_IN_REMOTE.value),
)
_isfinite = math.isfinite


# Quantity names as plain strings: reading an enum member costs more than a dict lookup, and
# these are read a few dozen times per subtask.
_SOFT_BACKPRESSURED_MS_PER_S = Q.SOFT_BACKPRESSURED_MS_PER_S.value
_HARD_BACKPRESSURED_MS_PER_S = Q.HARD_BACKPRESSURED_MS_PER_S.value
_IN_POOL_USAGE = Q.IN_POOL_USAGE.value
_IN_EXCLUSIVE_USAGE = Q.IN_EXCLUSIVE_USAGE.value
_IN_FLOATING_USAGE = Q.IN_FLOATING_USAGE.value
_OUT_POOL_USAGE = Q.OUT_POOL_USAGE.value
_PENDING_RECORDS = Q.PENDING_RECORDS.value
_EMIT_LAG_MS = Q.EMIT_LAG_MS.value
_RECORDS_IN_ERRORS = Q.RECORDS_IN_ERRORS.value
_FIRED_TIMERS = Q.FIRED_TIMERS.value
_CHECKPOINT_ALIGNMENT_MS = Q.CHECKPOINT_ALIGNMENT_MS.value
_CHECKPOINT_START_DELAY_MS = Q.CHECKPOINT_START_DELAY_MS.value
_SOURCE_IDLE_MS = Q.SOURCE_IDLE_MS.value
_INPUT_WATERMARK = Q.INPUT_WATERMARK.value
_OUTPUT_WATERMARK = Q.OUTPUT_WATERMARK.value
_BUSY_MS_PER_S = Q.BUSY_MS_PER_S.value
_IDLE_MS_PER_S = Q.IDLE_MS_PER_S.value
_BACKPRESSURED_MS_PER_S = Q.BACKPRESSURED_MS_PER_S.value
_RECORDS_IN_PER_S = Q.RECORDS_IN_PER_S.value
_RECORDS_OUT_PER_S = Q.RECORDS_OUT_PER_S.value
_SPLIT_TIMES = (Q.SPLITS_PAUSED_MS.value, Q.SPLITS_IDLE_MS.value, Q.SPLITS_ACTIVE_MS.value)


def _times_of(values: dict[str, float]) -> tuple[float, float, float] | None:
    """A sample's accumulated busy, idle and backpressured ms when all three are numbers."""
    b, i, p = values.get(_BUSY), values.get(_IDLE), values.get(_BP)
    if b is None or i is None or p is None or not (_isfinite(b) and _isfinite(i)
                                                   and _isfinite(p)):
        return None
    return b, i, p


def _mean_of(values: list[dict[str, float]], key: str) -> float | None:
    """finite_mean of one key over the samples' values (the same sum, in the same order)."""
    total, n = 0.0, 0
    for v in values:
        x = v.get(key)
        if x is not None and _isfinite(x):
            total += x
            n += 1
    return total / n if n else None


def _ratios(
    first: dict[str, float], last: dict[str, float],
    t0: tuple[float, float, float] | None, t1: tuple[float, float, float] | None,
) -> tuple[float | None, float | None, float | None, float, str]:
    """busy, idle, backpressured (0..1), the span they cover (s) and their basis, from the
    counters of the first sample with times and the last one, else from Flink's gauges."""
    busy = idle = bp = None
    span_s, basis = 0.0, "none"
    if t0 is not None and t1 is not None:
        # busy is derived (elapsed - idle - bp) at a slightly different instant, so it can
        # step backwards by a few ms: clamp each part at 0.
        pb, pi, pp = max(t1[0] - t0[0], 0.0), max(t1[1] - t0[1], 0.0), max(t1[2] - t0[2], 0.0)
        span_ms = pb + pi + pp
        if span_ms >= MIN_COUNTER_SPAN_S * 1000:
            busy, idle, bp = pb / span_ms, pi / span_ms, pp / span_ms
            span_s, basis = span_ms / 1000.0, "counters"
    if basis == "none":
        g_busy, g_idle, g_bp = (last.get(_BUSY_MS_PER_S), last.get(_IDLE_MS_PER_S),
                                last.get(_BACKPRESSURED_MS_PER_S))
        if (g_busy, g_idle, g_bp) == STARTUP_ARTIFACT:
            basis = "startup"
        elif g_idle is not None and g_bp is not None:
            idle = g_idle / 1000.0 if _isfinite(g_idle) else None
            bp = g_bp / 1000.0 if _isfinite(g_bp) else None
            busy = g_busy / 1000.0 if g_busy is not None and _isfinite(g_busy) else None
            span_s, basis = 60.0, "gauges"  # Flink's gauges average over up to 60 s
    # A NaN busy gauge (e.g. a SQL datagen source) means busy time is not measured at all.
    busy_gauge = last.get(_BUSY_MS_PER_S)
    if busy_gauge is not None and math.isnan(busy_gauge):
        busy = None
    return busy, idle, bp, span_s, basis


def subtask_window(series: list[SubtaskSample], *, states_only: bool = False,
                   counters_only: bool = False) -> SubtaskWindow:
    """Summarise one subtask's samples (oldest first, one attempt) over their whole span.

    `states_only` fills only what a task state is folded from (ratios, record rates, buffer
    usages); the other fields stay None/empty. The timeline needs no more, per interval.
    `counters_only`: the samples hold only the vertex detail's counters (a vertex whose
    gauges were read aggregated over its subtasks): the gauge means and source facts, which
    would all come out empty, are not looked for.
    """
    last = series[-1]
    values = [s.values for s in series]
    lv = last.values
    times = [_times_of(v) for v in values]
    # Early polls can carry NaN accumulated times (the task is still starting): start from the
    # first sample whose time counters are all numbers.
    k0 = next((k for k, t in enumerate(times) if t is not None), 0)
    first = series[k0]
    busy, idle, bp, span_s, basis = _ratios(first.values, lv, times[k0], times[-1])
    w = SubtaskWindow(
        vertex_id=last.vertex_id, index=last.index, taskmanager_id=last.taskmanager_id,
        host=last.host, busy=busy, backpressured=bp, idle=idle, span_s=span_s, basis=basis,
    )
    if basis == "counters":
        _counter_rates(w, series, values, times, k0, states_only=states_only,
                       operators=not states_only and not counters_only)
    else:
        w.records_in_per_s = last.finite(_RECORDS_IN_PER_S)
        w.records_out_per_s = last.finite(_RECORDS_OUT_PER_S)
    if counters_only:
        return w
    if not states_only:
        _head_of_job(w, series, values)
        soft = _mean_of(values, _SOFT_BACKPRESSURED_MS_PER_S)
        hard = _mean_of(values, _HARD_BACKPRESSURED_MS_PER_S)
        w.soft_backpressured = soft / 1000.0 if soft is not None else None
        w.hard_backpressured = hard / 1000.0 if hard is not None else None
    w.in_pool_usage = _mean_of(values, _IN_POOL_USAGE)
    w.in_exclusive_usage = _mean_of(values, _IN_EXCLUSIVE_USAGE)
    w.in_floating_usage = _mean_of(values, _IN_FLOATING_USAGE)
    w.out_pool_usage = _mean_of(values, _OUT_POOL_USAGE)
    return w


def _counter_rates(w: SubtaskWindow, series: list[SubtaskSample], values: list[dict[str, float]],
                   times: list[tuple[float, float, float] | None], k0: int, *,
                   states_only: bool, operators: bool) -> None:
    """Rates per second of the subtask's counters over the window it measured itself (its
    busy + idle + backpressured time), busy time per record since the start, and the chained
    operators' records in (`operators`)."""
    last, lv = series[-1], values[-1]
    t1 = times[-1]
    assert t1 is not None
    taken = lv.get(_RECORDS_IN) or lv.get(_RECORDS_OUT)
    if taken and _isfinite(taken) and taken > 0:
        w.cost_since_start_s = t1[0] / 1000.0 / taken
    for name, key in RATE_FIELDS[:2] if states_only else RATE_FIELDS:
        now = lv.get(key)
        if now is None or not _isfinite(now):
            continue  # no delta without the newest value
        # Counters listed later than the time counters (metric names are discovered after
        # the first snapshot) start from the first sample that has them.
        for v, t0 in zip(values, times, strict=True):
            x = v.get(key)
            if t0 is not None and x is not None and _isfinite(x):
                secs = (max(t1[0] - t0[0], 0.0) + max(t1[1] - t0[1], 0.0)
                        + max(t1[2] - t0[2], 0.0)) / 1000.0
                if secs >= MIN_COUNTER_SPAN_S:
                    setattr(w, name, max(now - x, 0.0) / secs)
                break
    if last.operators and operators:
        first = series[k0]
        for op, counters in last.operators.items():
            before = first.operators.get(op, {}).get("records_in")
            now = counters.get("records_in")
            if before is not None and now is not None:
                w.operators_records_in_per_s[op] = max(now - before, 0.0) / w.span_s


def watermark(v: float | None) -> float | None:
    """An event time in epoch ms, or None for Flink's "no watermark yet" (Long.MIN_VALUE)
    and "end of input" (Long.MAX_VALUE)."""
    return v if v is not None and 0 < v < 1e15 else None


def _ends(values: list[dict[str, float]], key: str) -> tuple[float, float] | None:
    """The first and the last finite value of one key over the samples' values."""
    for v in values:
        a = v.get(key)
        if a is not None and _isfinite(a):
            for u in reversed(values):
                b = u.get(key)
                if b is not None and _isfinite(b):
                    return a, b
    return None


def _max_of(values: list[dict[str, float]], key: str) -> float | None:
    """finite_max of one key over the samples' values."""
    known = [x for v in values if (x := v.get(key)) is not None and _isfinite(x)]
    return max(known) if known else None


def _head_of_job(w: SubtaskWindow, series: list[SubtaskSample],
                 values: list[dict[str, float]]) -> None:
    """Source, watermark, checkpoint and timer facts of one subtask over its window."""
    last = series[-1]
    secs = w.span_s if w.basis == "counters" else 0.0
    pending = _ends(values, _PENDING_RECORDS)
    if pending is not None:
        w.pending_records = pending[1]
        w.pending_growth_per_s = (pending[1] - pending[0]) / secs if secs else None
    lag = _ends(values, _EMIT_LAG_MS)
    if lag is not None and lag[1] >= 0:
        w.emit_lag_ms = lag[1]
        w.emit_lag_growth = (lag[1] - lag[0]) / secs if secs and lag[0] >= 0 else None
    w.source_idle_ms = last.finite(_SOURCE_IDLE_MS)
    errors = _ends(values, _RECORDS_IN_ERRORS)
    if errors is not None and secs:
        w.records_in_errors_per_s = max(errors[1] - errors[0], 0.0) / secs
    timers = _ends(values, _FIRED_TIMERS)
    if timers is not None and secs:
        w.fired_timers_per_s = max(timers[1] - timers[0], 0.0) / secs
    if last.splits:
        w.splits = len(last.splits)
        w.split_watermarks = {sid: watermark(v.get("watermark_ms"))
                              for sid, v in sorted(last.splits.items())}
    parts = [_ends(values, k) for k in _SPLIT_TIMES]
    if all(p is not None for p in parts):
        deltas = [max(p[1] - p[0], 0.0) for p in parts if p is not None]
        if sum(deltas) > 0:
            w.splits_paused_share = deltas[0] / sum(deltas)
    w.input_watermark_ms = watermark(last.finite(_INPUT_WATERMARK))
    w.output_watermark_ms = watermark(last.finite(_OUTPUT_WATERMARK))
    w.checkpoint_alignment_ms = _max_of(values, _CHECKPOINT_ALIGNMENT_MS)
    w.checkpoint_start_delay_ms = _max_of(values, _CHECKPOINT_START_DELAY_MS)




# Whether a sample saw the same snapshot as the one kept before it, for pairs already compared
# (a history is asked again at every poll of `watch` and `serve`).
_SAME: IdentityMemo[bool] = IdentityMemo(4096)


def distinct_snapshots(samples: list[Sample]) -> list[Sample]:
    """Drop polls that saw the same JobManager metric snapshot as the poll before them."""
    out: list[Sample] = []
    for s in samples:
        if out:
            before = out[-1]
            if _SAME.get((before, s), partial(_same_snapshot, before, s)):
                continue
        out.append(s)
    return out


def _same_snapshot(a: Sample, b: Sample) -> bool:
    """Whether every subtask's accumulated busy and idle time is the same in both polls (NaN
    equals NaN: a subtask reporting NaN busy time, as SQL datagen sources do, would make
    every poll look new)."""
    if list(a.subtasks) != list(b.subtasks):
        return False
    for vid in a.subtasks:
        ca, cb = a.columns(vid), b.columns(vid)
        if len(ca) != len(cb) or not np.array_equal(ca.counters[:2], cb.counters[:2],
                                                    equal_nan=True):
            return False
    return True


def window_samples(samples: list[Sample], window_s: float) -> list[Sample]:
    """The samples within `window_s` seconds of the newest one, and the last one before that
    boundary, so that counter deltas cover the whole window even when the JobManager's
    snapshot did not change inside it."""
    if not samples:
        return []
    boundary = samples[-1].t - window_s - 1e-9
    inside = [s for s in samples if s.t >= boundary]
    before = [s for s in samples if s.t < boundary]
    return before[-1:] + inside


def subtask_windows(
    samples: list[Sample], *, states_only: bool = False, skip: Collection[str] = ()
) -> dict[str, list[SubtaskWindow]]:
    """Per vertex, each subtask summarised over the samples (restarts split a series: the
    newest attempt's samples are used); `states_only` as in `subtask_window`. Vertices in
    `skip` are left out."""
    if not samples:
        return {}
    # One pass over every sample: each subtask's series, so the cost grows with samples x
    # subtasks, not with the square of a vertex's parallelism.
    series: dict[tuple[str, int, int], list[SubtaskSample]] = {}
    for s in samples:
        for vid, subs in s.subtasks.items():
            if vid in skip:
                continue
            for st in subs:
                series.setdefault((vid, st.index, st.attempt), []).append(st)
    # Vertices whose gauges every sample read aggregated hold only counters per subtask.
    aggregated = {vid for vid in samples[-1].subtasks
                  if all(s.detail_vertices is not None and vid not in s.detail_vertices
                         for s in samples)}
    return {
        vid: [subtask_window(series.get((vid, st.index, st.attempt)) or [st],
                             states_only=states_only, counters_only=vid in aggregated)
              for st in subs]
        for vid, subs in samples[-1].subtasks.items() if vid not in skip
    }


def taskmanager_rates(samples: list[Sample]) -> dict[str, TaskManagerFacts]:
    """Per TaskManager over the window: cores used (JVM CPU time), GC ms per second, heap."""
    if not samples:
        return {}
    last = samples[-1]
    out: dict[str, TaskManagerFacts] = {}
    for tm_id, tm in last.taskmanagers.items():
        cores_used = gc_ms_per_s = None
        # The JobManager's snapshot time is unknown: use the polls at which the values changed.
        changes = _change_points(samples, tm_id, TmQ.CPU_TIME_NS)
        if len(changes) >= 2:
            span = _snapshot_span(samples, tm_id, changes[0], changes[-1])
            if span >= MIN_COUNTER_SPAN_S:
                cores_used = max(changes[-1][1] - changes[0][1], 0.0) / 1e9 / span
        gc = _change_points(samples, tm_id, TmQ.GC_TIME_MS)
        gc_span = _snapshot_span(samples, tm_id, gc[0], gc[-1]) if len(gc) >= 2 else 0.0
        if gc_span >= MIN_COUNTER_SPAN_S:
            gc_ms_per_s = max(gc[-1][1] - gc[0][1], 0.0) / gc_span
        else:
            gc_ms_per_s = tm.values.get(TmQ.GC_MS_PER_S)
        gc_intervals = []
        for a, b in pairwise(gc):
            secs = _snapshot_span(samples, tm_id, a, b)
            if secs >= MIN_COUNTER_SPAN_S:
                gc_intervals.append(max(b[1] - a[1], 0.0) / secs)
        v = tm.values
        out[tm_id] = TaskManagerFacts(
            cores_used=cores_used, gc_ms_per_s=gc_ms_per_s, cpu_load=v.get(TmQ.CPU_LOAD),
            heap_used_bytes=v.get(TmQ.HEAP_USED), heap_max_bytes=v.get(TmQ.HEAP_MAX),
            old_gc_count=v.get(TmQ.OLD_GC_COUNT),
            cpu_cores=v.get(TmQ.CPU_CORES) or host_cores(
                cores_used, _mean_load(samples, tm_id)),
            gc_intervals=tuple(gc_intervals),
        )
    return out


# Below this share of the machine a JVM's CPU load says too little to size the host by.
MIN_LOAD_FOR_CORES = 0.05


def host_cores(cores_used: float | None, load: float | None) -> float | None:
    """The cores of a TaskManager's host when it does not say (a Prometheus history holds no
    hardware facts): its JVM's CPU time per second over the JVM's share of the machine
    (`Status.JVM.CPU.Load`, 0..1 of all its cores), to the nearest core."""
    if cores_used is None or load is None or load < MIN_LOAD_FOR_CORES:
        return None
    return float(max(1, round(cores_used / load)))


def _mean_load(samples: list[Sample], tm_id: str) -> float | None:
    loads = [v for s in samples if (tm := s.taskmanagers.get(tm_id)) is not None
             and (v := tm.values.get(TmQ.CPU_LOAD)) is not None and math.isfinite(v)]
    return sum(loads) / len(loads) if loads else None


def _change_points(samples: list[Sample], tm_id: str, key: str) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for s in samples:
        tm = s.taskmanagers.get(tm_id)
        v = tm.values.get(key) if tm else None
        if v is None or not math.isfinite(v):
            continue
        if not points or v != points[-1][1]:
            points.append((s.t, v))
    return points


def _snapshot_span(
    samples: list[Sample], tm_id: str, a: tuple[float, float], b: tuple[float, float]
) -> float:
    """Seconds between the metric snapshots seen at polls `a` and `b` (change points).

    The first poll's values may come from a snapshot up to one JobManager refresh (~10 s)
    older than the poll, so poll times can be far off (10 s of CPU "in" 1 s of polls). The
    subtasks on the same TaskManager are fetched in the same round and measure the time
    between snapshots exactly (busy + idle + backpressured ms); poll times are the fallback.
    """
    at = {s.t: s for s in samples}
    first, last = at.get(a[0]), at.get(b[0])
    if first is not None and last is not None:
        for vid, k in _on_taskmanager(last).get(tm_id, ()):
            st = last.subtasks[vid][k]
            before = next((x for x in first.subtasks.get(vid, [])
                           if x.index == st.index and x.attempt == st.attempt), None)
            if before is None:
                continue
            t0, t1 = _elapsed_ms(before), _elapsed_ms(st)
            if t0 is not None and t1 is not None and t1 > t0:
                return (t1 - t0) / 1000.0
    return b[0] - a[0]


_BY_TM: IdentityMemo[dict[str, list[tuple[str, int]]]] = IdentityMemo(64)


def _on_taskmanager(sample: Sample) -> dict[str, list[tuple[str, int]]]:
    """Where each TaskManager's subtasks are in a sample: (vertex id, position), in order."""
    def index() -> dict[str, list[tuple[str, int]]]:
        out: dict[str, list[tuple[str, int]]] = {}
        for vid, subs in sample.subtasks.items():
            for k, st in enumerate(subs):
                out.setdefault(st.taskmanager_id, []).append((vid, k))
        return out
    return _BY_TM.get((sample,), index)


def _elapsed_ms(s: SubtaskSample) -> float | None:
    parts = [s.finite(Q.BUSY_MS), s.finite(Q.IDLE_MS), s.finite(Q.BACKPRESSURED_MS)]
    return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)
