"""The one place that knows Flink's metric names and how they differ across versions.

Each flowscope quantity maps to candidate Flink names, newest first: Flink 2.x nests the
network metrics under `Shuffle.Netty.*`, Flink 1.x used `buffers.*`, and the input-buffer
usages were renamed (`floatingBuffersUsage` -> `inputFloatingBuffersUsage`). The collector lists
the names a vertex actually has and keeps the first candidate present, because a `get=`
request that names a missing metric may come back empty.
"""

from __future__ import annotations

from collections.abc import Iterable

from flowscope.model import Quantity, TmQuantity

# Per-subtask task metrics read from /jobs/:jid/vertices/:vid/metrics?get=<subtask>.<name>.
TASK_METRICS: dict[Quantity, tuple[str, ...]] = {
    Quantity.BUSY_MS_PER_S: ("busyTimeMsPerSecond",),
    Quantity.IDLE_MS_PER_S: ("idleTimeMsPerSecond",),
    Quantity.BACKPRESSURED_MS_PER_S: ("backPressuredTimeMsPerSecond",),
    Quantity.SOFT_BACKPRESSURED_MS_PER_S: ("softBackPressuredTimeMsPerSecond",),
    Quantity.HARD_BACKPRESSURED_MS_PER_S: ("hardBackPressuredTimeMsPerSecond",),
    Quantity.IN_POOL_USAGE: (
        "Shuffle.Netty.Input.Buffers.inPoolUsage",
        "buffers.inPoolUsage",
    ),
    Quantity.IN_EXCLUSIVE_USAGE: (
        "Shuffle.Netty.Input.Buffers.inputExclusiveBuffersUsage",
        "buffers.inputExclusiveBuffersUsage",
        "buffers.exclusiveBuffersUsage",
    ),
    Quantity.IN_FLOATING_USAGE: (
        "Shuffle.Netty.Input.Buffers.inputFloatingBuffersUsage",
        "buffers.inputFloatingBuffersUsage",
        "buffers.floatingBuffersUsage",
    ),
    Quantity.OUT_POOL_USAGE: (
        "Shuffle.Netty.Output.Buffers.outPoolUsage",
        "buffers.outPoolUsage",
    ),
    Quantity.BUFFERS_OUT: ("numBuffersOut",),
    Quantity.BUFFERS_IN_LOCAL: ("Shuffle.Netty.Input.numBuffersInLocal", "numBuffersInLocal"),
    Quantity.BUFFERS_IN_REMOTE: ("Shuffle.Netty.Input.numBuffersInRemote", "numBuffersInRemote"),
    Quantity.BYTES_IN_LOCAL: ("Shuffle.Netty.Input.numBytesInLocal", "numBytesInLocal"),
    Quantity.BYTES_IN_REMOTE: ("Shuffle.Netty.Input.numBytesInRemote", "numBytesInRemote"),
    Quantity.MAILBOX_QUEUE_SIZE: ("mailboxQueueSize",),
    # Fallbacks for clusters whose vertex details lack accumulated times (Flink < 1.13).
    Quantity.BUSY_MS: ("accumulateBusyTimeMs",),
    Quantity.IDLE_MS: ("accumulateIdleTimeMs",),
    Quantity.BACKPRESSURED_MS: ("accumulateBackPressuredTimeMs",),
    Quantity.RECORDS_IN_PER_S: ("numRecordsInPerSecond",),
    Quantity.RECORDS_OUT_PER_S: ("numRecordsOutPerSecond",),
    Quantity.INPUT_WATERMARK: ("currentInputWatermark",),
    Quantity.CHECKPOINT_ALIGNMENT_MS: ("checkpointAlignmentTime",),
    Quantity.CHECKPOINT_START_DELAY_MS: ("checkpointStartDelayNanos",),
    Quantity.FIRED_TIMERS: ("numFiredTimers",),
}

# Task metrics read over REST only (the Prometheus paths query TASK_METRICS' names).
REST_TASK_METRICS: dict[Quantity, tuple[str, ...]] = {
    Quantity.MAX_SOFT_BACKPRESSURE_MS: ("maxSoftBackPressureTimeMs",),
    Quantity.MAX_HARD_BACKPRESSURE_MS: ("maxHardBackPressureTimeMs",),
}

# Task metrics whose unit flowscope converts: name -> factor to the quantity's unit.
UNIT_FACTORS: dict[str, float] = {"checkpointStartDelayNanos": 1e-6}

