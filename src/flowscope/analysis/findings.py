"""What the analysis returns: task states, findings with evidence, actions. Plain data.

The analysis's vocabulary: every module of flowscope.analysis returns these types, and the
renderers read them. Decisions travel as types (Level, Cause, Verdict, Confidence, CpuSplit),
never as strings matched later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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
# A subtask busy at least BUSY_HOT and this share of the hottest subtask's busy time is hot:
# on a shared host a peer may read 50% busy from noisy neighbours while the real bottleneck
# subtask reads 99%.
RELATIVE_HOT = 0.75


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
    # Busy, and nothing tells computing from waiting (no stack samples, no usable JVM CPU
    # time): said, never defaulted to a cause.
    BUSY = "busy"
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
    # Outside the per-record path: an Async I/O operator at its in-flight capacity, the state
    # backend's cost, a checkpoint's synchronous phase that blocks the task, and the job's
    # failures and checkpoints.
    ASYNC_CAPACITY = "async-capacity"
    STATE_ACCESS = "state-access"
    CHECKPOINT_STALL = "checkpoint-stall"
    RESTART_LOOP = "restart-loop"
    CHECKPOINTS_FAILING = "checkpoints-failing"
    SLOW_ALIGNMENT = "slow-alignment"
    STATE_GROWTH = "state-growth"


class Verdict(StrEnum):
    HEALTHY = "healthy"  # no backpressure and headroom at the head of the job
    BACKPRESSURED = "backpressured"
    LIMITED = "limited"  # no backpressure, but the first task runs at its limit
    RESTARTING = "restarting"  # the job failed and restarted within the window
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


Value = Any  # a fact's value: a number, a name, a flag, or a tuple of them


class Fact(StrEnum):
    """The numbers and names a judgement carries, each named once with its unit (as the
    autoscaler's ScalingMetric names its quantities). render/words composes the sentences
    from them; nothing reads a number back out of a sentence."""

    BUSY = "busy"  # ratio 0..1, the task's (max over subtasks)
    HOT_BUSY = "hot_busy"  # ratio 0..1, the busiest of the telling subtasks
    PEERS_BUSY = "peers_busy"  # ratio 0..1, the median of their peers
    BACKPRESSURED = "backpressured"  # ratio 0..1
    SUBTASKS = "subtasks"  # count of subtasks with a busy ratio
    HOT_SUBTASKS = "hot_subtasks"  # count of subtasks busy at least the hot bar
    RECORDS_RATIO = "records_ratio"  # x: the hottest subtask's records over its peers' median
    INPUT_SHARE = "input_share"  # ratio 0..1 of the task's records
    COST_RATIO = "cost_ratio"  # x: busy time per record over the peers' median
    COST_S = "cost_s"  # busy seconds per record
    TASKMANAGER = "taskmanager"  # a TaskManager id
    STARVED = "starved"  # bool: the peers took no records in the window
    GC_MS_PER_S = "gc_ms_per_s"  # ms of GC per second (can pass 1000: collector threads)
    STACK_SOURCE = "stack_source"  # FLAME_GRAPH | THREAD_DUMPS
    ON_SAMPLES = "on_samples"  # stack samples computing
    OFF_SAMPLES = "off_samples"  # stack samples waiting off-CPU
    TOP_FRAME = "top_frame"  # the user method seen most often, or None
    TOP_OPERATOR = "top_operator"  # the chained operator it belongs to, or None
    CORES_USED = "cores_used"  # cores: JVM CPU time per second
    BUSY_CORES = "busy_cores"  # core-equivalents: the busy subtasks' busy ratios summed
    HOST_CORES = "host_cores"  # cores of the host
    TASKMANAGERS_READ = "taskmanagers_read"  # count
    TASKMANAGERS_OF = "taskmanagers_of"  # count
    BUSIEST_SUBTASK = "busiest_subtask"  # index
    BUSIEST_SHARE = "busiest_share"  # ratio 0..1 of the records
    IMBALANCE = "imbalance"  # x: the busiest subtask's records over a fair share
    PYTHON_MODE = "python_mode"  # "thread" | "process"
    ANY_BACKPRESSURE = "any_backpressure"  # bool
    RECEIVER = "receiver"  # task name
    SLOW_INPUT = "slow_input"  # task name
    RECEIVERS = "receivers"  # tuple of task names
    MORE = "more"  # count of further items
    OUT_POOL = "out_pool"  # ratio, may pass 1 (overdraft buffers)
    IN_POOL = "in_pool"  # ratio 0..1
    REMOTE_BUFFERS_PER_S = "remote_buffers_per_s"  # network buffers per second
    BYTES_PER_BUFFER = "bytes_per_buffer"  # bytes
    BUFFER_FILL = "buffer_fill"  # ratio 0..1 of a segment
    SEGMENT_KIB = "segment_kib"  # KiB
    NAMES = "names"  # tuple of task names
    PERIOD_S = "period_s"  # s
    RECORDS_OUT_PER_S = "records_out_per_s"  # records/s
    PENDING_RECORDS = "pending_records"  # records
    PENDING_GROWTH_PER_S = "pending_growth_per_s"  # records/s
    EMIT_LAG_MS = "emit_lag_ms"  # ms
    ARRIVING_PER_S = "arriving_per_s"  # records/s
    PAUSED_SHARE = "paused_share"  # ratio 0..1
    HELD = "held"  # tuple of (subtask index, split id or None)
    DOWNSTREAM = "downstream"  # tuple of task names
    CEILING_PER_S = "ceiling_per_s"  # records/s
    RATE_PER_SUBTASK = "rate_per_subtask"  # records per busy second of one subtask
    UTILISATION = "utilisation"  # ratio 0..1 a plan aims at
    GOAL_PER_S = "goal_per_s"  # records/s a plan carries
    GOAL_IS_TARGET = "goal_is_target"  # bool: --target-rate (else the unthrottled rate)
    SOURCES_NOW_PER_S = "sources_now_per_s"  # records/s the sources emit today
    NEXT = "next"  # tuple of task names: the next bottlenecks after a plan
    PARALLELISM = "parallelism"  # subtasks
    NEEDED = "needed"  # subtasks
    SPLITS = "splits"  # count of source splits
    WINDOW_S = "window_s"  # s
    UPTIME_S = "uptime_s"  # s
    STATE = "state"  # a Flink job status
    ATTEMPT = "attempt"  # restart attempt number
    SPAN_S = "span_s"  # s
    SUBJECTS = "subjects"  # tuple of names
    INDICES = "indices"  # tuple of subtask indices
    SWINGS = "swings"  # tuple of (min, max) busy ratios of timer-firing tasks
    AVERAGED = "averaged"  # tuple of busy ratios of bottlenecks far from fully busy
    IDLE_S = "idle_s"  # s
    JOB_ID = "job_id"
    SAMPLED = "sampled"  # bool: a sample of the TaskManagers was read
    RESTARTS = "restarts"  # count
    REASON = "reason"  # a short machine token or an error's own text
    INTERVALS = "intervals"  # count
    LED = "led"  # count of intervals in which it led
    WAY = "way"  # a WorkBasis: how on-/off-CPU was told
    GAUGES_READ = "gauges_read"  # bool: the tasks' buffer gauges were read
    WAIT_SHARE = "wait_share"  # ratio 0..1 of the working stack samples waiting for a slot
    STATE_SHARE = "state_share"  # ratio 0..1 of the working stack samples in state code
    BACKEND = "backend"  # a state backend: rocksdb, forst, heap
    READ_NS = "read_ns"  # ns: the slowest subtask's median state read
    READ_NS_FASTEST = "read_ns_fastest"  # ns: the fastest subtask's
    HIT_RATIO = "hit_ratio"  # ratio 0..1 of block cache hits
    STATE_BYTES = "state_bytes"  # bytes
    SYNC_MS = "sync_ms"  # ms: a checkpoint's synchronous phase
    INTERVAL_MS = "interval_ms"  # ms: the checkpoint interval
    TIMEOUT_MS = "timeout_ms"  # ms: the checkpoint timeout
    ALIGNMENT_MS = "alignment_ms"  # ms: barrier alignment
    CHECKPOINTS = "checkpoints"  # count
    FAILED = "failed"  # count
    EXPIRED = "expired"  # count
    GROWTH = "growth"  # x over the window
    EXCEPTION = "exception"  # an exception's class
    MESSAGE = "message"  # its first line
    ROOT_CAUSE = "root_cause"  # its innermost cause
    TASK = "task"  # a task name as Flink gives it
    STORAGE = "storage"  # the checkpoint storage's class


class Why(StrEnum):
    """Why a piece of evidence matters: each is worded once, in render/words."""

    BUSY_MAX = "busy-max"
    INPUT_HELD = "input-held"
    HELD_SOMEWHERE = "held-somewhere"
    SUBTASK_LOAD = "subtask-load"
    PEERS_LOAD = "peers-load"
    TM_CPU = "tm-cpu"
    TM_GC = "tm-gc"
    TM_GC_SHARE = "tm-gc-share"
    STACKS_UNREADABLE = "stacks-unreadable"
    STACK_SPLIT = "stack-split"
    CORES_FOR_BUSY = "cores-for-busy"
    HOST_SATURATED = "host-saturated"
    NO_BUSY_TIME = "no-busy-time"
    BLOCKED_DOWNSTREAM = "blocked-downstream"
    MAX_OVER_SUBTASKS = "max-over-subtasks"
    IMBALANCE = "imbalance"
    TRUE_RATE = "true-rate"
    HEAD_TRUE_RATE = "head-true-rate"
    HOT_SHARE = "hot-share"
    ASYNC_WAITS = "async-waits"
    STATE_FRAMES = "state-frames"
    STATE_READS = "state-reads"
    CACHE_HITS = "cache-hits"
    SYNC_PHASE = "sync-phase"
    RESTARTS = "restarts"
    NEWEST_FAILURE = "newest-failure"
    FAILED_CHECKPOINTS = "failed-checkpoints"
    ALIGNMENT = "alignment"
    STATE_SIZE = "state-size"
    BP_WITHOUT_BUSY = "bp-without-busy"
    GC_PER_S = "gc-per-s"
    HEAP_FULL = "heap-full"
    ALIGNING = "aligning"
    RECEIVER_NOT_LIMIT = "receiver-not-limit"
    WAITS_FOR_BUFFERS = "waits-for-buffers"
    OUT_POOL_FULL = "out-pool-full"
    IN_POOL_FREE = "in-pool-free"
    RECEIVERS_IDLE = "receivers-idle"
    NETWORK_THROUGHPUT = "network-throughput"
    SHARED_NETWORK = "shared-network"
    BYTES_PER_BUFFER = "bytes-per-buffer"
    BUFFER_ROUNDS = "buffer-rounds"
    RECORD_SIZE = "record-size"
    PENDING = "pending"
    PENDING_GROWTH = "pending-growth"
    EMIT_LAG = "emit-lag"
    EMITS_NOW = "emits-now"
    PAUSED = "paused"
    WATERMARK_TRAIL = "watermark-trail"
    WATERMARK_LAG = "watermark-lag"
    ROOT_SHARE = "root-share"
    SWITCHES = "switches"
    PERIOD = "period"
    LED_SINCE = "led-since"


class ActionKind(StrEnum):
    """What to do, as a kind with its numbers in the action's facts; worded in render/words."""

    SPREAD_HOT_KEYS = "spread-hot-keys"
    SKEW_CEILING = "skew-ceiling"
    CHECK_HOST = "check-host"
    SCALE_OR_OPTIMISE = "scale-or-optimise"
    CONCURRENT_WAITING = "concurrent-waiting"
    MORE_HEAP = "more-heap"
    LESS_ALLOCATION = "less-allocation"
    PLAN = "plan"  # every vertex's parallelism for a goal rate (Action.plan)
    PER_SUBTASK_RATE = "per-subtask-rate"  # no goal rate: what one subtask carries
    HEAD_PLAN = "head-plan"
    HEAD_RATE = "head-rate"
    NETWORK_BUFFERS = "network-buffers"
    BUFFER_TIMEOUT = "buffer-timeout"
    SIZE_FOR_PEAK = "size-for-peak"
    REMOVE_LIMIT = "remove-limit"
    ALLOW_DRIFT = "allow-drift"
    DECLARE_IDLENESS = "declare-idleness"
    UNALIGNED = "unaligned-checkpoints"
    HEADROOM = "headroom"
    TELL_WORK = "tell-work"  # read stack samples: on- or off-CPU is not known
    ASYNC_CAPACITY = "async-capacity"  # raise the in-flight capacity, or the service's pace
    STATE_TUNING = "state-tuning"  # the state backend's memory, values, TTL, async state
    CHEAPER_SNAPSHOT = "cheaper-snapshot"  # a synchronous checkpoint phase that blocks
    ROOT_FAILURE = "root-failure"  # fix what fails first
    CHECKPOINT_STORAGE = "checkpoint-storage"  # state outgrows the JobManager's storage
    CHECKPOINT_TIMEOUT = "checkpoint-timeout"  # checkpoints that expire
    STATE_TTL = "state-ttl"  # state that keeps growing


class WorkBasis(StrEnum):
    """How a busy task's on- or off-CPU work was told."""

    STACKS = "stacks"
    JVM_CPU = "jvm-cpu"
    UNKNOWN = "unknown"


@dataclass
class Evidence:
    """One measured fact behind a finding; `why` is worded in render/words, with `about`'s
    numbers."""

    subject: str  # e.g. "enrich", "enrich[1]", "TaskManager localhost:36667-f7fb0a"
    metric: str  # flowscope quantity or Flink metric, e.g. "busy_ratio"
    value: float | str
    unit: str  # "ratio", "records/s", "ms/s", ...
    window_s: float
    why: Why
    about: dict[Fact, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanStep:
    """One vertex of a parallelism plan: today's parallelism and the one proposed, for an
    input of `needs_per_s` records/s at `rate_per_subtask` records per busy second."""

    vertex: str
    current: int
    proposed: int
    needs_per_s: float
    rate_per_subtask: float
    uneven: float = 1.0  # the busiest subtask's share over a fair share, sized for
    capped: bool = False  # the proposal is the vertex's max parallelism


@dataclass
class Action:
    kind: ActionKind
    facts: dict[Fact, Value] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    parallelism: dict[str, int] = field(default_factory=dict)  # vertex name -> parallelism
    plan: list[PlanStep] = field(default_factory=list)


class NoteKind(StrEnum):
    """A caveat about the data or the verdict, worded in render/words."""

    NOT_RUNNING = "not-running"
    STARTUP_VALUES = "startup-values"
    TOO_YOUNG = "too-young"
    GAUGES_ONLY = "gauges-only"
    SHORT_COUNTERS = "short-counters"
    MIXED_BASIS = "mixed-basis"
    IO_INCOMPLETE = "io-incomplete"
    DETAIL_READ = "detail-read"
    RESTARTED = "restarted"
    NOT_SETTLED = "not-settled"
    BOTTLENECK_CHANGED = "bottleneck-changed"
    RATES_UNKNOWN = "rates-unknown"
    NO_INPUT_METRICS = "no-input-metrics"
    INPUT_IDLE = "input-idle"
    PROVISIONAL_BUSY = "provisional-busy"
    PROVISIONAL = "provisional"
    JVM_CPU_ONLY = "jvm-cpu-only"
    WORK_UNKNOWN = "work-unknown"
    GAUGE_RATIOS = "gauge-ratios"
    ALONG_EDGES = "along-edges"
    WITHOUT_EDGES = "without-edges"
    BETWEEN_RESTARTS = "between-restarts"
    NETWORK_UNKNOWN = "network-unknown"
    MISSED_POLLS = "missed-polls"
    FROM_JOBMANAGER = "from-jobmanager"
    UNSETTLED_SAMPLING = "unsettled-sampling"
    SAID = "said"  # a reader's or a loop's own line (a source's gaps, missed polls)


@dataclass(frozen=True)
class Note:
    kind: NoteKind
    facts: dict[Fact, Value] = field(default_factory=dict)
    text: str = ""  # NoteKind.SAID only: the line as its reader worded it


@dataclass
class Finding:
    cause: Cause
    vertex_id: str | None
    vertex_name: str | None
    is_bottleneck: bool = True
    subtasks: list[int] = field(default_factory=list)
    taskmanagers: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    # The numbers the words are made of (render/words).
    facts: dict[Fact, Value] = field(default_factory=dict)
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


class BufferMeaning(StrEnum):
    """What a row of the 2019 post's buffer tables means (worded in render/words)."""

    NONE = "no-backpressure"
    FORWARDING = "forwarding"  # in and out full: held back, passing it upstream
    MAY_BE_SOURCE = "may-be-source"
    MAY_CAUSE = "may-cause"
    TEMPORARY = "temporary"
    UNEXPECTED = "unexpected"  # exclusive full while floating free
    NETWORK = "potential-network"
    MOST_CHANNELS = "most-channels"
    SOME_CHANNELS = "some-channels"
    MOST_CHANNELS_LATER = "most-channels-later"
    SOME_CHANNELS_LATER = "some-channels-later"


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
    pool_meaning: BufferMeaning
    channels_sign: str | None
    channels_meaning: BufferMeaning | None


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
    notes: list[Note] = field(default_factory=list)
    # The 2019 post's buffer tables per subtask with remote inputs, and per-task throughput.
    buffers: list[BufferReading] = field(default_factory=list)
    throughput: list[ThroughputFacts] = field(default_factory=list)

    @property
    def bottlenecks(self) -> list[Finding]:
        return [f for f in self.findings if f.is_bottleneck]
