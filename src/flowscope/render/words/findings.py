"""A finding's one-line summary, from its cause and facts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flowscope.analysis.findings import Cause, Fact, Finding, WorkBasis
from flowscope.analysis.numbers import pct


def summary(f: Finding) -> str:
    """The finding's one-line summary as every output shows it."""
    if f.cause == Cause.TRANSIENT and f.transient_of is not None:
        inner = _by_cause(f, f.transient_of)
        share = f.transient_share or 0.0
        return (f"transient: {inner} (only in {share:.0%} of the intervals; usually nothing to "
                "do)")
    return _by_cause(f, f.cause)


def _by_cause(f: Finding, cause: Cause) -> str:
    return _SUMMARIES.get(cause, _unknown)(f)


def listed(items: Sequence[Any]) -> str:
    return ", ".join(str(i) for i in items)


def _head(f: Finding) -> str:
    return (f"{f.vertex_name} limits the job at its head" if f.at_head
            else f"{f.vertex_name} is the bottleneck")


def _held(f: Finding) -> str:
    return "nothing downstream holds it back" if f.at_head else "its input is backpressured"


def _get(f: Finding, fact: Fact) -> Any:
    return f.facts.get(fact)


def _times(x: float | None, then: str, otherwise: str) -> str:
    return f"{x:.1f}x {then}" if x is not None else otherwise


def _skew(f: Finding) -> str:
    ratio, share = _get(f, Fact.RECORDS_RATIO), _get(f, Fact.INPUT_SHARE)
    of_input = f" ({share:.0%} of the input)" if share is not None else ""
    return (f"{_head(f)}: data skew. Subtask(s) {listed(f.subtasks)} receive "
            f"{_times(ratio, 'the records', 'more of the records')} of their peers{of_input} "
            f"and are busy {pct(_get(f, Fact.HOT_BUSY))}; their peers are busy "
            f"{pct(_get(f, Fact.PEERS_BUSY))}")


def _slow(f: Finding) -> str:
    where = ", ".join(f.taskmanagers) or "unknown TaskManager"
    cost = _get(f, Fact.COST_RATIO)
    records = _get(f, Fact.RECORDS_RATIO)
    spend = f"{cost:.1f}x " if cost else "more "
    if _get(f, Fact.STARVED):
        what = ("the busy time per record of their peers since the job started (the peers "
                "took no records in the window: held up behind them), and are busy ")
    else:
        what = ("the busy time per record of their peers on "
                + (f"{records:.1f}x " if records is not None else "about as many ")
                + "the records, and are busy ")
    return (f"{_head(f)}: a slow instance. Subtask(s) {listed(f.subtasks)} on {where} spend "
            + spend + what + pct(_get(f, Fact.HOT_BUSY)))


def _gc(f: Finding) -> str:
    gc = _get(f, Fact.GC_MS_PER_S) or 0.0
    if Fact.SUBTASKS in f.facts:  # a located bottleneck whose TaskManagers collect
        return (f"{_head(f)}: GC pressure. Its TaskManager(s) spend {gc / 10:.0f}% of the "
                "time in garbage collection" + _suffixes(f))
    return (f"GC pressure: TaskManager(s) {listed(f.taskmanagers)} spend {gc:.0f} ms of every "
            "second in garbage collection; pauses stall every task there"
            + (f". {f.vertex_name} is the busiest task on them, the likely allocator"
               if f.vertex_name else ""))


def _where(f: Finding) -> str:
    frame, op = _get(f, Fact.TOP_FRAME), _get(f, Fact.TOP_OPERATOR)
    if not frame:
        return ""
    return f" (most often in {frame}" + (f", operator {op}" if op else "") + ")"


def _samples(f: Finding) -> tuple[int, int, str]:
    on, off = _get(f, Fact.ON_SAMPLES) or 0, _get(f, Fact.OFF_SAMPLES) or 0
    return on, off, str(_get(f, Fact.STACK_SOURCE))


def _off_cpu(f: Finding) -> str:
    busy = pct(_get(f, Fact.BUSY))
    if _get(f, Fact.WAY) == WorkBasis.STACKS:
        on, off, source = _samples(f)
        text = (f"{_head(f)}: blocking (off-CPU) work. All subtasks are busy {busy}, and {off} "
                f"of {on + off} stack samples ({source}) caught them waiting (sleeping, "
                f"parked, in I/O){_where(f)}, not computing")
    else:
        text = (f"{_head(f)}: blocking (off-CPU) work. All subtasks are busy {busy} but their "
                f"TaskManagers use only {_get(f, Fact.CORES_USED):.2f} cores for "
                f"{_get(f, Fact.BUSY_CORES):.1f} busy subtasks: the time goes to waiting "
                "(I/O, sleeps, locks)")
    return text + _suffixes(f)


