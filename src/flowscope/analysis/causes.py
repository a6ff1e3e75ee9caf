"""Why a located task limits the job: the cause table of DESIGN.md, one small rule per cause.

Each rule is a function of the evidence (`analysis.evidence`) that returns a finding or
nothing; `CAUSE_RULES` lists them in the order they are tried, and the first that answers
names the cause. The numbers go into the finding's facts; render/words words them.

  data_skew           some subtasks hot, getting >= SKEW_RATIO x their peers' records, the
                      peers with headroom
  checkpoint_stall    the task's synchronous checkpoint phase takes >= STALL_SHARE of each
                      checkpoint interval (it takes no records meanwhile)
  async_capacity      most of its working stack samples wait for a free slot in an Async I/O
                      operator's queue: the operator runs at its in-flight capacity
  state_access        most of its working stack samples run in the keyed state backend's code
  slow_instance       a subtask that costs >= SLOW_COST_RATIO x its peers' busy time per
                      record, or a few hot subtasks whose peers have headroom
  gc_pressure         every subtask busy, and GC that holds on their TaskManagers
  work_from_stacks    every subtask busy: the stack samples tell computing from waiting
  work_from_jvm_cpu   no stack samples: JVM CPU time far below the busy time is waiting
                      (analysis.cpu); it never proves computing, and on a host whose cores
                      are all in use a starved thread looks like a waiting one
  busy_unknown        busy, and nothing tells computing from waiting: said, never guessed
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from flowscope.analysis.cpu import jvm_cpu_is_off_cpu, work_of
from flowscope.analysis.evidence import JobEvidence, SubtaskFacts, TaskEvidence
from flowscope.analysis.findings import (
    BUSY_HOT,
    LOW_THRESHOLD,
    Action,
    ActionKind,
    Cause,
    CpuSplit,
    Evidence,
    Fact,
    Finding,
    StackUnavailable,
    TaskManagerFacts,
    Why,
    Work,
    WorkBasis,
)
from flowscope.analysis.gc import gc_persists
from flowscope.analysis.numbers import rounded

SKEW_RATIO = 1.5  # the hottest subtask receives this many times its peers' records: skew
SLOW_COST_RATIO = 1.8  # busy time per record this many times the peers': a slow instance
UNIFORM_SHARE = 0.75  # this share of the subtasks hot: the load is spread evenly
IMBALANCE = 1.1  # the busiest subtask's share of the records over a fair share, said
# A sample of TaskManagers judges on-/off-CPU only for a task on more than this many (a small
# job's TaskManagers are all read; one missing there is one that left).
SAMPLED_TMS_FROM = 16
# The JVMs together use this share of the host's cores: the host is saturated.
SATURATED = 0.85
# Of a task's working stack samples (not idle in the mailbox), this share waiting for a slot
# in an Async I/O queue, or running the state backend's code, names that cause. Measured on
# the lab's scenarios: 0.985-1.0 waiting at capacity, 0.88-0.99 in RocksDB (3 runs each).
ASYNC_WAIT_SHARE = 0.5
STATE_SHARE = 0.5
# A synchronous checkpoint phase this share of the interval (and at least STALL_MIN_MS) stalls
# the task: measured 3.0 s of a 5 s interval (0.60) on the lab's stall, 8 ms at most elsewhere.
STALL_SHARE = 0.25
STALL_MIN_MS = 1000.0
# Without checkpoint details: this share of the working stack samples in a checkpoint's
# synchronous phase (measured 0.98-0.99 on the lab's stall).
STALL_FRAMES_SHARE = 0.5
# State reads of one subtask this many times slower than another's: said.
READ_SPREAD = 10.0
NO_FACTS = TaskManagerFacts()

CauseRule = Callable[[JobEvidence, TaskEvidence], Finding | None]


@dataclass(frozen=True)
class Shape:
    """How a task's load is spread over its subtasks, as the rules read it."""

    uniform: bool  # most subtasks are hot
    loaded: bool  # some are not hot, but even the least busy is busy
    records_ratio: float | None  # the hottest's records over its peers' median
    cost_ratio: float | None  # the hottest's busy time per record over its peers' median

    @property
    def costly(self) -> bool:
        return self.cost_ratio is not None and self.cost_ratio >= SLOW_COST_RATIO


