"""A fleet's jobs judged from per-task aggregates over one window: the dashboard reading of the
2021 post ("the busiest task downstream of the backpressured ones"), with the cause rules of
causes.py applied to the hottest subtask and its peers' medians. Pure.

A fleet scan reads aggregates, not per-subtask series: per task the max / mean / min busy
ratio, the backpressured and idle ratios, record rates, the hottest subtask and the median of
its peers. Without a job graph there are no edges, so the bottleneck is located as a person
reads a dashboard: in a job with backpressured tasks, the busiest task that is not itself held
back (its hottest subtask is not more backpressured than busy, analysis.locate's test). With
the graph, analysis.locate decides. No stack samples and no JVM CPU time
are read: a busy uniform bottleneck is named compute-bound at medium confidence, and
`flowscope diagnose --job ...` tells on-CPU from off-CPU work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from flowscope.analysis.capacity import (
    MAX_SOURCE_BP_FOR_ESTIMATE,
    TARGET_UTILISATION,
    needed_parallelism,
)
from flowscope.analysis.causes import RELATIVE_HOT, SKEW_RATIO, SLOW_COST_RATIO
from flowscope.analysis.engine import MIN_UPTIME_S
from flowscope.analysis.findings import (
    BUSY_HOT,
    LOW_THRESHOLD,
    Action,
    Cause,
    Confidence,
    Diagnosis,
    Evidence,
    Finding,
    Level,
    SubtaskState,
    TaskState,
    Verdict,
    level_of,
)
from flowscope.analysis.locate import locate
from flowscope.analysis.numbers import pct, rounded
from flowscope.analysis.sources import HEAD_BUSY, head_limits
from flowscope.model import JobGraph

__all__ = ["HEAD_BUSY", "RELATIVE_HOT", "HotSubtask", "JobAggregate", "TaskAggregate",
           "held_for", "state_code", "triage"]

# The state of a job at one step of the "for how long" history: what the verdict would be
# from its most backpressured task and the busy time of its first tasks.
STATE_CODES = {Verdict.HEALTHY: 0, Verdict.LIMITED: 1, Verdict.BACKPRESSURED: 2}


@dataclass(frozen=True)
class HotSubtask:
    """A task's busiest subtask over the window (ratios 0..1, rates in records/s)."""

    index: int
    taskmanager: str
    busy: float
    backpressured: float | None = None
    records_in_per_s: float | None = None
    records_out_per_s: float | None = None

    @property
    def load_per_s(self) -> float | None:
        """Its records in per second, or out for a subtask that takes none in (a source):
        the same per-subtask rule as TaskAggregate.peers_load_median."""
        if self.records_in_per_s:
            return self.records_in_per_s
        return self.records_out_per_s


@dataclass(frozen=True)
class TaskAggregate:
    """One task (job vertex) over the window, folded over its subtasks. Ratios 0..1, rates in
    records/s; `peers_*` are medians over the subtasks other than the hottest (its peers, as
    causes.py compares them), cost in busy seconds per record. None: not measured."""

    task_id: str
    name: str
    subtasks: int
    busy_max: float | None = None
    busy_avg: float | None = None
    busy_min: float | None = None
    # Subtasks busy at least max(BUSY_HOT, RELATIVE_HOT x busy_max): causes.py's "hot" ones.
    hot_subtasks: int = 0
    backpressured_max: float | None = None
    backpressured_avg: float | None = None
    idle_max: float | None = None
    idle_avg: float | None = None
    records_in_per_s: float | None = None  # summed over subtasks
    records_out_per_s: float | None = None
    hottest: HotSubtask | None = None
    peers_busy_median: float | None = None
    peers_load_median: float | None = None
    peers_cost_median: float | None = None
    # Subtasks whose ratios come from accumulated-time counters (the others: Flink's gauges).
    counted: int = 0

    @property
    def is_source(self) -> bool:
        """Takes no records in: the first task of its job (as a dashboard tells it)."""
        return not self.records_in_per_s

    @property
    def load_per_s(self) -> float | None:
        return self.records_out_per_s if self.is_source else self.records_in_per_s