def _compute(f: Finding) -> str:
    n, busy = _get(f, Fact.SUBTASKS), pct(_get(f, Fact.BUSY))
    if _get(f, Fact.WAY) == WorkBasis.STACKS:
        on, off, source = _samples(f)
        text = (f"{_head(f)}: compute-bound. All {n} subtasks are busy (max {busy}) and {on} "
                f"of {on + off} stack samples ({source}) caught them computing{_where(f)}")
    else:
        text = (f"{_head(f)}: compute-bound. All {n} subtasks are busy (max {busy}) while "
                f"{_held(f)}")
    return text + _suffixes(f)


def _busy(f: Finding) -> str:
    hot, n = _get(f, Fact.HOT_SUBTASKS), _get(f, Fact.SUBTASKS)
    cores = _get(f, Fact.CORES_USED)
    jvm = (f"; their TaskManagers use {cores:.2f} cores for {_get(f, Fact.BUSY_CORES):.1f} busy "
           "subtasks, which does not tell (other jobs' subtasks and a shared host count too)"
           if cores is not None else "")
    return (f"{_head(f)}: busy, computing or waiting unknown. {hot} of {n} subtasks are busy "
            f"(max {pct(_get(f, Fact.BUSY))}) while {_held(f)}; whether the time goes to "
            f"computing or to waiting (off-CPU) is not known without stack samples{jvm}"
            + _suffixes(f))


def _suffixes(f: Finding) -> str:
    """What a busy bottleneck's summary adds: uneven input, a Python UDF, the head."""
    out = ""
    factor = _get(f, Fact.IMBALANCE)
    if factor is not None:
        share = _get(f, Fact.BUSIEST_SHARE)
        of = f"{share:.1%}" if share < 0.1 else f"{share:.0%}"
        out += (f". The input is uneven (subtask {_get(f, Fact.BUSIEST_SUBTASK)} gets {of} of "
                f"the records, {factor:.1f}x a fair share) but every subtask is busy: more "
                "parallelism spreads it, it is not data skew")
    mode = _get(f, Fact.PYTHON_MODE)
    if mode:
        out += (f"; the time is spent in the Python UDF (PyFlink {mode} mode): profile the "
                "Python function, not the JVM")
    if f.at_head:
        out += (". Nothing is backpressured because the limit is the first task of the job: "
                "nothing runs before it to be held back")
    return out


def _unmeasurable(f: Finding) -> str:
    return (f"{f.vertex_name} reports busy time as NaN: Flink cannot measure how busy it is "
            "(legacy and some SQL sources, e.g. datagen). flowscope judges it from "
            "backpressure and idle time only"
            + ("" if _get(f, Fact.ANY_BACKPRESSURE) else
               "; nothing downstream is backpressuring it"))


def _near_capacity(f: Finding) -> str:
    return (f"{f.vertex_name} is busy {pct(_get(f, Fact.BUSY))} but nothing upstream is "
            "backpressured yet: it runs at capacity, and backpressure follows as soon as the "
            "buffers before it fill")


def _transient(f: Finding) -> str:
    receiver = _get(f, Fact.RECEIVER)
    if receiver is None and _get(f, Fact.GAUGES_READ) is False:
        return ("backpressure is present but no busy task explains it, and the tasks' buffer "
                "gauges were not read: a slow network between them cannot be told from a "
                "transient or moving load; `flowscope diagnose` reads the gauges")
    if receiver is None:
        return ("backpressure is present but no busy task explains it: it may be transient or "
                "moving; watch longer")
    return (f"{f.vertex_name} is backpressured {pct(_get(f, Fact.BACKPRESSURED))} while "
            f"{receiver} idles: {receiver} also reads from the slow branch through "
            f"{_get(f, Fact.SLOW_INPUT)}, and while it aligns checkpoint barriers behind that "
            "input its other inputs are blocked. This follows from the bottleneck; it is not a "
            "bottleneck of its own")