def shape(t: TaskEvidence) -> Shape:
    """The spread of a task's load: uniform, or some subtasks hotter than their peers."""
    h, p = t.hottest, t.peers
    records = _ratio(h.load_per_s if h else None, p.load_median if p else None)
    cost = _ratio(h.cost_s if h else None, p.cost_median if p else None)
    return Shape(
        uniform=t.hot >= max(1, math.ceil(UNIFORM_SHARE * t.measured)),
        loaded=t.hot < t.measured and (t.busy_min or 0.0) >= BUSY_HOT,
        records_ratio=records, cost_ratio=cost if p is not None else None)


def _ratio(mine: float | None, median: float | None) -> float | None:
    if mine is None or median is None:
        return None
    return mine / median if median > 0 else math.inf


def _uneven(t: TaskEvidence, s: Shape) -> bool:
    """Some subtasks hot while the others have headroom."""
    return not s.uniform and t.hot < t.measured and not s.loaded


# -- the rules ----------------------------------------------------------------------------------

def data_skew(ev: JobEvidence, t: TaskEvidence) -> Finding | None:
    """Skew is load that the peers' headroom cannot take: the hot subtasks get SKEW_RATIO x
    their peers' records, and nothing says they are slow (their cost per record is their
    peers', if anything less: their busy time is capped at 100%)."""
    s = shape(t)
    if not (t.hot and _uneven(t, s) and not s.costly and s.records_ratio is not None
            and s.records_ratio >= SKEW_RATIO):
        return None
    hot_load = sum(h.load_per_s or 0.0 for h in t.hot_subtasks)
    total = t.loads.total if t.loads else hot_load
    f = _finding(ev, t, Cause.DATA_SKEW, [h.index for h in t.hot_subtasks],
                 sorted({h.taskmanager for h in t.hot_subtasks}))
    f.facts.update({Fact.RECORDS_RATIO: s.records_ratio,
                    Fact.INPUT_SHARE: hot_load / total if total > 0 else None,
                    Fact.HOT_BUSY: max(h.busy or 0.0 for h in t.hot_subtasks),
                    Fact.PEERS_BUSY: t.peers.busy_median if t.peers else None})
    _subtask_evidence(f, t, ev.window_s)
    f.actions.append(Action(ActionKind.SPREAD_HOT_KEYS))
    return f


def slow_instance(ev: JobEvidence, t: TaskEvidence) -> Finding | None:
    """A subtask that costs far more per record than its peers is slow, whatever its share of
    the records; so are a few hot subtasks whose peers have headroom (not skew)."""
    s = shape(t)
    if not (t.measured > 1 and s.costly) and not _uneven(t, s):
        return None
    subs = list(t.costly)
    tms = sorted({x.taskmanager for x in subs})
    f = _finding(ev, t, Cause.SLOW_INSTANCE, [x.index for x in subs], tms)
    # The stack samples read for the task, if any: without them, the state backend, an
    # Async I/O queue or a checkpoint's synchronous phase (the rules before this one) may be
    # where the slow subtask's time goes (sampling.stacks_wanted asks for them).
    f.cpu = t.stacks
    f.facts.update({Fact.COST_RATIO: s.cost_ratio, Fact.RECORDS_RATIO: s.records_ratio,
                    Fact.STARVED: bool(t.peers and t.peers.starved),
                    Fact.HOT_BUSY: max(x.busy or 0.0 for x in subs)})
    _subtask_evidence(f, t, ev.window_s)
    for tm in tms:
        info = ev.taskmanagers.get(tm, NO_FACTS)
        if info.cores_used is not None:
            f.evidence.append(Evidence(f"TaskManager {tm}", "cores_used",
                                       round(info.cores_used, 2), "cores", ev.window_s,
                                       Why.TM_CPU))
        if info.gc_ms_per_s is not None:
            f.evidence.append(Evidence(f"TaskManager {tm}", "gc_ms_per_s",
                                       round(info.gc_ms_per_s, 1), "ms/s", ev.window_s,
                                       Why.TM_GC))
    f.actions.append(Action(ActionKind.CHECK_HOST))
    return f


