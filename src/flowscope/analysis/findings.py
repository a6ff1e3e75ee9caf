"""What the analysis returns: task states, findings with evidence, actions. Plain data.

The analysis's vocabulary: every module of flowscope.analysis returns these types, and the
renderers read them. Decisions travel as types (Level, Cause, Verdict, Confidence, CpuSplit),
never as strings matched later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Level(StrEnum):
    """Flink's backpressure levels: OK <= 0.10 < LOW <= 0.5 < HIGH."""

    OK = "OK"
    LOW = "LOW"
    HIGH = "HIGH"
    UNKNOWN = "UNKNOWN"


LOW_THRESHOLD = 0.10
HIGH_THRESHOLD = 0.50
# A subtask busy at least this share of the time is hot: a task whose busiest subtask is can
# be a bottleneck, and a TaskManager's subtasks that are count as its busy ones.
BUSY_HOT = 0.5


def level_of(ratio: float | None) -> Level:
    if ratio is None:
        return Level.UNKNOWN
    if ratio <= LOW_THRESHOLD:
        return Level.OK
    if ratio <= HIGH_THRESHOLD:
        return Level.LOW
    return Level.HIGH


class Cause(StrEnum):
    COMPUTE_BOUND = "compute-bound"
    DATA_SKEW = "data-skew"
    SLOW_INSTANCE = "slow-instance"
    OFF_CPU = "off-cpu"
    NETWORK = "network"
    GC_PRESSURE = "gc-pressure"
    LOW_BUFFER_FILL = "low-buffer-fill"
    UNMEASURABLE = "unmeasurable"
    TRANSIENT = "transient"
    MOVING = "moving"
    NEAR_CAPACITY = "near-capacity"
    # The input side (sources' own metrics) and event time.
    FALLING_BEHIND = "falling-behind"
    CATCHING_UP = "catching-up"
    ALIGNMENT_PAUSED = "alignment-paused"
    IDLE_SOURCE = "idle-source"


class Verdict(StrEnum):
    HEALTHY = "healthy"  # no backpressure and headroom at the head of the job
    BACKPRESSURED = "backpressured"
    LIMITED = "limited"  # no backpressure, but the first task runs at its limit
    UNKNOWN = "unknown"


class Confidence(StrEnum):
    """How far a verdict can be trusted: high, medium or low (see the README's rule)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    def at_most(self, cap: Confidence) -> Confidence:
        """This confidence, lowered to `cap` when `cap` is lower."""
        order = (Confidence.LOW, Confidence.MEDIUM, Confidence.HIGH)
        return min(self, cap, key=order.index)


class Work(StrEnum):
    """What a busy task's threads do, from stack samples (flowscope.analysis.cpu's rule)."""

    ON_CPU = "on-cpu"  # computing
    OFF_CPU = "off-cpu"  # waiting inside user code: I/O, sleeps, locks
    WAITING = "waiting"  # next to no work ran while sampled: idle or backpressured


@dataclass(frozen=True)
class CpuSplit:
    """Busy-time stack samples of one task: how many ran on a CPU and how many waited."""

    on_cpu: int
    off_cpu: int
    source: str  # FLAME_GRAPH | THREAD_DUMPS
    top_frame: str | None  # the user method seen most often
    waiting: int = 0  # samples that did no work (mailbox or output-buffer waits)
    python: str | None = None  # "thread" / "process": the work runs in a PyFlink Python UDF
    top_operator: str | None = None  # the operator of a chain the top frame belongs to

    @property
    def samples(self) -> int:
        return self.on_cpu + self.off_cpu

    @property
    def off_share(self) -> float:
        return self.off_cpu / self.samples if self.samples else 0.0


FLAME_GRAPH, THREAD_DUMPS = "flame graph", "thread dumps"


@dataclass(frozen=True)
class StackUnavailable:
    """Why a task's stack samples could not be read (flame graphs disabled, an error)."""

    source: str
    reason: str


@dataclass(frozen=True)
class TaskManagerFacts:
    """One TaskManager over a window; None where not measured."""

    cores_used: float | None = None  # JVM CPU time per second, in cores
    gc_ms_per_s: float | None = None  # time in garbage collection, ms per second
    cpu_load: float | None = None  # Flink's gauge, 0..1 of the whole machine
    heap_used_bytes: float | None = None
    heap_max_bytes: float | None = None
    old_gc_count: float | None = None
    cpu_cores: float | None = None  # the host's cores
    # GC ms per second in each interval between metric snapshots of the window, oldest first.
    gc_intervals: tuple[float, ...] = ()

    @property
    def heap_share(self) -> float | None:
        if self.heap_used_bytes is None or not self.heap_max_bytes:
            return None
        return self.heap_used_bytes / self.heap_max_bytes


