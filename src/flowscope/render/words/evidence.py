"""Why each piece of evidence matters, and what a row of the 2019 post's buffer tables means."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flowscope.analysis.findings import BufferMeaning, Evidence, Fact, Why
from flowscope.analysis.numbers import pct


def why(e: Evidence) -> str:
    """The evidence's reason, with its own numbers."""
    text = _WHY[e.why]
    return text if isinstance(text, str) else text(e)


def _subtask_load(e: Evidence) -> str:
    cost = e.about.get(Fact.COST_S)
    return (f"busy {pct(e.about.get(Fact.BUSY))} on {e.about.get(Fact.TASKMANAGER) or '?'}"
            + (f", {1000 * cost:.2f} ms busy per record" if cost else ""))


def _peers_load(e: Evidence) -> str:
    return (f"median of the other {e.about.get(Fact.SUBTASKS)} subtasks, busy "
            f"{pct(e.about.get(Fact.BUSY))}")


def _stack_split(e: Evidence) -> str:
    frame, op = e.about.get(Fact.TOP_FRAME), e.about.get(Fact.TOP_OPERATOR)
    where = ((f" (most often in {frame}" + (f", operator {op}" if op else "") + ")")
             if frame else "")
    return (f"{e.about.get(Fact.STACK_SOURCE)} of its task threads while busy: "
            f"{e.about.get(Fact.ON_SAMPLES)} on CPU, {e.about.get(Fact.OFF_SAMPLES)} waiting "
            f"off-CPU{where}")


def _cores_for_busy(e: Evidence) -> str:
    of = (f" ({e.about.get(Fact.TASKMANAGERS_READ)} of the {e.about.get(Fact.TASKMANAGERS_OF)} "
          "TaskManagers of its busy subtasks, read one by one)"
          if e.about.get(Fact.SAMPLED) else "")
    return (f"the subtasks there are busy {e.about.get(Fact.BUSY_CORES):.2f} core-equivalents; "
            f"on-CPU work would use about as many cores{of}")


def _host_saturated(e: Evidence) -> str:
    return (f"the host has {e.about.get(Fact.HOST_CORES):.0f} cores: it is saturated, so "
            "on-CPU subtasks get less than a core each, and JVM CPU time cannot tell a thread "
            "starved of a core from one that waits")


def _shared_network(e: Evidence) -> str:
    return (f"backpressured {pct(e.about.get(Fact.BACKPRESSURED))} the same way further "
            "down: the exchanges share the network")


def _led_since(e: Evidence) -> str:
    return (f"a source of backpressure in {e.about.get(Fact.LED)} of the "
            f"{e.about.get(Fact.INTERVALS)} intervals since it first was")


def _of_working(e: Evidence) -> str:
    return f"of {e.about.get(Fact.SUBTASKS)} working stack samples (not idle in the mailbox)"


def _sync_phase(e: Evidence) -> str:
    interval = e.about.get(Fact.INTERVAL_MS)
    if e.metric.endswith("_samples"):
        return "stack samples in a checkpoint's synchronous phase, " + _of_working(e)
    return ("the longest synchronous checkpoint phase on the task thread"
            + (f", of a {interval / 1000:.1f} s interval" if interval else ""))