def gc_pressure(ev: JobEvidence, t: TaskEvidence) -> Finding | None:
    """Every subtask busy, on TaskManagers whose GC holds over the window."""
    hot = {tm: ev.taskmanagers[tm].gc_ms_per_s or 0.0 for tm in sorted(t.busy_by_tm)
           if tm in ev.taskmanagers and gc_persists(ev.taskmanagers[tm])}
    if not hot:
        return None
    f = _busy(ev, t, Cause.GC_PRESSURE, stacks=False)
    for tm, v in hot.items():
        f.evidence.append(Evidence(f"TaskManager {tm}", "gc_ms_per_s", round(v, 1), "ms/s",
                                   ev.window_s, Why.TM_GC_SHARE))
    f.facts[Fact.GC_MS_PER_S] = max(hot.values())
    f.actions.append(Action(ActionKind.MORE_HEAP,
                            config={"taskmanager.memory.task.heap.size": "larger than today"}))
    return f


def work_from_stacks(ev: JobEvidence, t: TaskEvidence) -> Finding | None:
    """The stack samples of the busy threads: off-CPU when at least half of the work samples
    waited (analysis.cpu.work_of), else compute-bound."""
    split = t.stacks
    if not isinstance(split, CpuSplit) or work_of(split) == Work.WAITING:
        return None
    off = work_of(split) == Work.OFF_CPU
    f = _busy(ev, t, Cause.OFF_CPU if off else Cause.COMPUTE_BOUND)
    f.facts.update({Fact.WAY: WorkBasis.STACKS, Fact.STACK_SOURCE: split.source,
                    Fact.ON_SAMPLES: split.on_cpu, Fact.OFF_SAMPLES: split.off_cpu,
                    Fact.TOP_FRAME: split.top_frame,
                    Fact.TOP_OPERATOR: split.top_operator if " -> " in t.name else None})
    f.evidence.append(Evidence(
        t.name, "flame_samples" if split.source == "flame graph" else "busy_thread_samples",
        split.on_cpu + split.off_cpu, "samples", ev.window_s, Why.STACK_SPLIT,
        {Fact.STACK_SOURCE: split.source, Fact.ON_SAMPLES: split.on_cpu,
         Fact.OFF_SAMPLES: split.off_cpu, Fact.TOP_FRAME: split.top_frame,
         Fact.TOP_OPERATOR: f.facts[Fact.TOP_OPERATOR]}))
    f.actions.append(Action(ActionKind.CONCURRENT_WAITING) if off
                     else Action(ActionKind.SCALE_OR_OPTIMISE, {Fact.WAY: WorkBasis.STACKS}))
    return f


def work_from_jvm_cpu(ev: JobEvidence, t: TaskEvidence) -> Finding | None:
    """Without stack samples: the JVM CPU time of the TaskManagers of the busy subtasks
    against their busy time tells waiting, when it is far below it (analysis.cpu). A big
    job's poll reads only some TaskManagers one by one: judged on those whose CPU time is
    known (a sample of the task's subtasks). On a host whose cores the JVMs use up, a thread
    starved of a core reads as one that waits: then it cannot tell."""
    cpu = _jvm_cpu(ev, t)
    if cpu is None or not jvm_cpu_is_off_cpu(*cpu) or _saturated_host(ev) is not None:
        return None
    f = _busy(ev, t, Cause.OFF_CPU)
    f.facts[Fact.WAY] = WorkBasis.JVM_CPU
    _jvm_evidence(f, ev, t, cpu)
    f.actions.append(Action(ActionKind.CONCURRENT_WAITING))
    return f


def busy_unknown(ev: JobEvidence, t: TaskEvidence) -> Finding:
    """Busy, and nothing tells whether it computes or waits: the cause says so."""
    f = _busy(ev, t, Cause.BUSY)
    f.facts[Fact.WAY] = WorkBasis.UNKNOWN
    cpu = _jvm_cpu(ev, t)
    if cpu is not None:
        _jvm_evidence(f, ev, t, cpu)
    host = _saturated_host(ev)
    if host is not None:
        f.evidence.append(host)
    f.actions.append(Action(ActionKind.TELL_WORK, {Fact.JOB_ID: ev.job_id}))
    return f


