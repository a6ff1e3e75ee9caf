"""What each cause means and what it asks for, in a few words: the fleet table's vocabulary,
and the runbook of the alerting rules (docs/alerting.md holds `runbook_table()`, a test keeps
it so)."""

from __future__ import annotations

from flowscope.analysis.findings import Cause

MEANING: dict[Cause, tuple[str, str]] = {
    Cause.COMPUTE_BOUND: (
        "every subtask of the task is busy computing",
        "scale the vertex out (the diagnosis suggests a parallelism), or make the hot code "
        "cheaper: `flowscope profile` shows where the time goes"),
    Cause.OFF_CPU: (
        "busy, but waiting (I/O, sleeps, locks), not computing",
        "make the waiting concurrent: Async I/O, batching, a faster external system; more "
        "parallelism helps without more CPU"),
    Cause.BUSY: (
        "every subtask is busy, and nothing read tells computing from waiting",
        "read stack samples first (flame graphs on: `flowscope diagnose --job ID` or "
        "`flowscope profile`), then scale out or make the waiting concurrent"),
    Cause.DATA_SKEW: (
        "a few subtasks receive far more records than their peers",
        "spread the hot keys (salting, two-phase aggregation); more parallelism does not help"),
    Cause.SLOW_INSTANCE: (
        "some subtasks are slower per record than their peers",
        "look at their TaskManager's host (CPU steal, GC, noisy neighbour, slow disk); "
        "restarting that TaskManager moves the subtasks"),
    Cause.GC_PRESSURE: (
        "the TaskManagers spend over 10 % of the time in GC",
        "reduce allocation in the operator, more heap, large state to RocksDB"),
    Cause.NETWORK: (
        "a sender is backpressured with full output buffers while its receivers idle",
        "check the network between the TaskManagers; if it is not saturated, raise buffers "
        "per channel"),
    Cause.ASYNC_CAPACITY: (
        "an Async I/O operator waits for a free slot in its queue of requests in flight",
        "raise its capacity if the service takes it, make the service answer sooner, or "
        "scale the operator out (the service carries the whole rate)"),
    Cause.STATE_ACCESS: (
        "the task's time goes into reading and writing keyed state (RocksDB, ForSt)",
        "more managed memory for the block cache, smaller values, state TTL, incremental "
        "checkpoints; on Flink 2.x the asynchronous state API"),
    Cause.CHECKPOINT_STALL: (
        "a checkpoint's synchronous phase blocks the task for much of each interval",
        "make snapshotState (or a sink's pre-commit flush) cheap; a longer interval meanwhile"),
    Cause.RESTART_LOOP: (
        "the job fails and restarts over and over",
        "fix the newest failure first (its exception is in the finding); a restart strategy "
        "with backoff meanwhile"),
    Cause.MOVING: (
        "the bottleneck alternates between tasks",
        "size for the peak: spread the burst (staggered windows, incremental aggregation) or "
        "scale the task that leads between bursts"),
}


def runbook_table() -> str:
    """The alerting runbook's table: a row per cause a bottleneck can have."""
    rows = "\n".join(f"| `{cause}` | {meaning} | {todo} |"
                     for cause, (meaning, todo) in MEANING.items())
    return "| cause | what it means | what to do |\n|---|---|---|\n" + rows
