"""Every sentence of `flowscope profile`, composed once from the analysis's typed statements.

The analysis (flowscope.analysis: profile, flame, threads, taskmanagers, latency,
checkpoints) decides and returns statements: a kind and the numbers and subjects it is about.
This module words them, for the terminal view and the JSON alike (render.profile); it never
decides.
"""

from __future__ import annotations

from typing import assert_never

from flowscope.analysis.checkpoints import (
    BarriersFast,
    BarriersQueue,
    BarrierTimes,
    CheckpointStatement,
    NotAcknowledged,
)
from flowscope.analysis.findings import Work
from flowscope.analysis.flame import FlameNotReady, FlameStatement
from flowscope.analysis.latency import (
    Caveat,
    EnableHow,
    HopAddsMost,
    LatencyStatement,
    MarkersPending,
    NegativeHops,
    TrackingOff,
)
from flowscope.analysis.profile import (
    ChainShare,
    CheckpointBarriers,
    Conclusion,
    CoresOversubscribed,
    HotMethod,
    JvmCpu,
    MailboxWaits,
    PythonUdf,
    SlowestHop,
    TaskManagerPressure,
    ThreadLevels,
)
from flowscope.analysis.taskmanagers import (
    BusyOffCpu,
    BusyOnCpu,
    GcHeavy,
    HeapFull,
    TaskManagerStatement,
)
from flowscope.analysis.threads import (
    NoDumpFrom,
    NoThreadFound,
    SameNameElsewhere,
    SampledVersusAveraged,
    SoftBackpressureOnly,
    StoppedAtDeadline,
    ThreadStatement,
)

BACKPRESSURE_HINT = (
    "barriers queue behind in-flight buffers of backpressured channels: unaligned checkpoints "
    "(execution.checkpointing.unaligned.enabled: true) or buffer debloating "
    "(taskmanager.network.memory.buffer-debloat.enabled: true) shorten them; removing the "
    "bottleneck fixes both"
)

HOW_TO_ENABLE = {
    EnableHow.CLUSTER: "cluster-wide: `metrics.latency.interval: 1000` (ms between markers per "
                       "source) in config.yaml; keep `metrics.latency.granularity: operator` "
                       "(the default)",
    EnableHow.JOB: "per job: `-Dmetrics.latency.interval=1000` at submission, or "
                   "`env.getConfig().setLatencyTrackingInterval(1000)` in the program",
}
CAVEATS = {
    Caveat.CLOCKS: "markers carry the source's wall clock: hosts whose clocks differ (no NTP) "
                   "shift every hop that crosses them",
    Caveat.SUBTASK_GRANULARITY: "granularity `subtask` keeps one histogram per source subtask "
                                "x operator subtask: with high parallelism that is thousands "
                                "of metrics and a real cost; `operator` (default) or `single` "
                                "is cheaper",
    Caveat.USER_FUNCTIONS: "markers bypass user functions: they show waiting in buffers and "
                           "queues, not the processing time of the operators",
}


def _s(ms: float) -> str:
    """Milliseconds as seconds with one decimal: `12.3 s`."""
    return f"{ms / 1000:.1f} s"


# -- conclusions ---------------------------------------------------------------------------

def conclusion(c: Conclusion) -> str:
    """One conclusion of a profile as a sentence."""
    match c:
        case MailboxWaits():
            return (f"{c.vertex} ran next to no code of its own while sampled "
                    f"({c.mailbox_samples} of {c.samples} samples wait in the task mailbox: "
                    "idle or backpressured)")
        case HotMethod():
            return _hot_method(c)
        case ChainShare():
            return _chain_share(c)
        case PythonUdf():
            return _python_udf(c)
        case CoresOversubscribed():
            return (_jvm_cpu(c.taskmanager, c.cores_used, c.busy_cores)
                    + ": the threads are RUNNABLE but get little CPU, so the host's cores are "
                    "oversubscribed (other processes, container CPU limits or throttling)")
        case JvmCpu():
            agree = "agrees" if c.agrees else "disagrees"
            return (_jvm_cpu(c.taskmanager, c.cores_used, c.busy_cores)
                    + f" ({agree} with the flame graph: {c.work})")
        case ThreadLevels():
            return _thread_levels(c)
        case TaskManagerPressure():
            return f"TaskManager {c.taskmanager}: {taskmanager(c.note)}"
        case SlowestHop():
            h = c.hop
            return (f"latency: {h.from_name} -> {h.to_name} adds the most "
                    f"(p50 {h.p50:.0f} ms, p99 {h.p99:.0f} ms)")
        case CheckpointBarriers():
            return checkpoint(c.note)
    assert_never(c)