# The source operator's metrics, `<subtask>.<source operator>.<name>` (FLIP-33 names): read on
# source vertices only, from the operator that reports any of them.
SOURCE_METRICS: dict[Quantity, tuple[str, ...]] = {
    Quantity.PENDING_RECORDS: ("pendingRecords", "pendingBytes"),
    Quantity.FETCH_LAG_MS: ("currentFetchEventTimeLag",),
    Quantity.EMIT_LAG_MS: ("currentEmitEventTimeLag",),
    Quantity.SOURCE_IDLE_MS: ("sourceIdleTime",),
    Quantity.RECORDS_IN_ERRORS: ("numRecordsInErrors",),
    Quantity.WATERMARK_ALIGNMENT_DRIFT_MS: ("watermarkAlignmentDrift",),
    Quantity.OUTPUT_WATERMARK: ("currentOutputWatermark",),
}
# Names only a source operator has: they tell which operator of a chain is the source.
SOURCE_MARKERS = frozenset({"sourceIdleTime", "currentEmitEventTimeLag", "numRecordsInErrors",
                            "pendingRecords", "currentFetchEventTimeLag"})
# Per-split watermark metrics, `<source operator>.split.<split id>.watermark.<name>` (2.1+).
SPLIT_METRICS: dict[str, str] = {
    "accumulatedPausedTimeMs": "paused_ms",
    "accumulatedIdleTimeMs": "idle_ms",
    "accumulatedActiveTimeMs": "active_ms",
    "currentWatermark": "watermark_ms",
}
# The per-split counters summed per subtask.
SPLIT_SUMS: dict[str, Quantity] = {
    "paused_ms": Quantity.SPLITS_PAUSED_MS,
    "idle_ms": Quantity.SPLITS_IDLE_MS,
    "active_ms": Quantity.SPLITS_ACTIVE_MS,
}

# The keyed state backend's metrics, `<operator>.<state>.rocksdb_<property>` (RocksDB native
# metrics of the state's column family, `state.backend.rocksdb.metrics.<property>: true`;
# `.rocksdb.<property>` before Flink 2.0), `<operator>.rocksdb_<statistic>` (RocksDB
# statistics, for the operator's whole instance) and `<operator>.state_name.<state>.
# <kind>Latency_<quantile>` (`state.latency-track.keyed-state-enabled: true`; ns; the kind is
# e.g. valueStateGet, mapStatePut). How each folds over an operator's states: sum or max.
ROCKSDB_PROPERTIES: dict[str, tuple[Quantity, str]] = {
    "estimate-num-keys": (Quantity.STATE_KEYS, "sum"),
    "estimate-live-data-size": (Quantity.STATE_LIVE_BYTES, "sum"),
    "total-sst-files-size": (Quantity.STATE_SST_BYTES, "sum"),
    # One block cache is shared by the states of a slot: the same value for each.
    "block-cache-usage": (Quantity.STATE_BLOCK_CACHE_USAGE_BYTES, "max"),
    "block-cache-capacity": (Quantity.STATE_BLOCK_CACHE_CAPACITY_BYTES, "max"),
    "estimate-pending-compaction-bytes": (Quantity.STATE_PENDING_COMPACTION_BYTES, "sum"),
    "num-running-compactions": (Quantity.STATE_RUNNING_COMPACTIONS, "max"),
    "is-write-stopped": (Quantity.STATE_WRITE_STOPPED, "max"),
}
ROCKSDB_STATISTICS: dict[str, tuple[Quantity, str]] = {
    "block_cache_hit": (Quantity.STATE_BLOCK_CACHE_HITS, "sum"),
    "block_cache_miss": (Quantity.STATE_BLOCK_CACHE_MISSES, "sum"),
    "bytes_read": (Quantity.STATE_BYTES_READ, "sum"),
    "bytes_written": (Quantity.STATE_BYTES_WRITTEN, "sum"),
    "stall_micros": (Quantity.STATE_STALL_US, "sum"),
}
# Access kinds that change the state; every other kind (get, contains, iterators) reads it.
STATE_WRITE_WORDS = ("Update", "Add", "Put", "Remove", "Merge", "Clear")
STATE_LATENCY: dict[str, tuple[Quantity, Quantity]] = {  # quantile -> (read, write)
    "median": (Quantity.STATE_READ_LATENCY_NS, Quantity.STATE_WRITE_LATENCY_NS),
    "p99": (Quantity.STATE_READ_LATENCY_P99_NS, Quantity.STATE_WRITE_LATENCY_P99_NS),
}
_LATENCY_SUFFIX = "Latency_"