@dataclass(frozen=True)
class JobAggregate:
    """A job's tasks over the window; `name` as its series label it (mangled)."""

    job_id: str
    name: str
    tasks: tuple[TaskAggregate, ...]
    uptime_s: float | None = None


def head_busy(tasks: Sequence[TaskAggregate]) -> float | None:
    """The busy ratio of the job's busiest first task (a task that takes no records in), or of
    its busiest task when none can be told apart."""
    heads = [t.busy_max for t in tasks if t.is_source and t.busy_max is not None]
    if heads:
        return max(heads)
    return max((t.busy_max for t in tasks if t.busy_max is not None), default=None)


def state_of(backpressured_max: float | None, busy_at_head: float | None) -> Verdict:
    """A job's state from its most backpressured task and its first tasks' busy time."""
    if (backpressured_max or 0.0) > LOW_THRESHOLD:
        return Verdict.BACKPRESSURED
    if (busy_at_head or 0.0) >= HEAD_BUSY:
        return Verdict.LIMITED
    return Verdict.HEALTHY


def state_code(verdict: Verdict) -> int | None:
    """The number a state history carries for `verdict` (None: not a state it carries)."""
    return STATE_CODES.get(verdict)


def held_for(points: Sequence[tuple[float, float]], verdict: Verdict, at: float,
             step_s: float) -> float | None:
    """Seconds `verdict` has held up to `at`, from a job's state history: (epoch s, state
    code) points one step apart. The run of equal states ending at the last point counts; a
    missing step ends it. None when the history does not end at `at` in that state. A run
    that starts at the history's first point is a lower bound."""
    code = state_code(verdict)
    pts = sorted(points)
    if code is None or not pts or abs(pts[-1][0] - at) > step_s or pts[-1][1] != code:
        return None
    first = pts[-1][0]
    for t, c in reversed(pts[:-1]):
        if c != code or first - t > 1.5 * step_s:
            break
        first = t
    return at - first


def triage(job: JobAggregate, *, t: float, window_s: float,
           graph: JobGraph | None = None) -> Diagnosis:
    """The diagnosis of one job at `t` (epoch s) from its aggregates over `window_s` seconds.
    With `graph` the bottleneck is located along its edges (analysis.locate); without, from
    the time metrics alone."""
    aggs = {a.task_id: a for a in job.tasks}
    states = _task_states(job, graph)
    tasks = {s.vertex_id: s for s in states}
    notes: list[str] = []
    confidence = Confidence.HIGH
    if job.uptime_s is not None and job.uptime_s < MIN_UPTIME_S:
        confidence = Confidence.LOW
        notes.append(f"the job has run only {job.uptime_s:.0f} s: too young to judge")
    gauged = [a.name for a in job.tasks if a.counted < a.subtasks]
    if gauged:
        notes.append("no accumulated-time counters for " + ", ".join(gauged[:4])
                     + ": its ratios are Flink's *TimeMsPerSecond gauges averaged over the "
                     "window")
    backpressured = any(s.level in (Level.LOW, Level.HIGH) for s in states)
    if graph is not None:
        roots = locate(graph, tasks)
        heads = [] if roots else head_limits(graph, tasks)
        notes.append("located along the job graph's edges, from Prometheus's time metrics")
    else:
        roots, heads = _locate_without_edges(job.tasks)
        notes.append("located from busy and backpressured time without the job graph "
                     "(Prometheus holds no edges): the bottleneck is the busiest task that is "
                     "not itself held back, as on a dashboard")

    findings = [_classify(aggs[r], job, tasks, window_s, at_head=False)
                for r in roots if r in aggs]
    findings += [_classify(aggs[h], job, tasks, window_s, at_head=True)
                 for h in heads if h in aggs]
    if confidence == Confidence.LOW and not roots:
        verdict = Verdict.UNKNOWN
    elif heads and not roots:
        verdict = Verdict.LIMITED
    elif roots or backpressured:
        verdict = Verdict.BACKPRESSURED
    else:
        verdict = Verdict.HEALTHY
    if backpressured and not findings:
        findings.append(Finding(
            Cause.TRANSIENT, None, None,
            "backpressure is present but no busy task that is not itself backpressured "
            "explains it: it may be transient or moving; watch longer",
            is_bottleneck=False,
            evidence=[Evidence(s.name, "backpressured_ratio", rounded(s.backpressured),
                               "ratio", window_s, "max over subtasks")
                      for s in states if s.level in (Level.LOW, Level.HIGH)]))
        confidence = confidence.at_most(Confidence.MEDIUM)
    for f in findings:
        if f.is_bottleneck:
            confidence = confidence.at_most(Confidence.MEDIUM)
            if f.cause == Cause.COMPUTE_BOUND:
                notes.append(
                    f"on-CPU or off-CPU for {f.vertex_name} is not known: a fleet scan reads "
                    "no stack samples nor JVM CPU time; `flowscope diagnose --job "
                    f"{job.job_id}` takes them")
    return Diagnosis(
        job_id=job.job_id, job_name=graph.name if graph else job.name, job_state="RUNNING",
        t=t, window_s=window_s, uptime_s=job.uptime_s, verdict=verdict,
        confidence=confidence, tasks=states, findings=findings, notes=notes)


