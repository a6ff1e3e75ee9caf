"""Task states and windows over arrays: the fast path for big jobs.

A job of 100,000 subtasks is polled in two tiers (`flink/tiering.py`): most vertices give only
their subtasks' counters (the vertex detail) and aggregated gauges. Their windows need no
Python object per subtask to be folded into a task's state: the counters of two snapshots, as
arrays (`model.VertexColumns`), give every subtask's ratios and rates at once.

The arithmetic is the one `window.subtask_window` does, operation for operation, so both
paths give the same floats. Subtasks whose counters are not all numbers (a task starting, a
restart between the snapshots) go through `subtask_window`, which knows those cases. Pure.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from flowscope.analysis.findings import SubtaskState, TaskState, level_of
from flowscope.analysis.memo import IdentityMemo
from flowscope.analysis.window import (
    MIN_COUNTER_SPAN_S,
    RATE_FIELDS,
    SubtaskWindow,
    subtask_window,
)
from flowscope.analysis.window import subtask_windows as _subtask_windows
from flowscope.model import Quantity as Q
from flowscope.model import Sample, SubtaskSample, Vertex

_MIN_SPAN_MS = MIN_COUNTER_SPAN_S * 1000
_TRUE_RATE_MIN_BUSY = 0.05  # as SubtaskWindow.true_rate


def _times(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    """From two snapshots' accumulated busy, idle and backpressured ms (rows 0-2): each
    subtask's busy, idle and backpressured ms between them (clamped at 0, as
    `window._ratios`), their sum, and where the counters give ratios (all numbers, at least
    MIN_COUNTER_SPAN_S)."""
    pb = np.maximum(b[0] - a[0], 0.0)
    pi = np.maximum(b[1] - a[1], 0.0)
    pp = np.maximum(b[2] - a[2], 0.0)
    span = pb + pi + pp
    fast = np.isfinite(a[:3]).all(axis=0) & np.isfinite(b[:3]).all(axis=0) & (span >= _MIN_SPAN_MS)
    return pb, pi, pp, span, fast


@dataclass(frozen=True, eq=False)
class IntervalColumns:
    """Every subtask of one vertex over one interval: ratios 0..1 and rates per second, NaN
    where not measurable, and each subtask's basis."""

    index: np.ndarray
    subtasks: list[SubtaskSample]  # the polled subtasks, in the arrays' order
    busy: np.ndarray
    backpressured: np.ndarray
    idle: np.ndarray
    records_in_per_s: np.ndarray
    records_out_per_s: np.ndarray
    basis: tuple[str, ...]


def intervals(before: Sample, after: Sample) -> dict[str, IntervalColumns]:
    """Every vertex's subtasks between two snapshots, in one pass over the job's arrays; a
    vertex whose subtasks changed between the polls is left out (the per-subtask path then
    pairs them)."""
    vids = [vid for vid in after.subtasks if after.subtasks[vid]]
    return _interval(before, after, vids)


def _interval(before: Sample, after: Sample, vids: list[str]) -> dict[str, IntervalColumns]:
    a_cols = [before.columns(v) for v in vids]
    b_cols = [after.columns(v) for v in vids]
    vids = [v for v, a, b in zip(vids, a_cols, b_cols, strict=True)
            if len(b) and a.same_subtasks(b)]
    if not vids:
        return {}
    a, b = _concat(before, tuple(vids)), _concat(after, tuple(vids))
    with np.errstate(invalid="ignore", divide="ignore"):
        pb, pi, pp, span, fast = _times(a, b)
        busy = np.where(fast & ~b[5].astype(bool), pb / span, np.nan)
        idle = np.where(fast, pi / span, np.nan)
        bp = np.where(fast, pp / span, np.nan)
        secs = span / 1000.0
        known = fast & np.isfinite(a[3:5]) & np.isfinite(b[3:5])
        rates = np.where(known, np.maximum(b[3:5] - a[3:5], 0.0) / secs, np.nan)
    out: dict[str, IntervalColumns] = {}
    start = 0
    slow_at = np.flatnonzero(~fast).tolist()
    for vid in vids:
        subs = after.subtasks[vid]
        end = start + len(subs)
        cut = slice(start, end)
        slow = [k - start for k in slow_at if start <= k < end]
        basis: tuple[str, ...] = ("counters",) * len(subs)
        if slow:
            first, named = before.subtasks[vid], list(basis)
            for k in slow:
                w = subtask_window([first[k], subs[k]], states_only=True, counters_only=True)
                _put(w, k, busy[cut], bp[cut], idle[cut], rates[0, cut], rates[1, cut])
                named[k] = w.basis
            basis = tuple(named)
        out[vid] = IntervalColumns(after.columns(vid).index, subs, busy[cut], bp[cut],
                                   idle[cut], rates[0, cut], rates[1, cut], basis)
        start = end
    return out