def _network(f: Finding) -> str:
    more = _get(f, Fact.MORE) or 0
    extra = f" (and {more} more exchange(s) downstream)" if more else ""
    return (f"the exchange {f.vertex_name} -> {listed(_get(f, Fact.RECEIVERS) or ())}{extra} is "
            f"the bottleneck: the sender is backpressured {pct(_get(f, Fact.BACKPRESSURED))} "
            f"with output buffers {pct(_get(f, Fact.OUT_POOL))} full while the receivers are "
            f"idle with input buffers {pct(_get(f, Fact.IN_POOL))} used: network bandwidth or "
            "the credit round trip limits it")


def _low_fill(f: Finding) -> str:
    return (f"{f.vertex_name} receives {_get(f, Fact.REMOTE_BUFFERS_PER_S):.0f} network "
            f"buffers/s holding {_get(f, Fact.BYTES_PER_BUFFER):.0f} bytes each "
            f"({100 * _get(f, Fact.BUFFER_FILL):.1f}% of a {_get(f, Fact.SEGMENT_KIB)} KiB "
            "buffer): they are flushed by the buffer timeout long before they fill, which "
            "costs throughput")


def _moving(f: Finding) -> str:
    period = _get(f, Fact.PERIOD_S)
    every = f" about every {period:.0f} s" if period else ""
    return (f"the bottleneck moves between {listed(_get(f, Fact.NAMES) or ())}{every}: each "
            "limits the job in turn (e.g. a window firing, then the steady-state operator)")


def _falling_behind(f: Finding) -> str:
    growth, lag = _get(f, Fact.PENDING_GROWTH_PER_S), _get(f, Fact.EMIT_LAG_MS)
    more = f", its backlog grows by {growth:.0f} records/s" if growth else ""
    return (f"the job does not keep up with its input: {f.vertex_name} emits "
            f"{_get(f, Fact.RECORDS_OUT_PER_S):.0f} records/s{more}"
            + (f" and its records are {lag / 1000:.1f} s old when emitted"
               if lag is not None else ""))


def _catching_up(f: Finding) -> str:
    return (f"{f.vertex_name} is catching up: its backlog of "
            f"{_get(f, Fact.PENDING_RECORDS):.0f} records shrinks by "
            f"{-_get(f, Fact.PENDING_GROWTH_PER_S):.0f} records/s (after a restart or a load "
            "spike); usually nothing to do")


def _alignment_paused(f: Finding) -> str:
    return (f"{f.vertex_name}'s splits were paused by watermark alignment "
            f"{pct(_get(f, Fact.PAUSED_SHARE))} of the time: its idle time is not headroom; the "
            "splits ahead in event time wait for the ones behind")


def _idle_source(f: Finding) -> str:
    where = ", ".join(f"subtask {i}" + (f" split {sid}" if sid is not None else "")
                      for i, sid in _get(f, Fact.HELD) or ())
    downstream = _get(f, Fact.DOWNSTREAM) or ()
    return (f"{f.vertex_name} {where} receives no data and emits no watermark progress, so the "
            "watermark of every task downstream stays behind"
            + (f" ({listed(downstream)})" if downstream else "")
            + ": event-time windows and timers there do not fire, without any backpressure")


def _seconds(ms: float | None) -> str:
    return "?" if ms is None else f"{ms / 1000:.1f} s"


def _async_capacity(f: Finding) -> str:
    return (f"{_head(f)}: an Async I/O operator at its capacity. All subtasks are busy "
            f"{pct(_get(f, Fact.BUSY))}, and {pct(_get(f, Fact.WAIT_SHARE))} of their working "
            "stack samples wait for a free slot in its queue of requests in flight: each "
            f"subtask processes about {_get(f, Fact.RATE_PER_SUBTASK):.0f} records/s, its "
            "capacity over the service's latency" + _suffixes(f))


def _state_access(f: Finding) -> str:
    backend = {"rocksdb": "RocksDB", "forst": "ForSt", "heap": "the heap state backend"}.get(
        str(_get(f, Fact.BACKEND)), str(_get(f, Fact.BACKEND)))
    text = (f"{_head(f)}: state access. {pct(_get(f, Fact.STATE_SHARE))} of its working stack "
            f"samples run in {backend}, reading and writing keyed state, not in the operator's "
            "own code")
    slow, fast = _get(f, Fact.READ_NS), _get(f, Fact.READ_NS_FASTEST)
    if slow is not None:
        text += f"; the slowest subtask's state reads take {slow / 1000:.0f} µs (median)"
        if fast and slow / fast >= 10:
            text += f", {slow / fast:.0f}x the fastest's: one instance's reads miss its cache"
    hits = _get(f, Fact.HIT_RATIO)
    if hits is not None:
        text += f"; {pct(hits)} of block cache lookups hit"
    return text + _suffixes(f)