def _locate_without_edges(tasks: Sequence[TaskAggregate]) -> tuple[list[str], list[str]]:
    """(bottlenecks, limits at the head) from the time metrics only."""
    if any((a.backpressured_max or 0.0) > LOW_THRESHOLD for a in tasks):
        # As analysis.locate: a busy task whose hottest subtask is not held back more than it
        # works (a slow subtask's peers may wait on their shared downstream meanwhile).
        free = [a for a in tasks if (a.busy_max or 0.0) >= BUSY_HOT and not _held_back(a)]
        best = max(free, key=lambda a: ((a.backpressured_max or 0.0) <= LOW_THRESHOLD,
                                        a.busy_max or 0.0, a.name), default=None)
        return ([best.task_id] if best else []), []
    busiest = head_busy(tasks)
    if busiest is None or busiest < HEAD_BUSY:
        return [], []
    heads = [a for a in tasks if a.is_source] or list(tasks)
    top = max(heads, key=lambda a: (a.busy_max or 0.0, a.name))
    return [], [top.task_id]


def _held_back(a: TaskAggregate) -> bool:
    """Its hottest subtask is backpressured at least as much as it is busy."""
    h = a.hottest
    bp, busy = (h.backpressured, h.busy) if h else (a.backpressured_max, a.busy_max)
    return (bp or 0.0) > LOW_THRESHOLD and (bp or 0.0) >= (busy or 0.0)


def _task_states(job: JobAggregate, graph: JobGraph | None) -> list[TaskState]:
    """One TaskState per task, max-aggregated as Flink's UI shows it; its subtask list holds
    the hottest subtask only. In the graph's order with a graph, else first tasks first, then
    the more backpressured (backpressure spreads upstream from the bottleneck)."""
    aggs = {a.task_id: a for a in job.tasks}
    if graph is None:
        order = sorted(job.tasks, key=lambda a: (not a.is_source,
                                                 -(a.backpressured_max or 0.0), a.name))
        return [_state(a, a.name, 0, None) for a in order]
    out = []
    for v in graph.topological():
        a = aggs.get(v.id) or TaskAggregate(v.id, v.name, 0)
        out.append(_state(a, v.name, v.max_parallelism, graph))
    return out


