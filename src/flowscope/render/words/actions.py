"""What to do: an action's sentence from its kind and numbers, and its short form for a
fleet row."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flowscope.analysis.findings import Action, ActionKind, Diagnosis, Fact, Finding, WorkBasis
from flowscope.render.words.findings import listed


def action(a: Action, f: Finding) -> str:
    """The action's sentence (`f`: the finding it answers)."""
    return _ACTIONS[a.kind](a, f)


def _plan(a: Action, f: Finding) -> str:
    goal, now = a.facts[Fact.GOAL_PER_S], a.facts[Fact.SOURCES_NOW_PER_S]
    basis = ("the target rate" if a.facts.get(Fact.GOAL_IS_TARGET)
             else "the rate the sources would emit unthrottled")
    lines = [f"{s.vertex}: {s.current} -> {s.proposed}"
             + (" (capped by max parallelism)" if s.capped else "")
             + f" (needs {s.needs_per_s:.0f} records/s at {s.rate_per_subtask:.0f} per subtask"
             + (f", x{s.uneven:.1f} for the uneven input" if s.uneven > 1 else "") + ")"
             for s in a.plan]
    text = (f"To carry {goal:.0f} records/s from the sources ({basis}; today {now:.0f}), at "
            f"{a.facts[Fact.UTILISATION]:.0%} utilisation: " + "; ".join(lines))
    nxt = a.facts.get(Fact.NEXT) or ()
    if nxt:
        text += f". After {f.vertex_name}, {listed(nxt)} would be the next bottleneck."
    return text


def _per_subtask(a: Action, f: Finding) -> str:
    r, u = a.facts[Fact.RATE_PER_SUBTASK], a.facts[Fact.UTILISATION]
    return (f"Each subtask of {f.vertex_name} processes {r:.0f} records/s at full load. The "
            "sources are blocked too much of the time to estimate the rate they could offer: "
            f"for R records/s it needs ceil(R / {u * r:.0f}) subtasks; pass --target-rate R to "
            "get the whole plan.")


def _head_rate(a: Action, f: Finding) -> str:
    r, u = a.facts[Fact.RATE_PER_SUBTASK], a.facts[Fact.UTILISATION]
    return (f"Each subtask of {f.vertex_name} emits {r:.0f} records/s at full load: for R "
            f"records/s it needs ceil(R / {u * r:.0f}) subtasks; pass --target-rate R for the "
            "plan.")


def _head_plan(a: Action, f: Finding) -> str:
    x = a.facts
    basis = "the target rate" if x.get(Fact.GOAL_IS_TARGET) else "the rate the input arrives at"
    text = (f"To carry {x[Fact.GOAL_PER_S]:.0f} records/s ({basis}) at "
            f"{x[Fact.UTILISATION]:.0%} utilisation, {f.vertex_name} needs parallelism "
            f"{x[Fact.NEEDED]} (today {x[Fact.PARALLELISM]})")
    splits = x.get(Fact.SPLITS)
    if splits:
        text += (f"; but the source has {splits:.0f} splits, and scaling past {splits:.0f} "
                 "will not help: split the chain (start a new chain after the source, with "
                 "more parallelism for the expensive operator), or make that operator cheaper "
                 "(Async I/O for off-CPU work)")
    return text + "."


def _skew_ceiling(a: Action, f: Finding) -> str:
    x = a.facts
    return (f"While {x[Fact.INPUT_SHARE]:.0%} of records go to subtask(s) "
            f"{listed(x[Fact.INDICES])}, {f.vertex_name} tops out near "
            f"{x[Fact.CEILING_PER_S]:.0f} records/s at any parallelism (the hot subtask "
            f"processes {x[Fact.RATE_PER_SUBTASK]:.0f} records/s at full load).")


def _check_host(a: Action, f: Finding) -> str:
    where = ", ".join(f.taskmanagers) or "unknown TaskManager"
    return (f"Look at the host of {where}: CPU steal, GC, a noisy neighbour, a slow disk; or at "
            "data that is costlier on that subtask. Restarting the job (or moving the "
            "TaskManager) places the subtask elsewhere.")