_WHY: Mapping[Why, str | Callable[[Evidence], str]] = {
    Why.BUSY_MAX: "max over subtasks of the share of time spent processing records",
    Why.INPUT_HELD: "the input is held back by this task",
    Why.HELD_SOMEWHERE: "held back by a busy task (which one: no edges to tell)",
    Why.SUBTASK_LOAD: _subtask_load,
    Why.PEERS_LOAD: _peers_load,
    Why.TM_CPU: "CPU the TaskManager's JVM used",
    Why.TM_GC: "time in garbage collection",
    Why.TM_GC_SHARE: "the JVM spends this share of each second in GC",
    Why.STACKS_UNREADABLE: "flame graphs could not be read; thread dumps are used instead",
    Why.STACK_SPLIT: _stack_split,
    Why.CORES_FOR_BUSY: _cores_for_busy,
    Why.HOST_SATURATED: _host_saturated,
    Why.NO_BUSY_TIME: "no busy time reported",
    Why.BLOCKED_DOWNSTREAM: "time blocked by downstream",
    Why.MAX_OVER_SUBTASKS: "max over subtasks",
    Why.IMBALANCE: "the busiest subtask's records over an even split",
    Why.TRUE_RATE: "what one subtask can process when never idle",
    Why.HEAD_TRUE_RATE: "what one subtask of the head emits when never idle",
    Why.HOT_SHARE: "share of the vertex's input the hot subtask(s) get",
    Why.BP_WITHOUT_BUSY: "backpressured without a busy task downstream",
    Why.GC_PER_S: ("time in garbage collection per second (collector threads add up, so it "
                   "can pass 1000)"),
    Why.HEAP_FULL: "a nearly full heap makes every GC costlier",
    Why.ALIGNING: "blocked while the receiver aligns barriers",
    Why.RECEIVER_NOT_LIMIT: "the receiver is not the limit",
    Why.WAITS_FOR_BUFFERS: "the sender waits for output buffers",
    Why.OUT_POOL_FULL: "1.0: all output buffers are full",
    Why.IN_POOL_FREE: "low: receivers have free buffers, so they are not the limit",
    Why.RECEIVERS_IDLE: "receivers are not busy",
    Why.NETWORK_THROUGHPUT: "throughput over the network",
    Why.SHARED_NETWORK: _shared_network,
    Why.BYTES_PER_BUFFER: "numBytesInRemote / numBuffersInRemote",
    Why.BUFFER_ROUNDS: "each one a network transfer of its own",
    Why.RECORD_SIZE: "average serialised record",
    Why.PENDING: "records waiting in the external system (pendingRecords)",
    Why.PENDING_GROWTH: "how fast the backlog changes",
    Why.EMIT_LAG: "emit time minus event time of the last record (currentEmitEventTimeLag)",
    Why.EMITS_NOW: "what the source emits now",
    Why.PAUSED: "accumulatedPausedTimeMs over all split time",
    Why.WATERMARK_TRAIL: "behind the most advanced subtask of the source",
    Why.WATERMARK_LAG: "input watermark behind the wall clock",
    Why.ROOT_SHARE: "share of intervals in which it limited the job",
    Why.SWITCHES: "how often the bottleneck moved between them",
    Why.PERIOD: "time between successive turns of the same task",
    Why.LED_SINCE: _led_since,
    Why.ASYNC_WAITS: lambda e: "waiting for a free slot in the Async I/O queue, " + _of_working(e),
    Why.STATE_FRAMES: lambda e: (f"in the {e.about.get(Fact.BACKEND)} state backend's code, "
                                 + _of_working(e)),
    Why.STATE_READS: lambda e: (
        "the slowest subtask's median state read (state.latency-track)"
        + (f"; the fastest's {e.about[Fact.READ_NS_FASTEST] / 1000:.0f} µs"
           if e.about.get(Fact.READ_NS_FASTEST) else "")),
    Why.CACHE_HITS: "block cache lookups that hit over the window (RocksDB statistics)",
    Why.SYNC_PHASE: _sync_phase,
    Why.RESTARTS: "restarts of the job within the history (execution attempts)",
    Why.NEWEST_FAILURE: lambda e: f"the newest failure: {e.about.get(Fact.MESSAGE)}",
    Why.FAILED_CHECKPOINTS: lambda e: (f"failed checkpoints within the window; the newest: "
                                       f"{e.about.get(Fact.MESSAGE) or 'no reason given'}"),
    Why.ALIGNMENT: "the longest barrier alignment of its subtasks in the checkpoints read",
    Why.STATE_SIZE: lambda e: (f"the newest checkpoint's full state, "
                               f"{e.about.get(Fact.GROWTH) or 0:.1f}x the oldest's in the window"),
}

_MEANING: Mapping[BufferMeaning, str] = {
    BufferMeaning.NONE: "no backpressure",
    BufferMeaning.FORWARDING: ("backpressured by downstream task(s) or the network, probably "
                               "forwarding backpressure upstream"),
    BufferMeaning.MAY_BE_SOURCE: ("may exercise backpressure upstream and may be the source of "
                                  "backpressure"),
    BufferMeaning.MAY_CAUSE: "may eventually cause backpressure",
    BufferMeaning.TEMPORARY: ("backpressured; temporary: upstream is not backpressured yet, or "
                              "not any more"),
    BufferMeaning.UNEXPECTED: "unexpected: exclusive buffers full while floating ones are free",
    BufferMeaning.NETWORK: "potential network bottleneck",
    BufferMeaning.MOST_CHANNELS: "backpressure on most or all of the input channels",
    BufferMeaning.SOME_CHANNELS: "backpressure on only some of the input channels",
    BufferMeaning.MOST_CHANNELS_LATER: ("backpressure eventually appears on most or all of the "
                                        "input channels"),
    BufferMeaning.SOME_CHANNELS_LATER: ("backpressure eventually appears on only some of the "
                                        "input channels"),
}


def meaning(m: BufferMeaning | None) -> str | None:
    """A buffer table row's meaning (None stays None: the table was not read)."""
    return None if m is None else _MEANING[m]