@dataclass
class Evidence:
    """One measured fact behind a finding."""

    subject: str  # e.g. "enrich", "enrich[1]", "TaskManager localhost:36667-f7fb0a"
    metric: str  # flowscope quantity or Flink metric, e.g. "busy_ratio"
    value: float | str
    unit: str  # "ratio", "records/s", "ms/s", ...
    window_s: float
    why: str


@dataclass
class Action:
    text: str
    config: dict[str, str] = field(default_factory=dict)
    parallelism: dict[str, int] = field(default_factory=dict)  # vertex name -> parallelism


@dataclass
class Finding:
    cause: Cause
    vertex_id: str | None
    vertex_name: str | None
    summary: str
    is_bottleneck: bool = True
    subtasks: list[int] = field(default_factory=list)
    taskmanagers: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    # The stack samples that decided on-CPU vs off-CPU (compute-bound and off-CPU findings).
    cpu: CpuSplit | StackUnavailable | None = None
    # The limit is the first task of the job, with nothing backpressured (verdict LIMITED).
    at_head: bool = False
    # Uneven input with every subtask busy: the busiest subtask's records over a fair share.
    imbalance: float | None = None
    # A bottleneck seen in few intervals (cause TRANSIENT): the share of intervals in which it
    # limited the job, and the cause it had then.
    transient_share: float | None = None
    transient_of: Cause | None = None


@dataclass(slots=True)
class SubtaskState:
    index: int
    taskmanager: str
    busy: float | None
    backpressured: float | None
    idle: float | None
    records_in_per_s: float | None
    records_out_per_s: float | None
    in_pool_usage: float | None
    out_pool_usage: float | None
    in_floating_usage: float | None
    in_exclusive_usage: float | None
    basis: str


@dataclass
class TaskState:
    """A task (vertex) as Flink's UI shows it: each ratio is the max over its subtasks."""

    vertex_id: str
    name: str
    parallelism: int
    max_parallelism: int
    busy: float | None
    backpressured: float | None
    idle: float | None
    level: Level
    records_in_per_s: float | None
    records_out_per_s: float | None
    true_rate_per_subtask: float | None
    subtasks: Sequence[SubtaskState]
    upstream: list[str]
    downstream: list[str]
    ship_strategies: list[str]
    # How far the task's input watermark is behind the wall clock (s, the slowest subtask's);
    # None without event time.
    watermark_lag_s: float | None = None


@dataclass
class BufferReading:
    """One subtask read through the 2019 post's two tables. `*_sign` is ok / warning / error."""

    vertex: str
    subtask: int
    in_pool_usage: float | None
    out_pool_usage: float | None
    floating_usage: float | None
    exclusive_usage: float | None
    upstream_out_pool_high: bool
    pool_sign: str
    pool_meaning: str
    channels_sign: str | None
    channels_meaning: str | None


@dataclass
class ThroughputFacts:
    """Per task, over the window (bytes and records per second from counter deltas)."""

    vertex: str
    record_bytes_in: float | None  # average serialised size of an incoming record
    record_bytes_out: float | None
    remote_share_in: float | None  # share of input bytes that crossed the network
    bytes_per_remote_buffer: float | None  # fill of the network buffers received
    buffer_fill: float | None  # bytes_per_remote_buffer / segment size
    remote_buffers_per_s: float | None  # network buffers received per second, all subtasks
    true_rate_per_subtask: float | None  # records per busy second


@dataclass
class Diagnosis:
    job_id: str
    job_name: str
    job_state: str
    t: float
    window_s: float
    uptime_s: float | None
    verdict: Verdict
    confidence: Confidence
    tasks: list[TaskState]
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    # The 2019 post's buffer tables per subtask with remote inputs, and per-task throughput.
    buffers: list[BufferReading] = field(default_factory=list)
    throughput: list[ThroughputFacts] = field(default_factory=list)

    @property
    def bottlenecks(self) -> list[Finding]:
        return [f for f in self.findings if f.is_bottleneck]