def _jvm_cpu(ev: JobEvidence, t: TaskEvidence) -> tuple[float, float] | None:
    """(cores the JVMs of the task's busy subtasks used, the busy subtasks' busy ratios
    summed), over the TaskManagers whose CPU time was read; None when it cannot judge."""
    measured = {tm: busy for tm, busy in t.busy_by_tm.items()
                if ev.taskmanagers.get(tm, NO_FACTS).cores_used is not None}
    sampled = len(measured) < len(t.busy_by_tm)
    if not measured or (sampled and len(t.busy_by_tm) <= SAMPLED_TMS_FROM):
        return None
    cores = sum(ev.taskmanagers[tm].cores_used or 0.0 for tm in measured)
    return cores, sum(measured.values())


def _jvm_evidence(f: Finding, ev: JobEvidence, t: TaskEvidence,
                  cpu: tuple[float, float]) -> None:
    measured = [tm for tm in t.busy_by_tm
                if ev.taskmanagers.get(tm, NO_FACTS).cores_used is not None]
    cores, busy_cores = cpu
    f.facts.update({Fact.CORES_USED: cores, Fact.BUSY_CORES: busy_cores})
    f.evidence.append(Evidence(
        ", ".join(f"TaskManager {tm}" for tm in measured), "cores_used", round(cores, 2),
        "cores", ev.window_s, Why.CORES_FOR_BUSY,
        {Fact.BUSY_CORES: busy_cores, Fact.SAMPLED: len(measured) < len(t.busy_by_tm),
         Fact.TASKMANAGERS_READ: len(measured), Fact.TASKMANAGERS_OF: len(t.busy_by_tm)}))


def stalls(ev: JobEvidence, t: TaskEvidence) -> bool:
    """Whether the task's synchronous checkpoint phase stalls it: its checkpoints' details
    say it takes STALL_SHARE of the interval (and STALL_MIN_MS), or, without them, most of
    its working stack samples are in it."""
    return stall_ms(ev, t) is not None or _stalls_in_frames(t)


def _stalls_in_frames(t: TaskEvidence) -> bool:
    fr = t.frames
    return (t.checkpoints is None and fr is not None and fr.working > 0
            and fr.checkpoint_sync >= STALL_FRAMES_SHARE * fr.working)


def stall_ms(ev: JobEvidence, t: TaskEvidence) -> float | None:
    """The task's longest synchronous checkpoint phase when its details say it stalls the
    task (see STALL_SHARE), else None."""
    interval = ev.checkpointing.interval_ms if ev.checkpointing else None
    sync = t.checkpoints.sync_ms if t.checkpoints else None
    if sync is None or sync < STALL_MIN_MS:
        return None
    return sync if interval is None or sync >= STALL_SHARE * interval else None


def checkpoint_stall(ev: JobEvidence, t: TaskEvidence) -> Finding | None:
    """A synchronous checkpoint phase (snapshotState, a sink's pre-commit flush) that holds
    the task for a large share of every interval: the records wait, the input is
    backpressured in bursts, one per checkpoint."""
    sync = stall_ms(ev, t)
    if sync is None and not _stalls_in_frames(t):
        return None
    interval = ev.checkpointing.interval_ms if ev.checkpointing else None
    f = _finding(ev, t, Cause.CHECKPOINT_STALL, [], [])
    f.facts.update({Fact.SYNC_MS: sync, Fact.INTERVAL_MS: interval,
                    Fact.CHECKPOINTS: t.checkpoints.checkpoints if t.checkpoints else 0})
    if sync is not None:
        f.evidence.append(Evidence(t.name, "checkpoint_sync_ms", round(sync), "ms",
                                   ev.window_s, Why.SYNC_PHASE, {Fact.INTERVAL_MS: interval}))
    if t.frames is not None and t.frames.working:
        f.evidence.append(Evidence(t.name, "checkpoint_sync_samples", t.frames.checkpoint_sync,
                                   "samples", ev.window_s, Why.SYNC_PHASE,
                                   {Fact.SUBTASKS: t.frames.working}))
    f.actions.append(Action(ActionKind.CHEAPER_SNAPSHOT, {Fact.SYNC_MS: sync,
                                                          Fact.INTERVAL_MS: interval}))
    return f


