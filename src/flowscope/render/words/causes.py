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