def _state(a: TaskAggregate, name: str, max_parallelism: int,
           graph: JobGraph | None) -> TaskState:
    h = a.hottest
    subtasks = [] if h is None else [SubtaskState(
        index=h.index, taskmanager=h.taskmanager, busy=h.busy, backpressured=h.backpressured,
        idle=None, records_in_per_s=h.records_in_per_s, records_out_per_s=h.records_out_per_s,
        in_pool_usage=None, out_pool_usage=None, in_floating_usage=None,
        in_exclusive_usage=None, basis="counters" if a.counted else "gauges")]
    return TaskState(
        vertex_id=a.task_id, name=name, parallelism=a.subtasks,
        max_parallelism=max_parallelism, busy=a.busy_max, backpressured=a.backpressured_max,
        idle=a.idle_max, level=level_of(a.backpressured_max),
        records_in_per_s=a.records_in_per_s, records_out_per_s=a.records_out_per_s,
        true_rate_per_subtask=_true_rate(a), subtasks=subtasks,
        upstream=graph.upstream(a.task_id) if graph else [],
        downstream=graph.downstream(a.task_id) if graph else [],
        ship_strategies=[e.ship_strategy for e in graph.inputs(a.task_id)] if graph else [])


def _true_rate(a: TaskAggregate) -> float | None:
    """Records one subtask processes per busy second (the mean over subtasks)."""
    load = a.load_per_s
    if not load or not a.busy_avg or not a.subtasks:
        return None
    return load / (a.busy_avg * a.subtasks)


def _ratio(mine: float | None, median: float | None) -> float | None:
    if mine is None or median is None:
        return None
    return mine / median if median > 0 else math.inf


def _classify(a: TaskAggregate, job: JobAggregate, tasks: dict[str, TaskState],
              window_s: float, *, at_head: bool) -> Finding:
    """causes.py's rules on aggregates: the hottest subtask against its peers' medians."""
    name = tasks[a.task_id].name
    job_id = job.job_id
    sources = [s for s in job.tasks if s.is_source and s.task_id != a.task_id]
    head = f"{name} limits the job at its head" if at_head else f"{name} is the bottleneck"
    h = a.hottest
    n = a.subtasks
    ev = [Evidence(name, "busy_ratio", rounded(a.busy_max), "ratio", window_s,
                   "max over subtasks of the share of time spent processing records")]
    ev += [Evidence(s.name, "backpressured_ratio", rounded(s.backpressured), "ratio",
                    window_s, "held back by a busy task (which one: no edges to tell)")
           for s in tasks.values() if s.level in (Level.LOW, Level.HIGH)][:3]
    finding = Finding(Cause.COMPUTE_BOUND, a.task_id, name, "", evidence=ev, at_head=at_head,
                      subtasks=[h.index] if h else [],
                      taskmanagers=[h.taskmanager] if h and h.taskmanager else [])
    hot_n = a.hot_subtasks
    cool = hot_n < n
    uniform = hot_n >= max(1, math.ceil(0.75 * n))
    loaded = cool and (a.busy_min or 0.0) >= BUSY_HOT
    load = h.load_per_s if h else None
    rec_ratio = _ratio(load, a.peers_load_median)
    cost_ratio = _ratio(h.busy / load if h and load else None, a.peers_cost_median)
    costly = n > 1 and cost_ratio is not None and cost_ratio >= SLOW_COST_RATIO
    skewed = (hot_n > 0 and not uniform and cool and not loaded and not costly
              and rec_ratio is not None and rec_ratio >= SKEW_RATIO)
    uneven = not uniform and cool and not loaded
    if h is not None and (skewed or costly or uneven):
        ev.append(Evidence(f"{name}[{h.index}]", "load_per_s", rounded(load, 1), "records/s",
                           window_s, f"the hottest subtask, busy {pct(h.busy)} on "
                           f"{h.taskmanager or '?'}"))
        ev.append(Evidence(f"{name} (peers)", "load_per_s", rounded(a.peers_load_median, 1),
                           "records/s", window_s, f"median of the other {n - 1} subtasks, "
                           f"busy {pct(a.peers_busy_median)}"))
    if skewed and h is not None:
        finding.cause = Cause.DATA_SKEW
        finding.summary = (f"{head}: data skew. Subtask {h.index} receives {rec_ratio:.1f}x "
                           f"the records of its peers' median and is busy {pct(h.busy)}; its "
                           f"peers are busy {pct(a.peers_busy_median)}")
        finding.actions.append(Action(
            "Spread the hot keys: salt them (key + random suffix, then merge) or pre-aggregate "
            "before the keyBy (local/two-phase aggregation). More parallelism will not help: "
            "every record of a key goes to the same subtask."))
        total = a.load_per_s
        if load and total and h.busy:
            share = load / total
            ceiling = load / h.busy / share
            finding.actions.append(Action(
                f"While {share:.0%} of its records go to subtask {h.index}, {name} tops out "
                f"near {ceiling:.0f} records/s at any parallelism (the hot subtask processes "
                f"{load / h.busy:.0f} records/s at full load)."))
        return finding
    if (costly or uneven) and h is not None:
        where = h.taskmanager or "unknown TaskManager"
        finding.cause = Cause.SLOW_INSTANCE
        finding.summary = (
            f"{head}: a slow instance. Subtask {h.index} on {where} spends "
            + (f"{cost_ratio:.1f}x " if cost_ratio else "more ")
            + "the busy time per record of its peers on "
            + (f"{rec_ratio:.1f}x " if rec_ratio is not None else "about as many ")
            + f"the records, and is busy {pct(h.busy)}")
        finding.actions.append(Action(
            f"Look at the host of {where}: CPU steal, GC, a noisy neighbour, a slow disk; or at "
            "data that is costlier on that subtask. Restarting the job (or moving the "
            "TaskManager) places the subtask elsewhere."))
        return finding
    finding.subtasks = []
    finding.summary = (
        f"{head}: busy. {hot_n} of {n} subtasks are busy (max {pct(a.busy_max)}) while "
        + ("nothing downstream holds it back" if at_head else "tasks before it are "
           "backpressured")
        + f"; computing or waiting (off-CPU) needs stack samples: `flowscope diagnose --job "
        f"{job_id}`")
    finding.actions.append(_scale(a, name, sources, window_s, finding))
    return finding