def async_capacity(ev: JobEvidence, t: TaskEvidence) -> Finding | None:
    """An Async I/O operator whose queue of in-flight requests is full: each subtask
    processes about capacity / latency records per second, whatever its CPU."""
    fr = t.frames
    if fr is None or not fr.working or fr.async_wait < ASYNC_WAIT_SHARE * fr.working:
        return None
    f = _busy(ev, t, Cause.ASYNC_CAPACITY, stacks=False)
    per = (t.state.records_in_per_s or 0.0) / max(t.state.parallelism, 1)
    f.facts.update({Fact.WAIT_SHARE: fr.async_wait / fr.working, Fact.RATE_PER_SUBTASK: per})
    f.evidence.append(Evidence(t.name, "async_queue_wait_samples", fr.async_wait, "samples",
                               ev.window_s, Why.ASYNC_WAITS, {Fact.SUBTASKS: fr.working}))
    f.actions.append(Action(ActionKind.ASYNC_CAPACITY, {Fact.RATE_PER_SUBTASK: per}))
    return f


def state_access(ev: JobEvidence, t: TaskEvidence) -> Finding | None:
    """Most of the task's work runs in the keyed state backend (RocksDB, ForSt): reads and
    writes of state, not the operator's own code."""
    fr = t.frames
    if fr is None or not fr.working or fr.state_samples < STATE_SHARE * fr.working:
        return None
    backend = max(fr.state, key=lambda b: fr.state[b])
    f = _busy(ev, t, Cause.STATE_ACCESS, stacks=False)
    f.facts.update({Fact.STATE_SHARE: fr.state_samples / fr.working, Fact.BACKEND: backend})
    f.evidence.append(Evidence(t.name, "state_backend_samples", fr.state_samples, "samples",
                               ev.window_s, Why.STATE_FRAMES,
                               {Fact.SUBTASKS: fr.working, Fact.BACKEND: backend}))
    sa = t.state_access
    if sa is not None:
        f.facts.update({Fact.READ_NS: sa.read_ns, Fact.READ_NS_FASTEST: sa.read_ns_fastest,
                        Fact.HIT_RATIO: sa.block_cache_hit_ratio,
                        Fact.STATE_BYTES: sa.live_bytes})
        if sa.read_ns is not None:
            f.evidence.append(Evidence(t.name, "state_read_latency_ns", round(sa.read_ns),
                                       "ns", ev.window_s, Why.STATE_READS,
                                       {Fact.READ_NS_FASTEST: sa.read_ns_fastest}))
        if sa.block_cache_hit_ratio is not None:
            f.evidence.append(Evidence(t.name, "block_cache_hit_ratio",
                                       round(sa.block_cache_hit_ratio, 3), "ratio",
                                       ev.window_s, Why.CACHE_HITS))
    f.actions.append(Action(ActionKind.STATE_TUNING, {Fact.BACKEND: backend},
                            config=_state_config(backend)))
    return f


def _state_config(backend: str) -> dict[str, str]:
    if backend == "heap":
        return {}
    return {"state.backend.rocksdb.memory.managed": "true",
            "taskmanager.memory.managed.fraction": "larger than today",
            "execution.checkpointing.incremental": "true"}


CAUSE_RULES: tuple[CauseRule, ...] = (
    data_skew, checkpoint_stall, async_capacity, state_access, slow_instance, gc_pressure,
    work_from_stacks, work_from_jvm_cpu, busy_unknown)


def classify(ev: JobEvidence, t: TaskEvidence, *, at_head: bool = False) -> Finding:
    """The cause of one located bottleneck (`at_head`: the first task of the job, at its limit
    with nothing backpressured; the same rules apply)."""
    f = next(f for rule in CAUSE_RULES if (f := rule(ev, t)) is not None)
    f.at_head = at_head
    if f.cause in (Cause.COMPUTE_BOUND, Cause.OFF_CPU, Cause.GC_PRESSURE, Cause.BUSY):
        _note_imbalance(f, t, ev.window_s)
    if (isinstance(t.stacks, CpuSplit) and t.stacks.python
            and f.cause in (Cause.COMPUTE_BOUND, Cause.OFF_CPU)):
        f.facts[Fact.PYTHON_MODE] = t.stacks.python
    return f


# -- shared parts -----------------------------------------------------------------------------

