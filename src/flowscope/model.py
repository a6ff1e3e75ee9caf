"""The data model: a job graph and timestamped samples of its subtasks and TaskManagers.

Values are plain floats in the units their names state (`*_ms` milliseconds accumulated since
the subtask started, `*_usage` 0..1 (outPoolUsage may exceed 1 with overdraft buffers),
counts as counts). NaN means Flink reported NaN; a missing key means Flink did not report it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class Quantity(StrEnum):
    """Per-subtask quantities flowscope reads; flowscope.flink.metric_names maps them to Flink."""

    # Counters, accumulated since the subtask (attempt) started.
    BUSY_MS = "busy_ms"
    IDLE_MS = "idle_ms"
    BACKPRESSURED_MS = "backpressured_ms"
    RECORDS_IN = "records_in"
    RECORDS_OUT = "records_out"
    BYTES_IN = "bytes_in"
    BYTES_OUT = "bytes_out"
    BUFFERS_OUT = "buffers_out"
    BUFFERS_IN_LOCAL = "buffers_in_local"
    BUFFERS_IN_REMOTE = "buffers_in_remote"
    BYTES_IN_LOCAL = "bytes_in_local"
    BYTES_IN_REMOTE = "bytes_in_remote"
    # Gauges, as Flink computes them (the time gauges average over up to 60 s).
    BUSY_MS_PER_S = "busy_ms_per_s"
    IDLE_MS_PER_S = "idle_ms_per_s"
    BACKPRESSURED_MS_PER_S = "backpressured_ms_per_s"
    SOFT_BACKPRESSURED_MS_PER_S = "soft_backpressured_ms_per_s"
    HARD_BACKPRESSURED_MS_PER_S = "hard_backpressured_ms_per_s"
    RECORDS_IN_PER_S = "records_in_per_s"
    RECORDS_OUT_PER_S = "records_out_per_s"
    # The longest single stretch of soft / hard backpressure in Flink's last measurement
    # (ms): seconds-long stretches under a low average are bursts (a stall downstream).
    MAX_SOFT_BACKPRESSURE_MS = "max_soft_backpressure_ms"
    MAX_HARD_BACKPRESSURE_MS = "max_hard_backpressure_ms"
    IN_POOL_USAGE = "in_pool_usage"
    IN_EXCLUSIVE_USAGE = "in_exclusive_usage"
    IN_FLOATING_USAGE = "in_floating_usage"
    OUT_POOL_USAGE = "out_pool_usage"
    MAILBOX_QUEUE_SIZE = "mailbox_queue_size"
    # 1 when Flink marks the subtask's I/O counters complete (`*-complete` in the vertex
    # details), 0 when some were not reported yet.
    IO_COMPLETE = "io_complete"
    # Event time (epoch ms; Flink reports Long.MIN_VALUE before the first watermark).
    INPUT_WATERMARK = "input_watermark_ms"
    OUTPUT_WATERMARK = "output_watermark_ms"  # of the source operator, on source subtasks
    # Barrier alignment of the last checkpoint (task gauges).
    CHECKPOINT_ALIGNMENT_MS = "checkpoint_alignment_ms"
    CHECKPOINT_START_DELAY_MS = "checkpoint_start_delay_ms"
    FIRED_TIMERS = "fired_timers"  # counter: event- and processing-time timers fired
    # The source operator's own metrics (FLIP-33 / FLIP-27), where the source reports them.
    PENDING_RECORDS = "pending_records"  # records (or bytes) waiting in the external system
    FETCH_LAG_MS = "fetch_lag_ms"  # fetch time - event time of the last fetched record
    EMIT_LAG_MS = "emit_lag_ms"  # emit time - event time of the last emitted record
    SOURCE_IDLE_MS = "source_idle_ms"  # time since the source last received a record
    RECORDS_IN_ERRORS = "records_in_errors"
    WATERMARK_ALIGNMENT_DRIFT_MS = "watermark_alignment_drift_ms"
    # Splits of a FLIP-27 source subtask (Flink 2.1+): how many, and their accumulated time
    # paused by watermark alignment, idle and active (counters, summed over splits).
    SPLITS = "splits"
    SPLITS_PAUSED_MS = "splits_paused_ms"
    SPLITS_IDLE_MS = "splits_idle_ms"
    SPLITS_ACTIVE_MS = "splits_active_ms"
    # The keyed state backend's own metrics, where the cluster enables them, over the states of
    # the subtask's operators. RocksDB's native metrics (`state.backend.rocksdb.metrics.*`):
    STATE_KEYS = "state_keys"  # estimated keys, summed over states
    STATE_LIVE_BYTES = "state_live_bytes"  # estimated live data, summed over states
    STATE_SST_BYTES = "state_sst_bytes"  # SST files on disk, summed over states
    STATE_BLOCK_CACHE_USAGE_BYTES = "state_block_cache_usage_bytes"  # max over states
    STATE_BLOCK_CACHE_CAPACITY_BYTES = "state_block_cache_capacity_bytes"  # max over states
    STATE_PENDING_COMPACTION_BYTES = "state_pending_compaction_bytes"  # summed over states
    STATE_RUNNING_COMPACTIONS = "state_running_compactions"  # max over states
    STATE_WRITE_STOPPED = "state_write_stopped"  # 1 when RocksDB stopped writes (max)
    # RocksDB statistics, counters of each operator's RocksDB instance, summed over operators.
    STATE_BLOCK_CACHE_HITS = "state_block_cache_hits"
    STATE_BLOCK_CACHE_MISSES = "state_block_cache_misses"
    STATE_BYTES_READ = "state_bytes_read"
    STATE_BYTES_WRITTEN = "state_bytes_written"
    STATE_STALL_US = "state_stall_us"  # microseconds writes were stalled
    # Sampled state access latencies (`state.latency-track.keyed-state-enabled`), in
    # nanoseconds, the max over states and access kinds: reads (get, contains, iterate) and
    # writes (update, add, put, remove, merge, clear). Flink's histograms hold the last
    # `state.latency-track.history-size` sampled accesses.
    STATE_READ_LATENCY_NS = "state_read_latency_ns"  # median
    STATE_READ_LATENCY_P99_NS = "state_read_latency_p99_ns"
    STATE_WRITE_LATENCY_NS = "state_write_latency_ns"  # median
    STATE_WRITE_LATENCY_P99_NS = "state_write_latency_p99_ns"


class TmQuantity(StrEnum):
    """Per-TaskManager quantities."""

    CPU_LOAD = "cpu_load"  # 0..1 of the whole machine
    CPU_TIME_NS = "cpu_time_ns"  # JVM CPU time, accumulated
    GC_TIME_MS = "gc_time_ms"  # all collectors, accumulated
    GC_COUNT = "gc_count"
    GC_MS_PER_S = "gc_ms_per_s"
    OLD_GC_COUNT = "old_gc_count"
    HEAP_USED = "heap_used_bytes"
    HEAP_MAX = "heap_max_bytes"
    THREADS = "threads"
    CPU_CORES = "cpu_cores"  # cores of the TaskManager's host, from /taskmanagers


@dataclass(frozen=True)
class Edge:
    """A data exchange between two vertices."""

    source: str
    target: str
    ship_strategy: str  # FORWARD, HASH, REBALANCE, RESCALE, BROADCAST, ...
    exchange: str = ""

    @property
    def is_forward(self) -> bool:
        return self.ship_strategy.upper() == "FORWARD"


@dataclass(frozen=True)
class Vertex:
    """A task (job vertex): one or more chained operators run by `parallelism` subtasks."""

    id: str
    name: str
    parallelism: int
    max_parallelism: int
    # Operator names within the chain, as they appear in operator metric names.
    operators: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobGraph:
    job_id: str
    name: str
    vertices: tuple[Vertex, ...]
    edges: tuple[Edge, ...]

    def vertex(self, vertex_id: str) -> Vertex:
        for v in self.vertices:
            if v.id == vertex_id:
                return v
        raise KeyError(vertex_id)

    def by_name(self, name: str) -> Vertex | None:
        return next((v for v in self.vertices if v.name == name), None)

    def inputs(self, vertex_id: str) -> list[Edge]:
        return [e for e in self.edges if e.target == vertex_id]

    def outputs(self, vertex_id: str) -> list[Edge]:
        return [e for e in self.edges if e.source == vertex_id]

    def upstream(self, vertex_id: str) -> list[str]:
        return [e.source for e in self.inputs(vertex_id)]

    def downstream(self, vertex_id: str) -> list[str]:
        return [e.target for e in self.outputs(vertex_id)]

    def sources(self) -> list[Vertex]:
        return [v for v in self.vertices if not self.inputs(v.id)]

    def sinks(self) -> list[Vertex]:
        return [v for v in self.vertices if not self.outputs(v.id)]

    def ancestors(self, vertex_id: str) -> set[str]:
        """Every vertex with a path to `vertex_id`."""
        return self._reach(self.upstream, vertex_id)

    def descendants(self, vertex_id: str) -> set[str]:
        """Every vertex reachable from `vertex_id`."""
        return self._reach(self.downstream, vertex_id)

    @staticmethod
    def _reach(step: Callable[[str], list[str]], vertex_id: str) -> set[str]:
        seen: set[str] = set()
        todo = list(step(vertex_id))
        while todo:
            v = todo.pop()
            if v not in seen:
                seen.add(v)
                todo.extend(step(v))
        return seen

    def topological(self) -> list[Vertex]:
        """Vertices from sources to sinks (stable for equal depth)."""
        depth: dict[str, int] = {}

        def d(vid: str, seen: frozenset[str] = frozenset()) -> int:
            if vid not in depth:
                ups = [u for u in self.upstream(vid) if u not in seen]
                depth[vid] = 1 + max((d(u, seen | {vid}) for u in ups), default=-1)
            return depth[vid]

        order = {v.id: i for i, v in enumerate(self.vertices)}
        return sorted(self.vertices, key=lambda v: (d(v.id), order[v.id]))


# Flame graph `endTimestamp` values that are states, not times.
FLAME_DISABLED, FLAME_TERMINATED, FLAME_WAITING = -2, -1, -3


@dataclass(frozen=True)
class FlameGraph:
    """One flame graph view of a vertex, flattened into stacks (outermost frame first).

    Flink samples every subtask's task thread `rest.flamegraph.num-samples` times; `on_cpu`
    keeps RUNNABLE threads, `off_cpu` WAITING / TIMED_WAITING / BLOCKED ones. `error` is set
    when the view could not be read (the cluster's one-line answer).
    """

    kind: str  # "on_cpu" | "off_cpu" | "full"
    end_timestamp_ms: int
    total: int  # thread samples in this view
    stacks: tuple[tuple[tuple[str, ...], int], ...]  # (frames, samples ending there)
    error: str = ""

    @property
    def status(self) -> str:
        """"ready", "disabled", "terminated", "waiting" (no sample yet), "error" or
        "unknown"."""
        if self.error:
            return "error"
        if self.end_timestamp_ms > 0:
            return "ready"
        return {FLAME_DISABLED: "disabled", FLAME_TERMINATED: "terminated",
                FLAME_WAITING: "waiting"}.get(self.end_timestamp_ms, "unknown")


@dataclass(frozen=True)
class ThreadSample:
    """One task thread in one thread dump of a TaskManager."""

    task: str  # the vertex name
    subtask: int  # 0-based
    parallelism: int
    attempt: int
    state: str  # RUNNABLE, WAITING, TIMED_WAITING, BLOCKED, ...
    frames: tuple[str, ...]  # `class.method`, innermost first
    taskmanager_id: str = ""


@dataclass
class SubtaskSample:
    """One subtask's metrics at one poll."""

    vertex_id: str
    index: int
    attempt: int = 0
    status: str = "RUNNING"
    taskmanager_id: str = ""
    host: str = ""
    values: dict[str, float] = field(default_factory=dict)
    # Operator-level counters within a chain: operator name -> {records_in, records_out}.
    operators: dict[str, dict[str, float]] = field(default_factory=dict)
    # A FLIP-27 source subtask's splits (Flink 2.1+): split id -> {watermark_ms, paused_ms,
    # idle_ms, active_ms} (the accumulated times are counters).
    splits: dict[str, dict[str, float]] = field(default_factory=dict)

    def get(self, q: Quantity | str) -> float | None:
        v = self.values.get(str(q))
        return None if v is None else v

    @property
    def gauged(self) -> bool:
        """Whether this poll read the subtask's gauges one by one (it has values beyond the
        vertex detail's counters)."""
        return not self.values.keys() <= DETAIL_QUANTITIES

    def finite(self, q: Quantity | str) -> float | None:
        v = self.values.get(str(q))
        return v if v is not None and math.isfinite(v) else None


@dataclass
class TaskManagerSample:
    id: str
    host: str = ""
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckpointSubtask:
    """One subtask's part in one checkpoint (`.../checkpoints/details/:id/subtasks/:vid`).
    Durations in ms, sizes in bytes; None where Flink reported nothing (a subtask that has not
    acknowledged)."""

    index: int
    acknowledged: bool
    end_to_end_ms: float | None = None  # trigger -> this subtask's acknowledgement
    sync_ms: float | None = None  # the snapshot's synchronous part, on the task thread
    async_ms: float | None = None  # its asynchronous part (uploading the state)
    alignment_ms: float | None = None  # first -> last barrier of its inputs
    start_delay_ms: float | None = None  # trigger -> the first barrier reached it
    checkpointed_bytes: float | None = None  # what this checkpoint wrote (incremental: new)
    state_bytes: float | None = None  # the full state it covers
    processed_bytes: float | None = None  # bytes processed during alignment
    persisted_bytes: float | None = None  # in-flight bytes persisted (unaligned)
    unaligned: bool = False
    aborted: bool = False


@dataclass(frozen=True)
class CheckpointVertex:
    """One vertex in one checkpoint (durations in ms, sizes in bytes). `subtasks` is empty
    when only the vertex's summary was read."""

    vertex_id: str
    acknowledged: int  # subtasks that acknowledged
    parallelism: int
    end_to_end_ms: float | None = None  # trigger -> the vertex's last acknowledgement
    checkpointed_bytes: float | None = None
    state_bytes: float | None = None
    subtasks: tuple[CheckpointSubtask, ...] = ()

    def _max(self, field_name: str) -> float | None:
        vals = [v for st in self.subtasks if (v := getattr(st, field_name)) is not None]
        return max(vals) if vals else None

    @property
    def sync_ms(self) -> float | None:
        """The longest synchronous phase among the subtasks read (ms)."""
        return self._max("sync_ms")

    @property
    def async_ms(self) -> float | None:
        return self._max("async_ms")

    @property
    def alignment_ms(self) -> float | None:
        return self._max("alignment_ms")

    @property
    def start_delay_ms(self) -> float | None:
        return self._max("start_delay_ms")


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint (or savepoint) of the job's checkpoint history (`/jobs/:jid/checkpoints`):
    times epoch ms, durations ms, sizes bytes. `vertices` holds the per-vertex (and, for the
    vertices read, per-subtask) details, read for the newest completed and failed checkpoints
    only; empty otherwise."""

    id: int
    status: str  # COMPLETED | FAILED | IN_PROGRESS
    savepoint: bool = False
    trigger_ms: float | None = None
    end_to_end_ms: float | None = None  # trigger -> last acknowledgement (so far)
    checkpointed_bytes: float | None = None
    state_bytes: float | None = None
    processed_bytes: float | None = None
    persisted_bytes: float | None = None
    acknowledged: int = 0  # subtasks that acknowledged
    subtasks: int = 0  # subtasks the checkpoint waits for
    failure_ms: float | None = None  # when it failed (epoch ms)
    failure_message: str = ""  # Flink's reason, first line ("" when not failed)
    vertices: tuple[CheckpointVertex, ...] = ()

    def vertex(self, vertex_id: str) -> CheckpointVertex | None:
        return next((v for v in self.vertices if v.vertex_id == vertex_id), None)


@dataclass(frozen=True)
class CheckpointConfig:
    """How the job checkpoints (`/jobs/:jid/checkpoints/config`); durations in ms."""

    interval_ms: float | None = None
    timeout_ms: float | None = None
    min_pause_ms: float | None = None
    max_concurrent: int | None = None
    mode: str = ""  # exactly_once | at_least_once
    unaligned: bool | None = None
    aligned_timeout_ms: float | None = None  # aligned, then unaligned after this (0: never)
    tolerable_failures: int | None = None  # failed checkpoints before the job fails over
    state_backend: str = ""  # e.g. HashMapStateBackend, EmbeddedRocksDBStateBackend
    storage: str = ""  # e.g. JobManagerCheckpointStorage, FileSystemCheckpointStorage


@dataclass
class CheckpointStats:
    """Checkpoint summary at a poll (durations in ms)."""

    completed: int = 0
    failed: int = 0
    in_progress: int = 0
    latest_duration_ms: float | None = None
    latest_trigger_ts: float | None = None  # epoch ms
    latest_size_bytes: float | None = None
    restored: int = 0  # times the job was restored from a checkpoint
    restored_id: int | None = None  # the checkpoint it last restored from
    restore_ms: float | None = None  # when (epoch ms)
    # The checkpoints Flink keeps in its history (`web.checkpoints.history`, 10 by default),
    # newest first.
    history: tuple[Checkpoint, ...] = ()
    # The job's checkpoint configuration (None: not read, or checkpointing is off).
    config: CheckpointConfig | None = None

    def latest(self, status: str) -> Checkpoint | None:
        """The newest checkpoint of the history with this status (COMPLETED, FAILED, ...)."""
        return next((c for c in self.history if c.status == status), None)


@dataclass(frozen=True)
class JobException:
    """One failure in the job's exception history (`/jobs/:jid/exceptions`); times epoch ms."""

    timestamp_ms: float
    name: str  # the exception's class
    message: str  # the first line of its stack trace, after the class name
    root_cause: str = ""  # the innermost "Caused by:" line (class: message), "" if none
    task: str = ""  # the failing task as Flink names it; "" for a global failure
    taskmanager_id: str = ""
    concurrent: int = 0  # other failures that came with it


@dataclass(frozen=True)
class Failures:
    """The job's exception history as last read (newest first), and when."""

    read_t: float  # epoch s of the poll that read it
    entries: tuple[JobException, ...] = ()
    truncated: bool = False  # Flink kept only the newest


@dataclass
class Sample:
    """Everything one poll saw of a job. `t` is the poll time in epoch seconds."""

    t: float
    job_id: str
    job_state: str
    subtasks: dict[str, list[SubtaskSample]]
    taskmanagers: dict[str, TaskManagerSample] = field(default_factory=dict)
    checkpoints: CheckpointStats = field(default_factory=CheckpointStats)
    # Job start in epoch seconds (RUNNING timestamp), for "how old is this data".
    job_start: float | None = None
    # Latency-marker histograms: (source vertex, operator id, operator subtask) -> quantiles (ms).
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    # Names Flink reported as present but which we could not parse, for the confidence notes.
    warnings: list[str] = field(default_factory=list)
    # Task threads of the thread dumps taken with this poll, by TaskManager id (only when
    # the diagnosis asked for them: they tell on-CPU from off-CPU busy time).
    thread_dumps: dict[str, list[ThreadSample]] = field(default_factory=dict)
    # Flame graphs taken with this poll: vertex id -> {"on_cpu": ..., "off_cpu": ...} (only
    # when asked for; Flink samples the vertex's own task threads, job by job).
    flamegraphs: dict[str, dict[str, FlameGraph]] = field(default_factory=dict)
    # The vertex ids whose subtasks' gauges this poll read one by one (None: every vertex), and
    # the others' gauges aggregated over their subtasks: vertex id -> quantity -> {"min",
    # "max", "avg", "sum", "skew"} (skew as Flink computes it: mean absolute deviation over the
    # mean, in percent, at most 100). Counters are read for every subtask either way.
    detail_vertices: tuple[str, ...] | None = None
    aggregates: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    # The job's TaskManagers (0: as many as `taskmanagers`). A big job's poll reads only some
    # one by one; the metrics of all of them then come aggregated: TmQuantity -> {"min",
    # "max", "avg", "sum"}.
    taskmanagers_of_job: int = 0
    taskmanager_aggregates: dict[str, dict[str, float]] = field(default_factory=dict)
    # When the job last went RESTARTING (epoch s; None: never). `job_start` is the latest
    # RUNNING, so a restarting job is young again after each restart.
    restarted_at: float | None = None
    # The exception history as last read: the collector reads it when a subtask's attempt
    # number rises and every few polls, and every sample carries the latest (None: not read).
    failures: Failures | None = None

    @property
    def uptime_s(self) -> float | None:
        return None if self.job_start is None else self.t - self.job_start

    @property
    def max_attempt(self) -> int:
        """The highest execution attempt among the subtasks read (0 before any restart): it
        rises by one with each restart of the subtask's region."""
        return max((int(cols.attempt.max()) for vid in self.subtasks
                    if len(cols := self.columns(vid))), default=0)

    def columns(self, vertex_id: str) -> VertexColumns:
        """One vertex's counters as arrays, built once per list of subtasks (the collector
        builds them with the poll; a list replaced later is read again)."""
        subs = self.subtasks.get(vertex_id, [])
        cache: dict[str, tuple[list[SubtaskSample], int, VertexColumns]]
        cache = self.__dict__.setdefault("_columns", {})
        hit = cache.get(vertex_id)
        if hit is not None and hit[0] is subs and hit[1] == len(subs):
            return hit[2]
        cols = VertexColumns.of(subs)
        cache[vertex_id] = (subs, len(subs), cols)
        return cols

    def share_subtasks_of(self, before: Sample) -> bool:
        """Take `before`'s subtasks, and their arrays, when they equal this sample's (a poll
        that saw the JobManager's previous metric snapshot again). Values compare exactly:
        a NaN never equals itself, so a sample with NaN keeps its own copy."""
        if list(self.subtasks) != list(before.subtasks):
            return False
        for vid in self.subtasks:  # the arrays tell most differences at once
            a, b = self.columns(vid), before.columns(vid)
            if not (a.same_subtasks(b) and np.array_equal(a.counters, b.counters,
                                                           equal_nan=True)):
                return False
        if self.subtasks != before.subtasks:
            return False
        self.subtasks = before.subtasks
        self.__dict__["_columns"] = before.__dict__.setdefault("_columns", {})
        return True


# The counters kept as arrays, in this order (rates over a window come from their deltas).
COLUMN_COUNTERS = (
    Quantity.BUSY_MS.value, Quantity.IDLE_MS.value, Quantity.BACKPRESSURED_MS.value,
    Quantity.RECORDS_IN.value, Quantity.RECORDS_OUT.value, Quantity.BYTES_IN.value,
    Quantity.BYTES_OUT.value, Quantity.BUFFERS_OUT.value, Quantity.BYTES_IN_REMOTE.value,
    Quantity.BYTES_IN_LOCAL.value, Quantity.BUFFERS_IN_REMOTE.value,
)
_BUSY_GAUGE = Quantity.BUSY_MS_PER_S.value
_NAN = math.nan
# What the vertex detail gives every subtask. A subtask whose values hold nothing else had no
# gauge read on its own (its vertex was read aggregated, or the detail tier did not pick it).
DETAIL_QUANTITIES = frozenset({
    Quantity.BUSY_MS.value, Quantity.IDLE_MS.value, Quantity.BACKPRESSURED_MS.value,
    Quantity.RECORDS_IN.value, Quantity.RECORDS_OUT.value, Quantity.BYTES_IN.value,
    Quantity.BYTES_OUT.value, Quantity.IO_COMPLETE.value,
})


@dataclass(frozen=True, eq=False)
class VertexColumns:
    """A vertex's subtask counters at one poll as arrays, in the order of `Sample.subtasks`:
    what the analysis folds over hundreds of thousands of subtasks without one Python object
    per subtask. NaN: not reported (or reported as NaN)."""

    index: np.ndarray  # int64
    attempt: np.ndarray  # int64
    counters: np.ndarray  # float64, one row per name of COLUMN_COUNTERS
    # Flink reported busyTimeMsPerSecond as NaN: busy time is not measured (bool).
    busy_unmeasured: np.ndarray
    # The subtask has values beyond the vertex detail's (gauges read one by one) (bool).
    gauged: np.ndarray

    @classmethod
    def of(cls, subs: Sequence[SubtaskSample]) -> VertexColumns:
        keys, nan, g, plain = COLUMN_COUNTERS, _NAN, _BUSY_GAUGE, DETAIL_QUANTITIES
        rows = [(st.index, st.attempt, v.get(g, 0.0), not v.keys() <= plain,
                 *[v.get(k, nan) for k in keys])
                for st in subs for v in (st.values,)]  # `gauged`, inlined: 100,000 a poll
        m = np.array(rows, dtype=np.float64).reshape(len(rows), len(keys) + 4).T.copy()
        return cls(m[0].astype(np.int64), m[1].astype(np.int64), m[4:], np.isnan(m[2]),
                   m[3] != 0)

    def of_counter(self, name: str) -> np.ndarray:
        return self.counters[COLUMN_COUNTERS.index(name)]

    def __len__(self) -> int:
        return len(self.index)

    def same_subtasks(self, other: VertexColumns) -> bool:
        """The same subtasks (index and attempt) in the same order."""
        return (len(self) == len(other) and bool(np.array_equal(self.index, other.index))
                and bool(np.array_equal(self.attempt, other.attempt)))