def _hot_method(c: HotMethod) -> str:
    if c.mixed_on_cpu_share is not None:
        where = "on CPU" if c.work == Work.ON_CPU else "off CPU"
        cpu = f"mostly {where} ({c.mixed_on_cpu_share:.0%} of the work samples on CPU)"
    else:
        cpu = "on CPU" if c.work == Work.ON_CPU else "off CPU (blocked: I/O, sleeps, locks)"
    operator = f" (operator {c.operator})" if c.operator else ""
    return (f"{c.vertex}: {c.share:.0%} of its {c.view.replace('_', '-')} samples are in "
            f"{c.method}{operator}, {cpu}")


def _chain_share(c: ChainShare) -> str:
    method = f", in {c.method}" if c.method else ""
    rest = ", ".join(f"{o.operator} {o.share:.0%}" for o in c.others)
    return (f"inside the chain {c.chain} the time belongs to {c.operator} "
            f"({c.share:.0%} of samples{method}" + (f"; {rest}" if rest else "")
            + f"; matched by {c.matched_by})")


def _python_udf(c: PythonUdf) -> str:
    if c.mode == "process":
        return (f"{c.samples} of {c.of_samples} samples of {c.vertex} wait for the Python "
                "worker (PyFlink process mode, Beam Fn API): the time is spent in the Python "
                "UDF; profile the worker in Python (e.g. py-spy) or try thread mode")
    return (f"{c.samples} of {c.of_samples} samples of {c.vertex} run CPython inside the JVM "
            "(PyFlink thread mode, pemja): the time is spent in the Python UDF")


def _jvm_cpu(taskmanager: str, cores_used: float, busy_cores: float) -> str:
    return (f"TaskManager {taskmanager}: JVM CPU {cores_used:.2f} cores for {busy_cores:.1f} "
            "cores' worth of busy subtasks")


def _thread_levels(c: ThreadLevels) -> str:
    levels = ", ".join(f"{t.vertex_name} {t.level}" for t in c.tasks)
    if not c.disagreeing:
        said = "agree with Flink's time metrics on every task"
    else:
        said = "disagree with the time metrics on " + ", ".join(
            f"{t.vertex_name} (sampled {t.level}, metrics {t.metric_level})"
            for t in c.disagreeing)
    return f"thread dumps ({c.rounds} rounds): {levels}; {said}"


# -- the parts' own statements -------------------------------------------------------------

def taskmanager(s: TaskManagerStatement) -> str:
    """What one TaskManager's figures show, as said after its id."""
    match s:
        case GcHeavy():
            return f"spends {s.gc_ms_per_s / 10:.0f}% of its time in garbage collection"
        case HeapFull():
            return f"heap {s.heap_share:.0%} full"
        case BusyOffCpu():
            return (f"{s.busy_subtasks} busy subtask(s) ({s.busy_cores:.1f} cores' worth of "
                    f"busy time) but the JVM used {s.cores_used:.2f} cores: the busy threads "
                    "wait off the CPU (I/O, sleeps, locks) or for a core on an oversubscribed "
                    "host; the flame graph tells which")
        case BusyOnCpu():
            return (f"{s.busy_subtasks} busy subtask(s) and the JVM used {s.cores_used:.2f} "
                    "cores: too many for the busy time to be all waiting, though other jobs' "
                    "subtasks count too; the flame graph tells")
    assert_never(s)