def _scale_or_optimise(a: Action, f: Finding) -> str:
    how = ("`flowscope profile` shows a flame graph summary"
           if a.facts.get(Fact.WAY) == WorkBasis.STACKS else
           "a flame graph shows where the time goes: rest.flamegraph.enabled: true")
    return (f"Scale this vertex out (see the parallelism below), or make the hot code cheaper "
            f"({how}).")


def _remove_limit(a: Action, f: Finding) -> str:
    arriving = a.facts.get(Fact.ARRIVING_PER_S)
    return ((f"The input arrives at about {arriving:.0f} records/s: "
             if arriving is not None else "")
            + "remove the limit (the bottleneck, or the head of the job), or the lag keeps "
            "growing until the data expires from the source.")


def _tell_work(a: Action, f: Finding) -> str:
    return ("Tell computing from waiting before scaling: with flame graphs on "
            "(rest.flamegraph.enabled: true), `flowscope diagnose --job "
            f"{a.facts.get(Fact.JOB_ID, '...')}` or `flowscope profile` reads the task threads' "
            "stack samples.")


def _async_capacity(a: Action, f: Finding) -> str:
    rate = a.facts.get(Fact.RATE_PER_SUBTASK) or 0.0
    return (f"Each subtask keeps at most `capacity` requests in flight and so processes about "
            f"capacity / latency records/s ({rate:.0f} here). Raise the capacity "
            "(AsyncDataStream.unorderedWait(..., timeout, unit, capacity)) if the service "
            "takes more concurrent requests; make the service answer sooner (or lower a "
            "timeout that requests wait out); or scale the operator out (the parallelism "
            "below): the service must then carry the whole rate. Not \"use Async I/O\": it "
            "is Async I/O already.")


def _state_tuning(a: Action, f: Finding) -> str:
    if a.facts.get(Fact.BACKEND) == "heap":
        return ("Keep less state per key or fewer keys (state TTL: StateTtlConfig), and "
                "cheaper values to (de)serialise; a larger heap moves the limit, not the cost.")
    return ("Give RocksDB more memory (managed memory: a larger "
            "taskmanager.memory.managed.fraction, so the block cache holds the hot keys), "
            "keep values small and cheap to (de)serialise, expire what is not needed (state "
            "TTL), checkpoint incrementally, and on Flink 2.x consider the asynchronous state "
            "API (state.backend.type: forst) so that state waits overlap.")


def _cheaper_snapshot(a: Action, f: Finding) -> str:
    sync, interval = a.facts.get(Fact.SYNC_MS), a.facts.get(Fact.INTERVAL_MS)
    share = f" ({sync / interval:.0%} of the time now)" if sync and interval else ""
    return ("Make the snapshot's synchronous part cheap: copy what must be consistent and "
            "write it in the asynchronous part (or let a sink flush as it goes, not all at "
            "once in its pre-commit); until then a longer checkpoint interval "
            f"(execution.checkpointing.interval) stalls the task less often{share}. Unaligned "
            "checkpoints do not help: the stall is on the task thread, not in the barriers.")


def _root_failure(a: Action, f: Finding) -> str:
    name = a.facts.get(Fact.EXCEPTION)
    first = (f"Fix the failure first ({str(name).rsplit('.', 1)[-1]})" if name else
             "Read the job's exception history (flowscope diagnose --url, or Flink's "
             "Exceptions tab) and fix the failure first")
    return (first + ": a bottleneck seen between restarts is not the job's steady state. A "
            "restart strategy with a backoff (restart-strategy.type: exponential-delay) keeps "
            "a failing job from restarting in a tight loop meanwhile.")


def _checkpoint_storage(a: Action, f: Finding) -> str:
    storage = a.facts.get(Fact.STORAGE) or ""
    jm = ("the JobManager's checkpoint storage keeps each checkpoint in the JobManager's "
          "memory (5 MB at most by default), which the state may have outgrown; "
          if "JobManager" in str(storage) else "")
    return (f"Checkpoints fail before the job does: {jm}use a durable checkpoint storage "
            "(state.checkpoint-storage: filesystem, with state.checkpoints.dir) and incremental "
            "checkpoints, and tolerate a few failed checkpoints.")