# The job's arrays end to end, per sample: each sample is the end of one interval and the
# start of the next.
_CONCAT: IdentityMemo[dict[tuple[str, ...], np.ndarray]] = IdentityMemo(64)


def _concat(sample: Sample, vids: tuple[str, ...]) -> np.ndarray:
    """busy, idle, backpressured ms, records in and out, busy unmeasured: one row each over
    the given vertices' subtasks, end to end."""
    made = _CONCAT.get((sample,), dict)
    hit = made.get(vids)
    if hit is None:
        cols = [sample.columns(v) for v in vids]
        hit = made[vids] = np.concatenate(
            [np.vstack([c.counters[:5], c.busy_unmeasured[None, :]]) for c in cols], axis=1)
    return hit



def subtask_windows(samples: list[Sample]) -> dict[str, list[SubtaskWindow]]:
    """`window.subtask_windows`, with the vertices read aggregated summarised over arrays."""
    if not samples:
        return {}
    last = samples[-1]
    fast: dict[str, list[SubtaskWindow]] = {}
    for vid in last.subtasks:
        ws = _window(samples, vid)
        if ws is not None:
            fast[vid] = ws
    rest = _subtask_windows(samples, skip=set(fast))
    return {vid: fast[vid] if vid in fast else rest[vid] for vid in last.subtasks}


def _window(samples: list[Sample], vid: str) -> list[SubtaskWindow] | None:
    """A vertex's subtasks over the whole window: those read with counters only over arrays,
    those whose gauges were read one by one as `subtask_window` summarises them. None when
    every subtask has gauges, or the first and last polls hold different subtasks."""
    first, last = samples[0], samples[-1]
    a, b = first.columns(vid), last.columns(vid)
    if not len(b) or not a.same_subtasks(b):
        return None
    gauged = np.zeros(len(b), dtype=bool)
    for s in samples:
        c = s.columns(vid)
        if len(c) != len(b):
            return None
        gauged |= c.gauged
    if gauged.all():
        return None
    rin, rout = b.of_counter(Q.RECORDS_IN), b.of_counter(Q.RECORDS_OUT)
    with np.errstate(invalid="ignore", divide="ignore"):
        pb, pi, pp, span, fast = _times(a.counters, b.counters)
        fast &= ~np.isnan(rin) & ~gauged
        secs = span / 1000.0
        rates: list[list[float | None]] = []
        for _, key in RATE_FIELDS:
            x0, x1 = a.of_counter(key), b.of_counter(key)
            # A counter listed after the first poll starts later: the per-subtask path.
            fast &= ~(np.isfinite(x1) & ~np.isfinite(x0))
            known = np.isfinite(x0) & np.isfinite(x1)
            rates.append(_py(np.where(known, np.maximum(x1 - x0, 0.0) / secs, np.nan)))
        taken = np.where(rin != 0, rin, rout)
        busy_ms = b.counters[0]
        cost = np.where(np.isfinite(taken) & (taken > 0), busy_ms / 1000.0 / taken, np.nan)
        busy = _py(np.where(b.busy_unmeasured, np.nan, pb / span))
        idle, bp = (pi / span).tolist(), (pp / span).tolist()
    spans, costs, ok = secs.tolist(), _py(cost), fast.tolist()
    subs = last.subtasks[vid]
    out: list[SubtaskWindow] = []
    for k, (st, r0, r1, r2, r3, r4, r5, r6, r7) in enumerate(zip(subs, *rates, strict=True)):
        if not ok[k]:
            out.append(_one(samples, vid, k, st, gauges=gauged[k]))
            continue
        out.append(SubtaskWindow(
            vid, st.index, st.taskmanager_id, st.host, busy[k], bp[k], idle[k], spans[k],
            "counters", r0, r1, r2, r3, r4, r5, r6, r7, cost_since_start_s=costs[k]))
    return out


def _py(a: np.ndarray) -> list[float | None]:
    """An array as Python floats, None for NaN."""
    return [None if x != x else x for x in a.tolist()]


def _one(samples: list[Sample], vid: str, k: int, st: SubtaskSample, *,
         gauges: bool) -> SubtaskWindow:
    """One subtask's window the per-subtask way (its series: the polls that hold it)."""
    series = []
    for s in samples:
        subs = s.subtasks.get(vid, [])
        x = subs[k] if k < len(subs) else None
        if x is None or x.index != st.index:
            x = next((y for y in subs if y.index == st.index), None)
        if x is not None and x.attempt == st.attempt:
            series.append(x)
    return subtask_window(series or [st], counters_only=not gauges)


def _put(w: SubtaskWindow, k: int, busy: np.ndarray, bp: np.ndarray, idle: np.ndarray,
         rin: np.ndarray, rout: np.ndarray) -> None:
    for arr, v in ((busy, w.busy), (bp, w.backpressured), (idle, w.idle),
                   (rin, w.records_in_per_s), (rout, w.records_out_per_s)):
        arr[k] = np.nan if v is None else v


def _max(a: np.ndarray) -> float | None:
    finite = a[np.isfinite(a)]
    return float(finite.max()) if len(finite) else None


