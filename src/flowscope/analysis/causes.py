"""Why a task is the bottleneck: the cause table of DESIGN.md, rule by rule, with evidence."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

from flowscope.analysis.cpu import jvm_cpu_is_off_cpu, work_of
from flowscope.analysis.findings import (
    BUSY_HOT,
    FLAME_GRAPH,
    LOW_THRESHOLD,
    Action,
    Cause,
    CpuSplit,
    Evidence,
    Finding,
    StackUnavailable,
    TaskManagerFacts,
    TaskState,
    Work,
)
from flowscope.analysis.gc import gc_persists
from flowscope.analysis.numbers import finite_mean, pct, rounded
from flowscope.analysis.window import SubtaskWindow
from flowscope.model import JobGraph

# A subtask busy at least BUSY_HOT and this share of the hottest subtask's busy time is hot.
RELATIVE_HOT = 0.75
SKEW_RATIO = 1.5  # the hottest subtask receives this many times its peers' records: skew
SLOW_COST_RATIO = 1.8  # busy time per record this many times the peers': a slow instance
SOURCE_BUSY = 0.9
NO_FACTS = TaskManagerFacts()

def classify(
    graph: JobGraph,
    tasks: dict[str, TaskState],
    task: TaskState,
    subs: list[SubtaskWindow],
    tms: dict[str, TaskManagerFacts],
    window_s: float,
    cpu: CpuSplit | StackUnavailable | None = None,
    at_head: bool = False,
) -> Finding:
    """Name the cause of one located bottleneck. `cpu` splits its busy stack samples into
    on-CPU and off-CPU (from flame graphs or thread dumps), or says why there are none.
    `at_head`: the task is the first of the job and at its limit with nothing backpressured
    (the same rules apply; the sentences say where the limit is)."""
    finding = _classify(graph, tasks, task, subs, tms, window_s, cpu, at_head)
    finding.at_head = at_head
    if finding.cause in (Cause.COMPUTE_BOUND, Cause.OFF_CPU, Cause.GC_PRESSURE):
        _note_imbalance(finding, graph, task, subs, window_s)
    if isinstance(cpu, CpuSplit) and cpu.python and finding.cause in (Cause.COMPUTE_BOUND,
                                                                      Cause.OFF_CPU):
        finding.summary += (f"; the time is spent in the Python UDF (PyFlink {cpu.python} "
                            "mode): profile the Python function, not the JVM")
    if at_head:
        finding.summary += (". Nothing is backpressured because the limit is the first task of "
                            "the job: nothing runs before it to be held back")
    return finding


def _classify(
    graph: JobGraph,
    tasks: dict[str, TaskState],
    task: TaskState,
    subs: list[SubtaskWindow],
    tms: dict[str, TaskManagerFacts],
    window_s: float,
    cpu: CpuSplit | StackUnavailable | None,
    at_head: bool,
) -> Finding:
    head = (f"{task.name} limits the job at its head" if at_head
            else f"{task.name} is the bottleneck")
    measured = [s for s in subs if s.busy is not None]
    # Hot relative to the hottest subtask: on a shared host a peer may read 50% busy from
    # noisy neighbours while the real bottleneck subtask reads 99%.
    top = max((s.busy or 0.0) for s in measured) if measured else 0.0
    bar = max(BUSY_HOT, RELATIVE_HOT * top)
    hot = [s for s in measured if (s.busy or 0) >= bar]
    cool = [s for s in measured if (s.busy or 0) < bar]
    ev = [
        Evidence(task.name, "busy_ratio", round(task.busy or 0, 3), "ratio", window_s,
                 "max over subtasks of the share of time spent processing records"),
    ]
    for u in graph.upstream(task.vertex_id):
        up = tasks[u]
        ev.append(Evidence(up.name, "backpressured_ratio", rounded(up.backpressured),
                           "ratio", window_s, "the input is held back by this task"))
    hot_idx = [s.index for s in hot]
    hot_tms = sorted({s.taskmanager_id for s in hot})
    finding = Finding(Cause.COMPUTE_BOUND, task.vertex_id, task.name, "", subtasks=hot_idx,
                      taskmanagers=hot_tms, evidence=ev)

    uniform = len(hot) >= max(1, math.ceil(0.75 * len(measured)))
    # A source takes in no records: its load is what it emits.
    inputs = bool(graph.inputs(task.vertex_id))

    def records(s: SubtaskWindow) -> float | None:
        return s.records_in_per_s if inputs else s.records_out_per_s

    # Busy time per record tells a slow subtask from one that gets more records: on a shared
    # host a peer's busy time is inflated by waiting for a core, its cost per record much less.
    cost = {s.index: s.busy / r for s in measured if s.busy and (r := records(s))}
    hottest = max(measured, key=lambda s: s.busy or 0.0) if measured else None
    peers = [s for s in measured if s is not hottest]
    # No peer took a record in the window: starved behind the hot subtask (a slow subtask
    # fills the upstream's shared output buffers; seen live), or every key goes to it. Their
    # cost per record since the job started tells the two apart.
    starved = bool(peers) and not any(p.index in cost for p in peers)
    if starved:
        cost = {s.index: c for s in measured if (c := s.cost_since_start_s) is not None}
    rec_ratio = _ratio_to_peers(hottest, peers, records)
    cost_ratio = _ratio_to_peers(hottest, peers, lambda s: cost.get(s.index))
    # Every subtask loaded (the coolest busy at least BUSY_HOT): the input is uneven, but no
    # subtask has headroom to spare, so more parallelism spreads the load. Data skew is load
    # that the peers' headroom cannot take: the ratio of records alone does not decide.
    loaded = bool(cool) and min(s.busy or 0.0 for s in measured) >= BUSY_HOT
    # A subtask that costs far more per record than its peers is slow, whatever its share of
    # the records: under skew the hot subtask pays about what its peers pay per record (its
    # busy time is capped at 100%, so it reads, if anything, cheaper).
    costly = peers and cost_ratio is not None and cost_ratio >= SLOW_COST_RATIO
    skewed = (bool(hot) and not uniform and cool and not loaded and not costly
              and rec_ratio is not None
              and rec_ratio >= SKEW_RATIO)
    slow = not skewed and costly
    uneven = not uniform and bool(cool) and not loaded
    if skewed or slow or not uniform:
        for s in sorted(measured, key=lambda s: -(s.busy or 0))[:4]:
            per = cost.get(s.index)
            ev.append(Evidence(f"{task.name}[{s.index}]",
                               "records_in_per_s" if inputs else "records_out_per_s",
                               rounded(records(s)), "records/s", window_s,
                               f"busy {pct(s.busy)} on {s.taskmanager_id or '?'}"
                               + (f", {1000 * per:.2f} ms busy per record" if per else "")))
    if skewed:
        hot_in = finite_mean([records(s) for s in hot]) or 0.0
        cool_in = finite_mean([records(s) for s in cool]) or 0.0
        ratio = hot_in / cool_in if cool_in else math.inf
        share = hot_in * len(hot) / max(sum(records(s) or 0 for s in measured), 1e-9)
        finding.cause = Cause.DATA_SKEW
        finding.summary = (
            f"{head}: data skew. Subtask(s) "
            f"{_list(hot_idx)} receive {ratio:.1f}x the records of their peers "
            f"({share:.0%} of the input) and are busy {pct(max(s.busy or 0 for s in hot))}; "
            f"the others are busy {pct(max(s.busy or 0 for s in cool))}"
        )
        finding.actions.append(Action(
            "Spread the hot keys: salt them (key + random suffix, then merge) or "
            "pre-aggregate before the keyBy (local/two-phase aggregation). More "
            "parallelism will not help: every record of a key goes to the same subtask."
        ))
        return finding
    if slow or uneven:
        top_cost = max(cost.values(), default=0.0)
        slow_subs = [s for s in measured if cost.get(s.index, 0.0) >= RELATIVE_HOT * top_cost]
        if not slow_subs and hottest is not None:
            slow_subs = [hottest]
        finding.subtasks = [s.index for s in slow_subs]
        finding.taskmanagers = sorted({s.taskmanager_id for s in slow_subs})
        where = ", ".join(finding.taskmanagers) or "unknown TaskManager"
        finding.cause = Cause.SLOW_INSTANCE
        finding.summary = (
            f"{head}: a slow instance. Subtask(s) "
            f"{_list(finding.subtasks)} on {where} spend "
            + (f"{cost_ratio:.1f}x " if cost_ratio else "more ")
            + ("the busy time per record of their peers since the job started (the peers "
               "took no records in the window: held up behind them), and are busy "
               if starved else
               "the busy time per record of their peers on "
               + (f"{rec_ratio:.1f}x " if rec_ratio is not None else "about as many ")
               + "the records, and are busy ")
            + pct(max(s.busy or 0 for s in slow_subs))
        )
        for tm in finding.taskmanagers:
            info = tms.get(tm, NO_FACTS)
            if info.cores_used is not None:
                ev.append(Evidence(f"TaskManager {tm}", "cores_used",
                                   round(info.cores_used, 2), "cores", window_s,
                                   "CPU the TaskManager's JVM used"))
            if info.gc_ms_per_s is not None:
                ev.append(Evidence(f"TaskManager {tm}", "gc_ms_per_s",
                                   round(info.gc_ms_per_s, 1), "ms/s", window_s,
                                   "time in garbage collection"))
        finding.actions.append(Action(
            f"Look at the host of {where}: CPU steal, GC, a noisy neighbour, a slow disk; "
            "or at data that is costlier on that subtask. Restarting the job (or moving the "
            "TaskManager) places the subtask elsewhere."
        ))
        return finding

    # Uniform: every subtask is busy. GC first, then on-CPU vs off-CPU.
    busy_by_tm: dict[str, float] = {}
    for s in hot:
        busy_by_tm[s.taskmanager_id] = busy_by_tm.get(s.taskmanager_id, 0.0) + (s.busy or 0)
    gc_hot = {tm: tms[tm].gc_ms_per_s or 0.0 for tm in hot_tms
              if tm in tms and gc_persists(tms[tm])}
    if gc_hot:
        finding.cause = Cause.GC_PRESSURE
        for tm, v in gc_hot.items():
            ev.append(Evidence(f"TaskManager {tm}", "gc_ms_per_s", round(v, 1), "ms/s",
                               window_s, "the JVM spends this share of each second in GC"))
        finding.summary = (
            f"{head}: GC pressure. Its TaskManager(s) spend "
            f"{max(gc_hot.values()) / 10:.0f}% of the time in garbage collection"
        )
        finding.actions.append(Action(
            "Reduce object churn in the operator, give the TaskManager more heap, or move large "
            "state to RocksDB.",
            config={"taskmanager.memory.task.heap.size": "(larger than today)"},
        ))
        return finding

    finding.cpu = cpu
    if isinstance(cpu, StackUnavailable):
        ev.append(Evidence(task.name, "flamegraph", cpu.reason, "", window_s,
                           "flame graphs could not be read; thread dumps are used instead"))
    elif cpu is not None and work_of(cpu) != Work.WAITING:
        on, off = cpu.on_cpu, cpu.off_cpu
        where = (f" (most often in {cpu.top_frame}"
                 + (f", operator {cpu.top_operator}" if cpu.top_operator and " -> " in task.name
                    else "") + ")") if cpu.top_frame else ""
        metric = "flame_samples" if cpu.source == FLAME_GRAPH else "busy_thread_samples"
        ev.append(Evidence(task.name, metric, on + off, "samples", window_s,
                           f"{cpu.source} of its task threads while busy: {on} on CPU, "
                           f"{off} waiting off-CPU{where}"))
        if work_of(cpu) == Work.OFF_CPU:
            finding.cause = Cause.OFF_CPU
            finding.summary = (
                f"{head}: blocking (off-CPU) work. All subtasks are busy "
                f"{pct(task.busy)}, and {off} of {on + off} stack samples ({cpu.source}) caught "
                f"them waiting (sleeping, parked, in I/O){where}, not computing"
            )
            finding.actions.append(Action(
                "Make the waiting concurrent: Flink's Async I/O (AsyncDataStream), batching "
                "requests, or a faster external system. More parallelism also helps, without "
                "needing more CPU."
            ))
        else:
            finding.cause = Cause.COMPUTE_BOUND
            finding.summary = (
                f"{head}: compute-bound. All {len(measured)} subtasks are "
                f"busy (max {pct(task.busy)}) and {on} of {on + off} stack samples "
                f"({cpu.source}) caught them computing{where}"
            )
            finding.actions.append(Action(
                "Scale this vertex out (see the parallelism below), or make the hot code "
                "cheaper (`flowscope profile` shows a flame graph summary)."
            ))
        return finding

    # A big job's poll reads only some TaskManagers one by one (the others aggregated): judge
    # on those whose CPU time is known, a sample of the task's subtasks.
    measured_tms = {tm: busy for tm, busy in busy_by_tm.items()
                    if tms.get(tm, NO_FACTS).cores_used is not None}
    sampled = len(measured_tms) < len(busy_by_tm)
    if measured_tms and (not sampled or len(busy_by_tm) > SAMPLED_TMS_FROM):
        cores = sum(tms[tm].cores_used or 0.0 for tm in measured_tms)
        busy_cores = sum(measured_tms.values())
        of = (f" ({len(measured_tms)} of the {len(busy_by_tm)} TaskManagers of its busy "
              "subtasks, read one by one)" if sampled else "")
        ev.append(Evidence(
            ", ".join(f"TaskManager {tm}" for tm in measured_tms), "cores_used",
            round(cores, 2), "cores", window_s,
            f"the subtasks there are busy {busy_cores:.2f} core-equivalents; on-CPU work would "
            f"use about as many cores{of}",
        ))
        host_cores = {tm: info.cpu_cores for tm, info in tms.items()}
        if all(host_cores.values()) and host_cores:
            # TaskManagers on one host report the same hardware; count each host once.
            total = sum(info.cores_used or 0.0 for info in tms.values())
            hardware = max(v for v in host_cores.values() if v)
            if total >= 0.85 * hardware and len(tms) * hardware > 0:
                ev.append(Evidence("TaskManagers", "cores_used_total", round(total, 2), "cores",
                                   window_s, f"the host has {hardware:.0f} cores: it is "
                                   "saturated, so on-CPU subtasks get less than a core each"))
        if jvm_cpu_is_off_cpu(cores, busy_cores):
            finding.cause = Cause.OFF_CPU
            finding.summary = (
                f"{head}: blocking (off-CPU) work. All subtasks are busy "
                f"{pct(task.busy)} but their TaskManagers use only {cores:.2f} cores for "
                f"{busy_cores:.1f} busy subtasks: the time goes to waiting (I/O, sleeps, locks)"
            )
            finding.actions.append(Action(
                "Make the waiting concurrent: Flink's Async I/O (AsyncDataStream), batching "
                "requests, or a faster external system. More parallelism also helps, without "
                "needing more CPU."
            ))
            return finding
    finding.cause = Cause.COMPUTE_BOUND
    finding.summary = (
        f"{head}: compute-bound. All {len(measured)} subtasks are busy "
        f"(max {pct(task.busy)}) while "
        + ("nothing downstream holds it back" if at_head else "its input is backpressured")
    )
    finding.actions.append(Action(
        "Scale this vertex out (see the parallelism below), or make the hot code cheaper "
        "(a flame graph shows where the time goes: rest.flamegraph.enabled: true)."
    ))
    return finding


# A sample of TaskManagers judges on-/off-CPU only for a task on more than this many (a small
# job's TaskManagers are all read; one missing there is one that left).
SAMPLED_TMS_FROM = 16


def non_root_findings(
    graph: JobGraph,
    tasks: dict[str, TaskState],
    windows: dict[str, list[SubtaskWindow]],
    roots: list[str],
    window_s: float,
    young: bool = False,
) -> list[Finding]:
    """Findings that are not a busy bottleneck: unmeasurable busy time, a task at capacity
    before backpressure shows (`young`: the job is still starting, when every task reports
    NaN for a moment, so NaN says nothing yet). Network limits: analysis.network; the first
    task at its limit: analysis.sources."""
    out: list[Finding] = []
    any_bp = any((t.backpressured or 0) > LOW_THRESHOLD for t in tasks.values())
    for v in graph.vertices:
        t = tasks[v.id]
        # Busy = NaN: Flink cannot measure this task's busy time.
        subs = windows.get(v.id, [])
        if (not young and subs and all(s.busy is None for s in subs)
                and any(s.basis != "startup" for s in subs)):
            out.append(Finding(
                Cause.UNMEASURABLE, v.id, v.name,
                f"{v.name} reports busy time as NaN: Flink cannot measure how busy it is "
                "(legacy and some SQL sources, e.g. datagen). flowscope judges it from "
                "backpressure and idle time only"
                + ("" if any_bp else "; nothing downstream is backpressuring it"),
                is_bottleneck=False,
                evidence=[Evidence(v.name, "busyTimeMsPerSecond", "NaN", "ms/s", window_s,
                                   "no busy time reported"),
                          Evidence(v.name, "backpressured_ratio", rounded(t.backpressured),
                                   "ratio", window_s, "time blocked by downstream")],
            ))
        # Saturated before any backpressure shows: buffers are still filling, or the input
        # matches the task's capacity exactly.
        if (graph.inputs(v.id) and v.id not in roots and (t.busy or 0) >= SOURCE_BUSY
                and not any_bp):
            out.append(Finding(
                Cause.NEAR_CAPACITY, v.id, v.name,
                f"{v.name} is busy {pct(t.busy)} but nothing upstream is backpressured yet: it "
                "runs at capacity, and backpressure follows as soon as the buffers before it fill",
                is_bottleneck=False,
                evidence=[Evidence(v.name, "busy_ratio", rounded(t.busy), "ratio", window_s,
                                   "max over subtasks")],
                actions=[Action("Give it headroom before the input grows (see its true "
                                "processing rate), or watch it: `flowscope watch`.")],
            ))
    return out


IMBALANCE = 1.1  # the busiest subtask's share of the records over a fair share


def _note_imbalance(f: Finding, graph: JobGraph, task: TaskState, subs: list[SubtaskWindow],
                    window_s: float) -> None:
    """Every subtask is busy but the records are uneven: say so, and keep the factor for the
    parallelism recommendation (the busiest subtask saturates first)."""
    inputs = bool(graph.inputs(task.vertex_id))
    recs = [(s.records_in_per_s if inputs else s.records_out_per_s) or 0.0 for s in subs]
    total = sum(recs)
    if len(recs) < 2 or total <= 0:
        return
    factor = max(recs) / (total / len(recs))
    if factor < IMBALANCE:
        return
    f.imbalance = factor
    busiest = subs[recs.index(max(recs))]
    f.evidence.append(Evidence(task.name, "imbalance", round(factor, 2), "x fair share",
                               window_s, "the busiest subtask's records over an even split"))
    f.summary += (f". The input is uneven (subtask {busiest.index} gets {max(recs) / total:.0%} "
                  f"of the records, {factor:.1f}x a fair share) but every subtask is busy: more "
                  "parallelism spreads it, it is not data skew")


def _ratio_to_peers(
    one: SubtaskWindow | None,
    peers: list[SubtaskWindow],
    value: Callable[[SubtaskWindow], float | None],
) -> float | None:
    """`one`'s value over the median of its peers' values (None when either is unknown)."""
    if one is None or not peers:
        return None
    mine = value(one)
    theirs = [v for v in (value(p) for p in peers) if v is not None]
    if mine is None or not theirs:
        return None
    median = statistics.median(theirs)
    return mine / median if median > 0 else math.inf


def _list(idx: list[int]) -> str:
    return ", ".join(str(i) for i in idx)
