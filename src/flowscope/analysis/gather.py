"""Evidence from a window of polls: every subtask's series, as the REST poller and a
Prometheus history give them, folded into `analysis.evidence`. Pure.

The window's subtasks come from their counters (`window.subtask_windows`); each task is
folded as Flink's UI folds it (`locate.task_states`) and read for what the cause rules compare:
its hot subtasks against the medians of their peers, records per subtask and busy time per
record, the TaskManagers its busy subtasks run on, the stack samples of its threads, its
buffer gauges and its source metrics. The history (where the bottleneck was in each interval)
and the stack samples are read over `history_s`, the window over `window_s`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from flowscope.analysis import buffers, columnar, cpu, jobfacts, temporal
from flowscope.analysis.evidence import (
    RELATIVE_HOT,
    Exchange,
    JobEvidence,
    Loads,
    Peers,
    Quality,
    SourceInput,
    SubtaskFacts,
    TaskEvidence,
    Watermarks,
)
from flowscope.analysis.findings import (
    BUSY_HOT,
    CpuSplit,
    Fact,
    Note,
    NoteKind,
    StackUnavailable,
    TaskState,
)
from flowscope.analysis.locate import task_states
from flowscope.analysis.numbers import finite_max, finite_mean, finite_sum
from flowscope.analysis.window import (
    SubtaskWindow,
    distinct_snapshots,
    taskmanager_rates,
    window_samples,
)
from flowscope.model import JobGraph, Sample

# How many of a task's busiest subtasks are shown as evidence.
SHOWN_SUBTASKS = 4


def gather(graph: JobGraph, samples: Sequence[Sample], *, window_s: float,
           history_s: float) -> JobEvidence:
    """The evidence of the last `window_s` seconds of `samples` (oldest first), with the
    history and stack samples of the last `history_s` seconds."""
    latest = samples[-1]
    recent = distinct_snapshots(window_samples(list(samples), window_s))
    windows = columnar.subtask_windows(recent)
    states = task_states(graph, windows)
    lags = watermark_lags(graph, windows, latest.t, latest.job_start)
    for s in states:
        s.watermark_lag_s = lags.get(s.vertex_id)
    span = max((w.span_s for ws in windows.values() for w in ws if w.basis == "counters"),
               default=0.0)
    history = window_samples(list(samples), history_s)
    tasks = {s.vertex_id: task_evidence(graph, s, windows.get(s.vertex_id, []), history,
                                        recent)
             for s in states}
    ev = JobEvidence(
        job_id=latest.job_id, job_name=graph.name, job_state=latest.job_state, t=latest.t,
        window_s=span, uptime_s=latest.uptime_s, tasks=tasks, graph=graph,
        taskmanagers=taskmanager_rates(recent), quality=_quality(graph, windows, latest),
        history=temporal.analyse(graph, history),
        restarts=jobfacts.restarts(history), checkpointing=jobfacts.checkpointing(history),
        storage=latest.checkpoints.config.storage if latest.checkpoints.config else "",
        readings=buffers.buffer_readings(graph, windows),
        throughput=buffers.throughput_facts(graph, {s.vertex_id: s for s in states}, windows),
    )
    detail = _detail_note(graph, latest)
    if detail is not None:
        ev.notes.append(detail)
    return ev


def _quality(graph: JobGraph, windows: dict[str, list[SubtaskWindow]],
             latest: Sample) -> Quality:
    bases = {w.basis for ws in windows.values() for w in ws}
    incomplete = tuple(f"{graph.vertex(vid).name}[{s.index}]"
                       for vid, subs in latest.subtasks.items()
                       for s in subs if s.values.get("io_complete") == 0.0)
    attempts = {s.attempt for subs in latest.subtasks.values() for s in subs}
    return Quality(startup="startup" in bases or "none" in bases,
                   gauges_only="counters" not in bases,
                   mixed_basis="gauges" in bases and "counters" in bases,
                   io_incomplete=incomplete, attempt=max(attempts, default=0))


def _detail_note(graph: JobGraph, latest: Sample) -> Note | None:
    """Which vertices the newest poll read subtask by subtask, when it did not read them
    all."""
    detail = latest.detail_vertices
    if detail is None:
        return None
    names = tuple(v.name for v in graph.vertices if v.id in detail)
    facts = {Fact.NAMES: names, Fact.MORE: len(graph.vertices) - len(names)}
    if latest.taskmanagers_of_job > len(latest.taskmanagers):
        facts[Fact.TASKMANAGERS_READ] = len(latest.taskmanagers)
        facts[Fact.TASKMANAGERS_OF] = latest.taskmanagers_of_job
    return Note(NoteKind.DETAIL_READ, facts)


def task_evidence(graph: JobGraph, state: TaskState, subs: list[SubtaskWindow],
                  history: Sequence[Sample] = (),
                  window: Sequence[Sample] = ()) -> TaskEvidence:
    """One task's evidence from its subtasks' windows (`history`: the polls whose stack
    samples and checkpoints tell what a busy task's threads do; `window`: those whose state
    backend metrics count)."""
    inputs = bool(graph.inputs(state.vertex_id))

    def load(s: SubtaskWindow) -> float | None:
        return s.records_in_per_s if inputs else s.records_out_per_s

    measured = [s for s in subs if s.busy is not None]
    t = TaskEvidence(state=state, takes_input=inputs, measured=len(measured))
    t.busy_unmeasured = bool(subs) and not measured and any(s.basis != "startup" for s in subs)
    t.backpressured_avg = finite_mean([s.backpressured for s in subs])
    t.exchange = _exchange(subs)
    t.fires_timers = any(w.fired_timers_per_s for w in subs)
    t.rates_missing = tuple(w.index for w in subs
                            if w.busy is not None and w.records_in_per_s is None)
    t.loads = _loads(subs, load)
    if not inputs:
        t.source = _source(state, subs)
        t.watermarks = Watermarks({w.index: w.output_watermark_ms for w in subs},
                                  {w.index: dict(w.split_watermarks) for w in subs})
        rates = [(w.records_out_per_s or 0.0) / w.busy for w in subs
                 if w.busy and w.busy >= 0.05 and w.records_out_per_s]
        t.head_rate = sum(rates) / len(rates) if rates else None
        t.splits = finite_sum([float(w.splits) if w.splits is not None else None
                               for w in subs])
    t.busy_on_tm = _busy_on_tm(measured)
    t.checkpoints = jobfacts.task_checkpoints(history, state.vertex_id)
    t.state_access = jobfacts.state_access(window, state.vertex_id)
    if not measured:
        return t
    _spread(t, measured, load)
    if (state.busy or 0.0) >= BUSY_HOT:
        t.stacks = _stacks(graph, state, history)
        t.frames = jobfacts.frames(history, graph, state.vertex_id)
    return t


def _spread(t: TaskEvidence, measured: list[SubtaskWindow],
            load: Callable[[SubtaskWindow], float | None]) -> None:
    """The busy spread over a task's subtasks, and its telling subtasks against their peers'
    medians."""
    busy = [s.busy or 0.0 for s in measured]
    top = max(busy)
    bar = max(BUSY_HOT, RELATIVE_HOT * top)
    t.busy_min, t.busy_avg = min(busy), sum(busy) / len(busy)
    # Busy time per record tells a slow subtask from one that gets more records: on a shared
    # host a peer's busy time is inflated by waiting for a core, its cost per record much less.
    cost = {s.index: s.busy / r for s in measured if s.busy and (r := load(s))}
    hottest = max(measured, key=lambda s: s.busy or 0.0)
    peers = [s for s in measured if s is not hottest]
    # No peer took a record in the window: starved behind the hot subtask (a slow subtask
    # fills the upstream's shared output buffers; seen live), or every key goes to it. Their
    # cost per record since the job started tells the two apart.
    starved = bool(peers) and not any(p.index in cost for p in peers)
    if starved:
        cost = {s.index: c for s in measured if (c := s.cost_since_start_s) is not None}

    def facts(s: SubtaskWindow) -> SubtaskFacts:
        return SubtaskFacts(s.index, s.taskmanager_id, s.busy, s.backpressured, load(s),
                            cost.get(s.index))

    hot = [s for s in measured if (s.busy or 0.0) >= bar]
    t.hot = len(hot)
    t.hottest = facts(hottest)
    t.hot_subtasks = tuple(facts(s) for s in hot)
    t.busiest = tuple(facts(s) for s in sorted(measured, key=lambda s: -(s.busy or 0.0))
                      [:SHOWN_SUBTASKS])
    top_cost = max(cost.values(), default=0.0)
    costly = [s for s in measured if cost.get(s.index, 0.0) >= RELATIVE_HOT * top_cost]
    t.costly = tuple(facts(s) for s in costly) or (t.hottest,)
    if peers:
        loads = [v for p in peers if (v := load(p)) is not None]
        costs = [cost[p.index] for p in peers if p.index in cost]
        t.peers = Peers(busy_median=statistics.median(p.busy or 0.0 for p in peers),
                        load_median=statistics.median(loads) if loads else None,
                        cost_median=statistics.median(costs) if costs else None,
                        starved=starved)
    for s in hot:
        t.busy_by_tm[s.taskmanager_id] = t.busy_by_tm.get(s.taskmanager_id, 0.0) + (
            s.busy or 0.0)


def _loads(subs: list[SubtaskWindow],
           load: Callable[[SubtaskWindow], float | None]) -> Loads | None:
    if len(subs) < 2:
        return None
    recs = [load(s) or 0.0 for s in subs]
    most = max(recs)
    return Loads(total=sum(recs), count=len(recs), busiest_index=subs[recs.index(most)].index,
                 busiest=most)


def _busy_on_tm(measured: list[SubtaskWindow]) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in measured:
        out[s.taskmanager_id] = max(out.get(s.taskmanager_id, 0.0), s.busy or 0.0)
    return out


def _exchange(subs: list[SubtaskWindow]) -> Exchange:
    pools = [s.in_pool_usage for s in subs if s.in_pool_usage is not None]
    return Exchange(out_pool=finite_mean([s.out_pool_usage for s in subs]),
                    in_pool=finite_mean(pools), in_pool_read=len(pools),
                    bytes_in_remote_per_s=finite_sum([s.bytes_in_remote_per_s for s in subs]),
                    taskmanagers=tuple(sorted({s.taskmanager_id for s in subs
                                               if s.taskmanager_id})))


def _source(state: TaskState, subs: list[SubtaskWindow]) -> SourceInput:
    return SourceInput(
        records_out_per_s=state.records_out_per_s or 0.0,
        pending_records=finite_sum([w.pending_records for w in subs]),
        pending_growth_per_s=finite_sum([w.pending_growth_per_s for w in subs]),
        emit_lag_ms=finite_max([w.emit_lag_ms for w in subs]),
        emit_lag_growth=finite_max([w.emit_lag_growth for w in subs]),
        paused_share=finite_max([w.splits_paused_share for w in subs]),
        idle_ms=finite_max([w.source_idle_ms for w in subs]),
        idle_ratio=state.idle,
    )


def _stacks(graph: JobGraph, state: TaskState,
            history: Sequence[Sample]) -> CpuSplit | StackUnavailable | None:
    """The newest stack samples of a busy task's threads: flame graphs, else thread dumps."""
    split = cpu.from_flamegraphs(history, state.vertex_id, state.name)
    if not isinstance(split, CpuSplit):
        split = cpu.from_thread_dumps(history, graph, state.vertex_id) or split
    return split


def watermark_lags(graph: JobGraph, windows: dict[str, list[SubtaskWindow]],
                   now_s: float, job_start_s: float | None) -> dict[str, float]:
    """Per task with event time, how far its input watermark trails the wall clock (s): the
    slowest subtask's (sources: their output watermark). A task whose watermark never
    advanced while some source's did trails by the job's whole uptime."""
    out: dict[str, float] = {}
    event_time = any(w.output_watermark_ms is not None
                     for v in graph.sources() for w in windows.get(v.id, []))
    for v in graph.vertices:
        head = not graph.inputs(v.id)
        marks = [(w.output_watermark_ms if head else w.input_watermark_ms)
                 for w in windows.get(v.id, [])]
        known = [m for m in marks if m is not None]
        if known and len(known) == len(marks):
            out[v.id] = max(0.0, now_s - min(known) / 1000.0)
        elif event_time and marks and job_start_s is not None:
            out[v.id] = max(0.0, now_s - job_start_s)
    return out