def state_metric(bare: str) -> tuple[Quantity, str] | None:
    """The quantity a state backend metric (a name without its subtask prefix) adds to, and
    how it folds ("sum" or "max"); None for any other name."""
    parts = bare.split(".")
    if len(parts) < 2:
        return None
    last = parts[-1]
    if last.startswith("rocksdb_"):
        token = last[len("rocksdb_"):]
        return ROCKSDB_PROPERTIES.get(token) or (
            ROCKSDB_STATISTICS.get(token) if len(parts) == 2 else None)
    if parts[-2] == "rocksdb" and len(parts) >= 3:
        return ROCKSDB_PROPERTIES.get(last)
    kind, sep, quantile = last.rpartition(_LATENCY_SUFFIX)
    if sep and "State" in kind and quantile in STATE_LATENCY:
        read, write = STATE_LATENCY[quantile]
        return (write if any(w in kind for w in STATE_WRITE_WORDS) else read), "max"
    return None


# Quantities that /jobs/:jid/vertices/:vid already gives per subtask (one request per vertex);
# requested as metrics only when the detail lacks them.
DETAIL_FIELDS: dict[Quantity, str] = {
    Quantity.BUSY_MS: "accumulated-busy-time",
    Quantity.IDLE_MS: "accumulated-idle-time",
    Quantity.BACKPRESSURED_MS: "accumulated-backpressured-time",
    Quantity.RECORDS_IN: "read-records",
    Quantity.RECORDS_OUT: "write-records",
    Quantity.BYTES_IN: "read-bytes",
    Quantity.BYTES_OUT: "write-bytes",
}

# Gauges worth reading per subtask on every poll even when counters exist.
ALWAYS_GAUGES: frozenset[Quantity] = frozenset(
    {
        Quantity.BUSY_MS_PER_S,
        Quantity.IDLE_MS_PER_S,
        Quantity.BACKPRESSURED_MS_PER_S,
        Quantity.SOFT_BACKPRESSURED_MS_PER_S,
        Quantity.HARD_BACKPRESSURED_MS_PER_S,
        Quantity.MAX_SOFT_BACKPRESSURE_MS,
        Quantity.MAX_HARD_BACKPRESSURE_MS,
        Quantity.IN_POOL_USAGE,
        Quantity.IN_EXCLUSIVE_USAGE,
        Quantity.IN_FLOATING_USAGE,
        Quantity.OUT_POOL_USAGE,
        Quantity.BUFFERS_OUT,
        Quantity.BUFFERS_IN_LOCAL,
        Quantity.BUFFERS_IN_REMOTE,
        Quantity.BYTES_IN_LOCAL,
        Quantity.BYTES_IN_REMOTE,
        Quantity.INPUT_WATERMARK,
        Quantity.CHECKPOINT_ALIGNMENT_MS,
        Quantity.CHECKPOINT_START_DELAY_MS,
        Quantity.FIRED_TIMERS,
    }
)

# Operator-level counters inside a chain: `<subtask>.<operator>.<name>`.
OPERATOR_COUNTERS: dict[str, str] = {
    "numRecordsIn": Quantity.RECORDS_IN.value,
    "numRecordsOut": Quantity.RECORDS_OUT.value,
}

TM_METRICS: dict[TmQuantity, tuple[str, ...]] = {
    TmQuantity.CPU_LOAD: ("Status.JVM.CPU.Load",),
    TmQuantity.CPU_TIME_NS: ("Status.JVM.CPU.Time",),
    TmQuantity.GC_TIME_MS: ("Status.JVM.GarbageCollector.All.Time",),
    TmQuantity.GC_COUNT: ("Status.JVM.GarbageCollector.All.Count",),
    TmQuantity.GC_MS_PER_S: ("Status.JVM.GarbageCollector.All.TimeMsPerSecond",),
    TmQuantity.OLD_GC_COUNT: (
        "Status.JVM.GarbageCollector.G1_Old_Generation.Count",
        "Status.JVM.GarbageCollector.PS_MarkSweep.Count",
    ),
    TmQuantity.HEAP_USED: ("Status.JVM.Memory.Heap.Used",),
    TmQuantity.HEAP_MAX: ("Status.JVM.Memory.Heap.Max",),
    TmQuantity.THREADS: ("Status.JVM.Threads.Count",),
}