def _sum(a: np.ndarray) -> float | None:
    finite = a[np.isfinite(a)]
    # Python's sum over the same values in the same order: the per-subtask path's floats.
    return float(sum(finite.tolist())) if len(finite) else None


def task_state(vertex: Vertex, cols: IntervalColumns, upstream: list[str],
               downstream: list[str], ship_strategies: list[str]) -> TaskState:
    """The task's state as `locate.task_states` folds it (ratios: max over subtasks; rates:
    sum), with its subtasks' states made only when read."""
    bp = _max(cols.backpressured)
    rin, busy = cols.records_in_per_s, cols.busy
    with np.errstate(invalid="ignore", divide="ignore"):
        telling = (np.isfinite(rin) & (rin != 0) & np.isfinite(busy)
                   & (busy >= _TRUE_RATE_MIN_BUSY))
        rates = (rin[telling] / busy[telling]).tolist()
    return TaskState(
        vertex_id=vertex.id, name=vertex.name, parallelism=vertex.parallelism,
        max_parallelism=vertex.max_parallelism, busy=_max(busy), backpressured=bp,
        idle=_max(cols.idle), level=level_of(bp), records_in_per_s=_sum(rin),
        records_out_per_s=_sum(cols.records_out_per_s),
        true_rate_per_subtask=(sum(rates) / len(rates)) if rates else None,
        subtasks=SubtaskStates(cols), upstream=upstream, downstream=downstream,
        ship_strategies=ship_strategies,
    )


def _opt(x: float) -> float | None:
    return None if x != x else x  # NaN: not measured


class SubtaskStates(Sequence[SubtaskState]):
    """A task's subtask states over arrays: each `SubtaskState` is made when first read, and
    the hottest subtask is found without making any."""

    def __init__(self, cols: IntervalColumns) -> None:
        self._cols = cols
        self._made: list[SubtaskState] | None = None

    def __len__(self) -> int:
        return len(self._cols.index)

    def _all(self) -> list[SubtaskState]:
        if self._made is None:
            c = self._cols
            self._made = [
                SubtaskState(index=i, taskmanager=tm, busy=_opt(b), backpressured=_opt(p),
                             idle=_opt(d), records_in_per_s=_opt(ri), records_out_per_s=_opt(ro),
                             in_pool_usage=None, out_pool_usage=None, in_floating_usage=None,
                             in_exclusive_usage=None, basis=basis)
                for i, tm, b, p, d, ri, ro, basis in zip(
                    c.index.tolist(), (st.taskmanager_id for st in c.subtasks), c.busy.tolist(),
                    c.backpressured.tolist(), c.idle.tolist(), c.records_in_per_s.tolist(),
                    c.records_out_per_s.tolist(), c.basis, strict=True)
            ]
        return self._made

    @overload
    def __getitem__(self, i: int) -> SubtaskState: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[SubtaskState]: ...
    def __getitem__(self, i: int | slice) -> SubtaskState | Sequence[SubtaskState]:
        return self._all()[i]

    def __iter__(self) -> Iterator[SubtaskState]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def hottest(self) -> SubtaskState | None:
        """The subtask with the highest busy ratio (the first of equals), None when no busy
        ratio is known."""
        busy = self._cols.busy
        known = np.isfinite(busy)
        if not known.any():
            return None
        k = int(np.argmax(np.where(known, busy, -np.inf)))
        return self._all()[k] if self._made is not None else self._one(k)

    def by_index(self, index: int) -> SubtaskState | None:
        hits = np.flatnonzero(self._cols.index == index)
        return self._one(int(hits[0])) if len(hits) else None

    def _one(self, k: int) -> SubtaskState:
        c = self._cols
        return SubtaskState(
            index=int(c.index[k]), taskmanager=c.subtasks[k].taskmanager_id,
            busy=_opt(float(c.busy[k])), backpressured=_opt(float(c.backpressured[k])),
            idle=_opt(float(c.idle[k])),
            records_in_per_s=_opt(float(c.records_in_per_s[k])),
            records_out_per_s=_opt(float(c.records_out_per_s[k])), in_pool_usage=None,
            out_pool_usage=None, in_floating_usage=None, in_exclusive_usage=None,
            basis=c.basis[k])


def hottest(subtasks: Sequence[SubtaskState]) -> SubtaskState | None:
    """The subtask with the highest busy ratio (the first of equals)."""
    if isinstance(subtasks, SubtaskStates):
        return subtasks.hottest()
    known = [s for s in subtasks if s.busy is not None]
    return max(known, key=lambda s: s.busy or 0.0) if known else None


def subtask_at(subtasks: Sequence[SubtaskState], index: int) -> SubtaskState | None:
    """The subtask of `index`, found without making every state of a big task."""
    if isinstance(subtasks, SubtaskStates):
        return subtasks.by_index(index)
    return next((s for s in subtasks if s.index == index), None)