def _scale(a: TaskAggregate, name: str, sources: Sequence[TaskAggregate], window_s: float,
           finding: Finding) -> Action:
    """A parallelism for a busy uniform bottleneck: capacity.py's rule (input rate over 80% of
    the true rate per subtask) when the sources' unthrottled rate can be estimated (they are
    blocked at most MAX_SOURCE_BP_FOR_ESTIMATE of the time), else ceil(p x mean busy / 0.8),
    a lower bound."""
    p = max(a.subtasks, 1)
    true_rate = _true_rate(a)
    if true_rate:
        finding.evidence.append(Evidence(name, "true_rate_per_subtask", round(true_rate, 1),
                                         "records per busy second", window_s,
                                         "what one subtask processes when never idle"))
    now = sum(s.records_out_per_s or 0.0 for s in sources)
    bps = [s.backpressured_avg for s in sources]
    if (true_rate and a.load_per_s and sources and now > 0
            and all(b is not None and b <= MAX_SOURCE_BP_FOR_ESTIMATE for b in bps)):
        offered = sum((s.records_out_per_s or 0.0) / (1.0 - (s.backpressured_avg or 0.0))
                      for s in sources)
        # Without edges the bottleneck's share of the sources' output is today's ratio.
        need_in = a.load_per_s * offered / now
        want = needed_parallelism(need_in, true_rate, 0)
        return Action(
            f"To carry {offered:.0f} records/s from the sources (the rate they would emit "
            f"unthrottled; today {now:.0f}) at {TARGET_UTILISATION:.0%} utilisation: {name}: "
            f"{p} -> {want} (needs {need_in:.0f} records/s at {true_rate:.0f} per subtask)",
            parallelism={name: want})
    busy = a.busy_avg if a.busy_avg is not None else (a.busy_max or 0.0)
    want = max(p, math.ceil(p * busy / TARGET_UTILISATION))
    basis = ("the input it would take unthrottled is not measured" if finding.at_head else
             "the first tasks are held back too much to estimate what they would emit "
             "unthrottled, so more may be needed")
    return Action(
        f"Scale {name} out: {p} -> at least {want} subtasks, to run its current load at "
        f"{TARGET_UTILISATION:.0%} utilisation (its subtasks are busy {pct(busy)} on average; "
        f"{basis}).", parallelism={name: want})