LATENCY_MARKER = ".latency.source_id."


def resolve(
    available: Iterable[str],
    table: dict[Quantity, tuple[str, ...]] | dict[TmQuantity, tuple[str, ...]],
) -> dict[str, str]:
    """Map each quantity to the first candidate Flink name present in `available`.

    `available` holds bare names (without the `<subtask>.` prefix).
    """
    present = set(available)
    out: dict[str, str] = {}
    for quantity, candidates in table.items():
        for name in candidates:
            if name in present:
                out[str(quantity)] = name
                break
    return out


def parse_value(raw: object) -> float | None:
    """Flink sends metric values as strings ("12.0", "NaN", "true"); return a float or None."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        try:
            return float(raw)
        except OverflowError:  # an integer past any float: not a measurement
            return None
    text = str(raw).strip()
    if text.lower() in ("true", "false"):
        return 1.0 if text.lower() == "true" else 0.0
    try:
        return float(text)  # float() reads "NaN", "Infinity", "-Infinity" too
    except ValueError:
        return None


# -- Flink's PrometheusReporter ---------------------------------------------------------------
# The reporter names a metric `flink_<scope>_<name>` with every character outside
# [a-zA-Z0-9:_] turned into "_" (`Shuffle.Netty.Input.Buffers.inPoolUsage` becomes
# `flink_taskmanager_job_task_Shuffle_Netty_Input_Buffers_inPoolUsage`), and mangles label
# values the same way (`Source: gen` -> `Source:_gen`, `flowscope-skew` -> `flowscope_skew`,
# a REST TaskManager id `localhost:38503-3e72f6` -> `localhost:38503_3e72f6`). `task_id` is the
# REST vertex id unmangled, so series join the REST (or HistoryServer) job graph exactly.
PROM_TASK = "flink_taskmanager_job_task_"
PROM_TASKMANAGER = "flink_taskmanager_"
PROM_JOB = "flink_jobmanager_job_"
PROM_LABEL_JOB_ID = "job_id"
PROM_LABEL_JOB_NAME = "job_name"
PROM_LABEL_TASK_ID = "task_id"
PROM_LABEL_SUBTASK = "subtask_index"
PROM_LABEL_ATTEMPT = "task_attempt_num"
PROM_LABEL_TM = "tm_id"
PROM_LABEL_HOST = "host"

# Counters REST reads from the vertex details (DETAIL_FIELDS): the reporter exports them as
# task metrics.
PROM_COUNTERS: dict[Quantity, tuple[str, ...]] = {
    Quantity.RECORDS_IN: ("numRecordsIn",),
    Quantity.RECORDS_OUT: ("numRecordsOut",),
    Quantity.BYTES_IN: ("numBytesIn",),
    Quantity.BYTES_OUT: ("numBytesOut",),
}

# Job metrics of the JobManager's reporter, `flink_jobmanager_job_<name>{job_id=..}`.
PROM_JOB_UPTIME = "uptime"  # ms since the job last started RUNNING (0 while not running)
PROM_JOB_RESTARTS = "numRestarts"  # restarts since the job was submitted (a counter)
PROM_JOB_CHECKPOINTS = {
    "completed": "numberOfCompletedCheckpoints",
    "failed": "numberOfFailedCheckpoints",
    "in_progress": "numberOfInProgressCheckpoints",
    "latest_duration_ms": "lastCheckpointDuration",
    "latest_size_bytes": "lastCheckpointSize",
}


def prom_mangle(text: str) -> str:
    """A Flink name or label value as the PrometheusReporter writes it."""
    return "".join(c if c.isascii() and (c.isalnum() or c in ":_") else "_" for c in text)


def prom_task_metrics() -> dict[Quantity, tuple[str, ...]]:
    """Per-subtask quantities -> candidate Prometheus names (without the task prefix)."""
    return {q: tuple(prom_mangle(n) for n in candidates)
            for q, candidates in {**TASK_METRICS, **PROM_COUNTERS}.items()}


def prom_tm_metrics() -> dict[TmQuantity, tuple[str, ...]]:
    """Per-TaskManager quantities -> candidate Prometheus names (without the TM prefix)."""
    return {q: tuple(prom_mangle(n) for n in candidates) for q, candidates in TM_METRICS.items()}