def _checkpoint_stall(f: Finding) -> str:
    interval, sync = _get(f, Fact.INTERVAL_MS), _get(f, Fact.SYNC_MS)
    of = (f" of every {_seconds(interval)} checkpoint interval" if interval else
          " per checkpoint")
    takes = (f"takes {_seconds(sync)}{of}" if sync is not None else
             "holds most of its busy stack samples (its checkpoints' details were not read)")
    return (f"{_head(f)}: its checkpoints stall it. The synchronous part of its snapshot "
            f"(snapshotState, a sink's pre-commit flush) {takes}, on the task thread: it takes "
            "no records meanwhile, so its input is backpressured in bursts, one per "
            "checkpoint")


def _restart_loop(f: Finding) -> str:
    n, span = _get(f, Fact.RESTARTS), _get(f, Fact.SPAN_S) or 0.0
    text = f"the job keeps restarting: {n} restart(s) in the last {span:.0f} s"
    failed = _get(f, Fact.FAILED)
    if failed:
        text += f", {failed} failed checkpoint(s)"
    name = _get(f, Fact.EXCEPTION)
    if name:
        cause = _get(f, Fact.ROOT_CAUSE)
        where = _get(f, Fact.TASK)
        message = str(_get(f, Fact.MESSAGE) or "").rstrip(". ")
        text += (f". The newest failure{' in ' + where if where else ''}: "
                 f"{str(name).rsplit('.', 1)[-1]}: {message}"
                 + (f" (caused by {cause})" if cause else ""))
    else:
        text += "; its exception history was not read"
    return text + ". What its tasks do between restarts is not their steady state"


def _checkpoints_failing(f: Finding) -> str:
    failed, total = _get(f, Fact.FAILED), _get(f, Fact.CHECKPOINTS)
    expired = _get(f, Fact.EXPIRED) or 0
    why = _get(f, Fact.MESSAGE)
    text = f"{failed} of the last {total} checkpoints failed"
    if expired:
        text += (f", {expired} of them expired (after {_seconds(_get(f, Fact.TIMEOUT_MS))}): "
                 "barriers wait behind backpressure or a snapshot is too slow")
    if why:
        text += f"; the newest failure: {str(why).rstrip('. ')}"
    return text


def _slow_alignment(f: Finding) -> str:
    return (f"{f.vertex_name} aligns checkpoint barriers for up to "
            f"{_seconds(_get(f, Fact.ALIGNMENT_MS))}: it waits for the barrier on its slow "
            "input while the others are blocked, and checkpoints take as long")


def _state_growth(f: Finding) -> str:
    size = _get(f, Fact.STATE_BYTES) or 0.0
    return (f"the checkpointed state grew {_get(f, Fact.GROWTH):.1f}x in the last "
            f"{_get(f, Fact.SPAN_S) or 0:.0f} s, to {size / 2**20:.0f} MiB: each checkpoint "
            "writes and each restore reads more")


def _unknown(f: Finding) -> str:
    return f"{f.vertex_name or 'the job'}: {f.cause}"


_SUMMARIES: dict[Cause, Callable[[Finding], str]] = {
    Cause.DATA_SKEW: _skew,
    Cause.SLOW_INSTANCE: _slow,
    Cause.GC_PRESSURE: _gc,
    Cause.OFF_CPU: _off_cpu,
    Cause.COMPUTE_BOUND: _compute,
    Cause.BUSY: _busy,
    Cause.UNMEASURABLE: _unmeasurable,
    Cause.NEAR_CAPACITY: _near_capacity,
    Cause.TRANSIENT: _transient,
    Cause.NETWORK: _network,
    Cause.LOW_BUFFER_FILL: _low_fill,
    Cause.MOVING: _moving,
    Cause.FALLING_BEHIND: _falling_behind,
    Cause.CATCHING_UP: _catching_up,
    Cause.ALIGNMENT_PAUSED: _alignment_paused,
    Cause.IDLE_SOURCE: _idle_source,
    Cause.ASYNC_CAPACITY: _async_capacity,
    Cause.STATE_ACCESS: _state_access,
    Cause.CHECKPOINT_STALL: _checkpoint_stall,
    Cause.RESTART_LOOP: _restart_loop,
    Cause.CHECKPOINTS_FAILING: _checkpoints_failing,
    Cause.SLOW_ALIGNMENT: _slow_alignment,
    Cause.STATE_GROWTH: _state_growth,
}