def _checkpoint_timeout(a: Action, f: Finding) -> str:
    if a.facts.get(Fact.EXPIRED):
        return ("Checkpoints expire: remove the backpressure that holds the barriers back, or "
                "let barriers overtake it (unaligned checkpoints, buffer debloating), or give "
                "checkpoints longer (execution.checkpointing.timeout).")
    return ("Read why they fail (the checkpoint history's failure message, the TaskManager's "
            "log); a checkpoint too big for its storage needs a durable storage and "
            "incremental checkpoints; tolerate a few failures so that one does not fail the "
            "job.")


def _fixed(text: str) -> Callable[[Action, Finding], str]:
    return lambda a, f: text


_ACTIONS: Mapping[ActionKind, Callable[[Action, Finding], str]] = {
    ActionKind.SPREAD_HOT_KEYS: _fixed(
        "Spread the hot keys: salt them (key + random suffix, then merge) or pre-aggregate "
        "before the keyBy (local/two-phase aggregation). More parallelism will not help: every "
        "record of a key goes to the same subtask."),
    ActionKind.SKEW_CEILING: _skew_ceiling,
    ActionKind.CHECK_HOST: _check_host,
    ActionKind.SCALE_OR_OPTIMISE: _scale_or_optimise,
    ActionKind.CONCURRENT_WAITING: _fixed(
        "Make the waiting concurrent: Flink's Async I/O (AsyncDataStream), batching requests, "
        "or a faster external system. More parallelism also helps, without needing more CPU."),
    ActionKind.MORE_HEAP: _fixed(
        "Reduce object churn in the operator, give the TaskManager more heap, or move large "
        "state to RocksDB."),
    ActionKind.LESS_ALLOCATION: _fixed(
        "Reduce allocation and live state in the busiest operator (a flame graph or an "
        "allocation profiler shows where), move large state to RocksDB, or give the "
        "TaskManagers more heap."),
    ActionKind.PLAN: _plan,
    ActionKind.PER_SUBTASK_RATE: _per_subtask,
    ActionKind.HEAD_PLAN: _head_plan,
    ActionKind.HEAD_RATE: _head_rate,
    ActionKind.NETWORK_BUFFERS: _fixed(
        "Check the network between the TaskManagers (bandwidth, latency). If the link is not "
        "saturated, the credit round trip is the limit: raise buffers per channel."),
    ActionKind.BUFFER_TIMEOUT: _fixed(
        "If throughput matters more than a few milliseconds of latency, raise the buffer "
        "timeout (100 ms is Flink's default; or stop flushing after every record) so buffers "
        "fill up."),
    ActionKind.SIZE_FOR_PEAK: _fixed(
        "Size for the peak, not the average: the task that limits the job during the burst "
        "needs capacity for the burst. Spread the burst (smaller or staggered windows, "
        "incremental aggregation with a ReduceFunction/AggregateFunction instead of a "
        "ProcessWindowFunction over all elements) or scale the task that leads between "
        "bursts."),
    ActionKind.REMOVE_LIMIT: _remove_limit,
    ActionKind.ALLOW_DRIFT: _fixed(
        "Speed up the splits that lag in event time, or allow more drift "
        "(WatermarkStrategy.withWatermarkAlignment max drift)."),
    ActionKind.DECLARE_IDLENESS: _fixed(
        "Declare idleness in the watermark strategy, so that an idle split stops holding the "
        "watermark back: WatermarkStrategy...withIdleness(Duration.ofSeconds(30)); or check "
        "why that partition receives nothing."),
    ActionKind.UNALIGNED: _fixed(
        "Remove the bottleneck on the other branch; unaligned checkpoints stop one slow input "
        "from blocking the others during checkpoints."),
    ActionKind.HEADROOM: _fixed(
        "Give it headroom before the input grows (see its true processing rate), or watch it: "
        "`flowscope watch`."),
    ActionKind.TELL_WORK: _tell_work,
    ActionKind.ASYNC_CAPACITY: _async_capacity,
    ActionKind.STATE_TUNING: _state_tuning,
    ActionKind.CHEAPER_SNAPSHOT: _cheaper_snapshot,
    ActionKind.ROOT_FAILURE: _root_failure,
    ActionKind.CHECKPOINT_STORAGE: _checkpoint_storage,
    ActionKind.CHECKPOINT_TIMEOUT: _checkpoint_timeout,
    ActionKind.STATE_TTL: _fixed(
        "Expire state that is no longer needed (StateTtlConfig), keep fewer or smaller keys, "
        "and checkpoint incrementally so that each checkpoint writes only what changed."),
}