def _finding(ev: JobEvidence, t: TaskEvidence, cause: Cause, subtasks: list[int],
             taskmanagers: list[str]) -> Finding:
    """A finding about `t` with the evidence every bottleneck has: its busy time and the
    backpressure of what it holds back."""
    evidence = [Evidence(t.name, "busy_ratio", round(t.state.busy or 0, 3), "ratio",
                         ev.window_s, Why.BUSY_MAX)]
    if ev.graph is not None:
        evidence += [Evidence(ev.tasks[u].name, "backpressured_ratio",
                              rounded(ev.tasks[u].state.backpressured), "ratio", ev.window_s,
                              Why.INPUT_HELD) for u in ev.graph.upstream(t.vertex_id)]
    else:
        evidence += [Evidence(o.name, "backpressured_ratio", rounded(o.state.backpressured),
                              "ratio", ev.window_s, Why.HELD_SOMEWHERE)
                     for o in ev.tasks.values()
                     if (o.state.backpressured or 0.0) > LOW_THRESHOLD][:3]
    return Finding(cause, t.vertex_id, t.name, subtasks=subtasks, taskmanagers=taskmanagers,
                   evidence=evidence,
                   facts={Fact.BUSY: t.state.busy, Fact.SUBTASKS: t.measured,
                          Fact.HOT_SUBTASKS: t.hot})


def _busy(ev: JobEvidence, t: TaskEvidence, cause: Cause, *, stacks: bool = True) -> Finding:
    """A finding about a task whose subtasks are all busy (`stacks`: the cause was told from
    its work: the stack samples, or why there are none, go with it)."""
    f = _finding(ev, t, cause, [h.index for h in t.hot_subtasks],
                 sorted(t.busy_by_tm))
    if not shape(t).uniform:  # loaded but uneven: the busiest subtasks' figures
        _subtask_evidence(f, t, ev.window_s)
    if stacks:
        f.cpu = t.stacks
        if isinstance(t.stacks, StackUnavailable):
            f.evidence.append(Evidence(t.name, "flamegraph", t.stacks.reason, "", ev.window_s,
                                       Why.STACKS_UNREADABLE))
    return f


def _subtask_evidence(f: Finding, t: TaskEvidence, window_s: float) -> None:
    """The busiest subtasks' records, busy time and cost per record, and their peers'."""
    metric = "records_in_per_s" if t.takes_input else "records_out_per_s"
    for s in t.busiest:
        f.evidence.append(_one(t.name, metric, s, window_s))
    if t.peers is not None and len(t.busiest) < 2:  # the peers as medians
        f.evidence.append(Evidence(f"{t.name} (peers)", metric, rounded(t.peers.load_median, 1),
                                   "records/s", window_s, Why.PEERS_LOAD,
                                   {Fact.SUBTASKS: t.measured - 1,
                                    Fact.BUSY: t.peers.busy_median}))


def _one(name: str, metric: str, s: SubtaskFacts, window_s: float) -> Evidence:
    return Evidence(f"{name}[{s.index}]", metric, rounded(s.load_per_s), "records/s", window_s,
                    Why.SUBTASK_LOAD, {Fact.BUSY: s.busy, Fact.TASKMANAGER: s.taskmanager,
                                       Fact.COST_S: s.cost_s})


def _saturated_host(ev: JobEvidence) -> Evidence | None:
    """Evidence that the TaskManagers' host has no core to spare, or None."""
    cores = {tm: info.cpu_cores for tm, info in ev.taskmanagers.items()}
    if not cores or not all(cores.values()):
        return None
    # TaskManagers on one host report the same hardware; count each host once.
    total = sum(info.cores_used or 0.0 for info in ev.taskmanagers.values())
    hardware = max(v for v in cores.values() if v)
    if total < SATURATED * hardware:
        return None
    return Evidence("TaskManagers", "cores_used_total", round(total, 2), "cores", ev.window_s,
                    Why.HOST_SATURATED, {Fact.HOST_CORES: hardware})


def _note_imbalance(f: Finding, t: TaskEvidence, window_s: float) -> None:
    """Every subtask is busy but the records are uneven: say so, and keep the factor for the
    parallelism plan (the busiest subtask saturates first)."""
    factor = t.loads.imbalance if t.loads else None
    if factor is None or factor < IMBALANCE or t.loads is None:
        return
    f.imbalance = factor
    f.facts.update({Fact.IMBALANCE: factor, Fact.BUSIEST_SUBTASK: t.loads.busiest_index,
                    Fact.BUSIEST_SHARE: t.loads.busiest / t.loads.total})
    f.evidence.append(Evidence(t.name, "imbalance", round(factor, 2), "x fair share",
                               window_s, Why.IMBALANCE))
