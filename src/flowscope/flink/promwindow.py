"""Prometheus series of one job, turned into the model's `Sample`s: the edge where PromQL
answers become typed data (as `answers.py` is for REST).

One sample per query step at which every subtask that exists then has a fresh value (its
TaskManager was scraped within `stale_after_s`). A step without one is a gap: it yields no
sample, and runs of them are said in `History.notes`, never filled in. A subtask that restarted
has one series per attempt (`task_attempt_num`); each step takes the newest attempt present.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowscope.flink import metric_names as names
from flowscope.model import (
    CheckpointStats,
    JobGraph,
    Quantity,
    Sample,
    SubtaskSample,
    TaskManagerSample,
)

Rows = list[tuple[dict[str, str], list[tuple[float, float]]]]
COUNTERS = (Quantity.BUSY_MS, Quantity.IDLE_MS, Quantity.BACKPRESSURED_MS)


@dataclass(frozen=True)
class PromJob:
    """A job as its series name it: `name` is the mangled `job_name` label."""

    id: str
    name: str
    scrape_job: str = ""  # the Prometheus `job` label of its task series


@dataclass
class History:
    """A job's samples over [start, end] (epoch seconds), one per step that had fresh data."""

    job: PromJob
    start: float
    end: float
    step_s: float
    samples: list[Sample]
    # (first, last) epoch seconds of each run of steps without fresh data for the job.
    gaps: list[tuple[float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    queries: int = 0

    def attempts(self) -> list[list[Sample]]:
        """The samples split where any subtask's attempt changes (a restart): counters start
        again from 0 with each attempt, so windows are judged within one."""
        out: list[list[Sample]] = []
        last: tuple[tuple[str, int, int], ...] | None = None
        for s in self.samples:
            key = tuple(sorted((vid, st.index, st.attempt)
                               for vid, subs in s.subtasks.items() for st in subs))
            if key != last and (last is None or _restarted(last, key)):
                out.append([])
            last = key
            out[-1].append(s)
        return out


def _restarted(before: tuple[tuple[str, int, int], ...],
               after: tuple[tuple[str, int, int], ...]) -> bool:
    was = {(v, i): a for v, i, a in before}
    return any(was.get((v, i), a) != a for v, i, a in after)


@dataclass
class _Series:
    """One subtask attempt's values by step time."""

    tm: str
    host: str
    task_name: str
    at: dict[float, dict[str, float]] = field(default_factory=dict)


def build(job: PromJob, start: float, end: float, step_s: float, task_rows: Rows,
          fresh_rows: Rows, other_rows: Rows, task_names: dict[str, str],
          tm_names: Mapping[str, tuple[str, int]], stale_after_s: float) -> History:
    """Samples from the answers of the three range queries (see flowscope.flink.prometheus).

    `task_names`: reporter name (without `flink_taskmanager_job_task_`) -> quantity;
    `tm_names`: TaskManager name (without `flink_taskmanager_`) -> (quantity, preference)."""
    series: dict[tuple[str, int, int], _Series] = {}
    for labels, values in task_rows:
        q = task_names.get(labels.get("__name__", "").removeprefix(names.PROM_TASK))
        vid = labels.get(names.PROM_LABEL_TASK_ID, "")
        index, attempt = _int(labels.get(names.PROM_LABEL_SUBTASK)), _int(
            labels.get(names.PROM_LABEL_ATTEMPT), 0)
        if q is None or not vid or index is None or attempt is None:
            continue
        s = series.setdefault((vid, index, attempt), _Series(
            labels.get(names.PROM_LABEL_TM, ""), labels.get(names.PROM_LABEL_HOST, ""),
            labels.get("task_name", vid)))
        for t, v in values:
            s.at.setdefault(_key(t), {})[q] = v
    fresh: dict[str, dict[float, float]] = {}
    for labels, values in fresh_rows:
        fresh[labels.get(names.PROM_LABEL_TM, "")] = {_key(t): v for t, v in values}
    tm_at: dict[str, dict[float, dict[str, tuple[float, int]]]] = {}
    job_at: dict[float, dict[str, float]] = {}
    for labels, values in other_rows:
        name = labels.get("__name__", "")
        if name.startswith(names.PROM_JOB):
            for t, v in values:
                job_at.setdefault(_key(t), {})[name.removeprefix(names.PROM_JOB)] = v
            continue
        found = tm_names.get(name.removeprefix(names.PROM_TASKMANAGER))
        tm = labels.get(names.PROM_LABEL_TM, "")
        if found is None or not tm:
            continue
        q, rank = found
        for t, v in values:
            slot = tm_at.setdefault(tm, {}).setdefault(_key(t), {})
            if q not in slot or rank < slot[q][1]:
                slot[q] = (v, rank)

    spans: dict[tuple[str, int], tuple[float, float]] = {}
    for (vid, index, _), s in series.items():
        if s.at:
            lo, hi = min(s.at), max(s.at)
            old = spans.get((vid, index), (lo, hi))
            spans[(vid, index)] = (min(old[0], lo), max(old[1], hi))
    seen_at = sorted({t for s in series.values() for t in s.at})
    # Every step of the query grid between the first and last value: a step at which the
    # server had nothing at all (it was down for longer than its 5 min look-back) is a gap too.
    steps = sorted(set(seen_at) | {
        _key(_key(start) + k * step_s) for k in range(int((end - start) // step_s) + 1)
        if seen_at and seen_at[0] <= _key(_key(start) + k * step_s) <= seen_at[-1]})
    samples: list[Sample] = []
    missing: list[tuple[float, str]] = []
    gauges_only: set[str] = set()
    for t in steps:
        subtasks: dict[str, list[SubtaskSample]] = {}
        why = ""
        for (vid, index), (lo, hi) in sorted(spans.items()):
            if not lo <= t <= hi:
                continue
            here = [(a, s) for (v, i, a), s in series.items() if v == vid and i == index
                    and t in s.at]
            if not here:
                why = f"no value of {vid}[{index}]"
                break
            attempt, s = max(here, key=lambda p: p[0])
            seen = fresh.get(s.tm, {}).get(t)
            if seen is None or t - seen > stale_after_s:
                why = f"TaskManager {s.tm} not scraped" + (
                    f" for {t - seen:.0f} s" if seen is not None else "")
                break
            at_t = dict(s.at[t])
            if not all(str(q) in at_t for q in COUNTERS):
                gauges_only.add(s.task_name)
            subtasks.setdefault(vid, []).append(SubtaskSample(
                vertex_id=vid, index=index, attempt=attempt, taskmanager_id=s.tm, host=s.host,
                values=at_t))
        if why or not subtasks:
            missing.append((t, why))
            continue
        samples.append(_sample(job, t, subtasks, tm_at, job_at.get(t, {}), gauges_only))
    history = History(job, start, end, step_s, samples)
    _say_gaps(history, steps, missing, step_s)
    _say_restarts(history)
    return history


def _sample(job: PromJob, t: float, subtasks: dict[str, list[SubtaskSample]],
            tm_at: dict[str, dict[float, dict[str, tuple[float, int]]]],
            jobv: dict[str, float], gauges_only: set[str]) -> Sample:
    tms = {st.taskmanager_id: st.host for subs in subtasks.values() for st in subs}
    taskmanagers = {
        tm: TaskManagerSample(tm, host,
            {q: v for q, (v, _) in tm_at.get(tm, {}).get(t, {}).items()})
        for tm, host in sorted(tms.items())
    }
    uptime_ms = jobv.get(names.PROM_JOB_UPTIME)
    ck = {k: jobv.get(n) for k, n in names.PROM_JOB_CHECKPOINTS.items()}
    checkpoints = CheckpointStats(
        completed=_count(ck["completed"]), failed=_count(ck["failed"]),
        in_progress=_count(ck["in_progress"]), latest_duration_ms=ck["latest_duration_ms"],
        latest_size_bytes=ck["latest_size_bytes"])
    warnings = [f"{name}: no accumulated-time counters; busy / idle / backpressured from "
                "Flink's *TimeMsPerSecond gauges" for name in sorted(gauges_only)]
    return Sample(
        t=t, job_id=job.id, job_state="RUNNING", subtasks=subtasks, taskmanagers=taskmanagers,
        checkpoints=checkpoints,
        job_start=t - uptime_ms / 1000.0 if uptime_ms and uptime_ms > 0 else None,
        warnings=warnings)


def _say_gaps(history: History, steps: list[float], missing: list[tuple[float, str]],
              step_s: float) -> None:
    """Runs of steps without a sample, and the window's edges without series, as notes."""
    if steps and steps[0] - history.start > 2 * step_s:
        history.notes.append(f"the job's series begin at {when(steps[0])}, after the window "
                             "starts (the job started then, or was not scraped before)")
    if steps and history.end - steps[-1] > 2 * step_s:
        history.notes.append(f"the job's series end at {when(steps[-1])}, before the window "
                             "ends (the job stopped then, or was no longer scraped)")
    sampled = {s.t for s in history.samples}
    why = dict(missing)
    run: list[float] = []
    for t in [*steps, math.inf]:
        if t not in sampled and t != math.inf:
            run.append(t)
            continue
        if run:
            first, last = run[0], run[-1]
            history.gaps.append((first, last))
            history.notes.append(
                f"no fresh values from {when(first)} to {when(last)} "
                f"({last - first + step_s:.0f} s: {why.get(first) or 'no series'}): a gap, "
                "not interpolated")
            run = []


def _say_restarts(history: History) -> None:
    segments = history.attempts()
    for seg in segments[1:]:
        attempt = max(st.attempt for subs in seg[0].subtasks.values() for st in subs)
        history.notes.append(
            f"the job restarted: attempt {attempt} from {when(seg[0].t)}; counters start again "
            "with each attempt, so each attempt is judged on its own samples")


def fit_to_graph(history: History, graph: JobGraph) -> list[str]:
    """Keep the subtasks the graph has (vertex ids and parallelism: series of a rescaled or
    other job version are left out) and say what was left out. Raises ValueError when no
    vertex of the graph has series (the graph is of another job)."""
    notes: list[str] = []
    parallelism = {v.id: v.parallelism for v in graph.vertices}
    kept_any = False
    dropped: set[str] = set()
    for s in history.samples:
        for vid in list(s.subtasks):
            if vid not in parallelism:
                dropped.add(vid)
                del s.subtasks[vid]
                continue
            s.subtasks[vid] = [st for st in s.subtasks[vid] if st.index < parallelism[vid]]
            kept_any = kept_any or bool(s.subtasks[vid])
    if not kept_any:
        raise ValueError("no vertex of the job graph has series in the window")
    if dropped:
        notes.append(f"series of {len(dropped)} vertices the job graph does not have were "
                     "left out (another version of the job?)")
    absent = [v.name for v in graph.vertices
              if not any(v.id in s.subtasks for s in history.samples)]
    if absent:
        notes.append(f"no series of {', '.join(absent[:4])} in the window")
    # A job that ends (or starts) unregisters (registers) its subtasks' metrics one by one: a
    # step with only some of a vertex's subtasks would judge the task on the rest (a skew
    # read over its hot subtask alone looks uniform). Such steps are left out when others
    # have every subtask.
    present = {vid for s in history.samples for vid, subs in s.subtasks.items() if subs}

    def complete(s: Sample) -> bool:
        return all(len(s.subtasks.get(vid, ())) == parallelism[vid] for vid in present)

    whole = [s for s in history.samples if complete(s)]
    if whole and len(whole) < len(history.samples):
        notes.append(f"{len(history.samples) - len(whole)} step(s) in which some subtasks had "
                     "no series (the job starting or ending) were left out")
        history.samples = whole
    return notes


def when(t: float) -> str:
    """Epoch seconds as RFC 3339 UTC."""
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(t: float) -> float:
    # Step times are exact multiples of the step from `start`; rounding joins the answers of
    # different queries (and of split ranges) on the same step.
    return round(t, 3)


def _int(v: Any, default: int | None = None) -> int | None:
    try:
        return int(str(v))
    except (TypeError, ValueError):
        return default


def _count(v: float | None) -> int:
    return int(v) if v is not None and math.isfinite(v) and v >= 0 else 0