def checkpoint(s: CheckpointStatement) -> str:
    """What one checkpoint's barriers show."""
    match s:
        case NotAcknowledged():
            reached = (f"; the barrier reached {s.reached} after {_s(s.reached_after_ms or 0.0)}"
                       if s.reached is not None else "")
            return (f"checkpoint {s.checkpoint} has run for {_s(s.running_ms)} and no subtask "
                    f"of {s.waiting_at} has acknowledged it yet{reached}")
        case BarrierTimes():
            state = "took" if s.completed else "has run for"
            total = _s(s.end_to_end_ms) if s.end_to_end_ms is not None else "?"
            aligned = f", which then aligned for {_s(s.aligned_ms)}" if s.aligned_ms else ""
            return (f"checkpoint {s.checkpoint} {state} {total}; its barrier reached "
                    f"{s.reached} after {_s(s.reached_after_ms)}{aligned}")
        case BarriersQueue():
            return BACKPRESSURE_HINT
        case BarriersFast():
            return "barriers travel in milliseconds: no sign of backpressure"
    assert_never(s)


def latency(s: LatencyStatement) -> str:
    """What the latency markers show."""
    match s:
        case MarkersPending():
            return (f"latency tracking is on (every {s.interval_ms:g} ms) but no operator has "
                    "reported a marker yet: markers take a few intervals to arrive")
        case TrackingOff():
            return "latency tracking is off (metrics.latency.interval is 0)"
        case NegativeHops():
            return ("some hops read negative (clamped to 0): histograms of different operators "
                    "hold different markers, so their quantiles do not subtract exactly")
        case HopAddsMost():
            return _hop_adds_most(s)
    assert_never(s)


def _hop_adds_most(s: HopAddsMost) -> str:
    h, timeout = s.hop, s.buffer_timeout_ms
    expect = (f"; the buffer timeout ({timeout:g} ms, {s.buffer_timeout_from}) explains about "
              f"{timeout / 2:g} ms per network hop") if timeout is not None else ""
    queueing = ("; the rest is waiting behind records (backpressure or a busy receiver)"
                if h.queueing else "")
    return (f"the hop {h.from_name} -> {h.to_name} adds the most: p50 {h.p50:.0f} ms, "
            f"p99 {h.p99:.0f} ms{expect}{queueing}")


def threads(s: ThreadStatement) -> str:
    """What the thread-dump sampling shows beside the levels, or why it is partial."""
    match s:
        case SoftBackpressureOnly():
            return ("no task thread was blocked requesting an output buffer (hard "
                    "backpressure); backpressured tasks wait in their mailbox like idle ones "
                    "(Flink's soft backpressure), so mailbox waits count as backpressure only "
                    "where a receiver is saturated (busy or backpressured in >= "
                    f"{s.saturated:.0%} of its samples)")
        case SameNameElsewhere():
            return ("left out (another job runs a task of the same name on the same "
                    "TaskManager): " + ", ".join(s.subtasks[:5]))
        case NoThreadFound():
            return "no task thread found for: " + ", ".join(s.vertices)
        case SampledVersusAveraged():
            return _sampled_versus_averaged(s)
        case StoppedAtDeadline():
            return f"stopped after {s.rounds} rounds at the {s.limit_s:g} s limit"
        case NoDumpFrom():
            return "no thread dump from: " + ", ".join(s.taskmanagers)
    assert_never(s)


def _sampled_versus_averaged(s: SampledVersusAveraged) -> str:
    window = f"{s.metric_window_s:.0f} s" if s.metric_window_s else "window"
    return ("where sampling and time metrics disagree: the samples show the moment, the "
            f"metrics average the last {window}; after a start or a load change backpressure "
            "spreads upstream only as the in-flight buffers fill, so a sender can read idle in "
            "the metrics while the sampling already counts its waits against a saturated "
            "receiver")


def flame(s: FlameStatement) -> str:
    """Why a flame graph view says nothing."""
    match s:
        case FlameNotReady():
            return f"flame graph {s.status}"
    assert_never(s)