# A fleet row's action: a few words, with the numbers where the action has them.
_SHORT: Mapping[ActionKind, Callable[[Action, Finding], str]] = {
    ActionKind.SPREAD_HOT_KEYS: _fixed("spread the hot keys (salt, or pre-aggregate)"),
    ActionKind.SKEW_CEILING: lambda a, f: (f"tops out near {a.facts[Fact.CEILING_PER_S]:.0f} "
                                           "records/s at any parallelism"),
    ActionKind.CHECK_HOST: lambda a, f: f"look at the host of {', '.join(f.taskmanagers)}",
    ActionKind.SCALE_OR_OPTIMISE: _fixed("scale out or make the hot code cheaper"),
    ActionKind.CONCURRENT_WAITING: _fixed("make the waiting concurrent"),
    ActionKind.MORE_HEAP: _fixed("more heap, less churn"),
    ActionKind.LESS_ALLOCATION: _fixed("less allocation, more heap"),
    ActionKind.PER_SUBTASK_RATE: lambda a, f: (
        f"{a.facts[Fact.RATE_PER_SUBTASK]:.0f} records/s per subtask at full load"),
    ActionKind.HEAD_RATE: lambda a, f: (
        f"{a.facts[Fact.RATE_PER_SUBTASK]:.0f} records/s per subtask at full load"),
    ActionKind.SIZE_FOR_PEAK: _fixed("size for the peak, not the average"),
    ActionKind.REMOVE_LIMIT: _fixed("remove the limit"),
    ActionKind.ALLOW_DRIFT: _fixed("allow more watermark drift"),
    ActionKind.DECLARE_IDLENESS: _fixed("declare idleness (withIdleness)"),
    ActionKind.HEADROOM: _fixed("give it headroom"),
    ActionKind.TELL_WORK: _fixed("read stack samples: on- or off-CPU?"),
    ActionKind.ASYNC_CAPACITY: _fixed("raise the Async I/O capacity, or speed up the service"),
    ActionKind.STATE_TUNING: _fixed("more memory for the state backend, smaller state"),
    ActionKind.CHEAPER_SNAPSHOT: _fixed("a cheaper synchronous snapshot, a longer interval"),
    ActionKind.ROOT_FAILURE: lambda a, f: (
        f"fix the failure: {a.facts.get(Fact.EXCEPTION) or 'see the exceptions'!s}"
        .rsplit(".", 1)[-1] if a.facts.get(Fact.EXCEPTION) else "read the job's exceptions"),
    ActionKind.CHECKPOINT_STORAGE: _fixed("a durable checkpoint storage"),
    ActionKind.CHECKPOINT_TIMEOUT: _fixed("why checkpoints fail"),
    ActionKind.STATE_TTL: _fixed("state TTL, incremental checkpoints"),
}


def short_action(d: Diagnosis, f: Finding) -> str:
    """The finding's first action as a fleet row shows it, its numbers first:
    `parallelism enrich 2 -> 5`, the config keys, or a few words of what to do."""
    current = {t.name: t.parallelism for t in d.tasks}
    for a in f.actions:
        if a.parallelism:
            return "; ".join(f"parallelism {name} {current.get(name, '?')} -> {p}"
                             for name, p in a.parallelism.items())
    for a in f.actions:
        if a.config:
            return "; ".join(f"{k}: {v}" for k, v in a.config.items())
    for a in f.actions:
        short = _SHORT.get(a.kind)
        if short is not None:
            return short(a, f)
    return ""
