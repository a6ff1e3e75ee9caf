"""The evidence a judgement is made of: one model, whatever filled it.

Per task: busy / backpressured / idle as Flink's UI folds them, the spread over its subtasks
(how many are hot, the least busy, the mean), the telling subtasks (the hottest, the hot ones,
the ones that cost most per record) against the medians of their peers, records and their
shares, where the busy subtasks run, the stack samples' on-/off-CPU split, the exchange's
buffer gauges and the source's own metrics. Per job: the TaskManagers' CPU and GC, the history
of where the bottleneck was, and what the data could not say.

Three adapters fill it: `analysis.gather` from a window of REST polls or Prometheus steps (every
subtask's series), and `flink.fleet` from the aggregates PromQL computes server-side for every
job of a fleet at once. The rules (`analysis.rules`, `analysis.causes`) read nothing else, so
a fleet row says what `diagnose` says wherever the evidence is the same; a field left None is
evidence not had, and the rule that needs it says "unknown" rather than guess. Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flowscope.analysis.findings import (
    RELATIVE_HOT,
    BufferReading,
    CpuSplit,
    Note,
    StackUnavailable,
    TaskManagerFacts,
    TaskState,
    ThroughputFacts,
)
from flowscope.analysis.flame import FrameCounts
from flowscope.analysis.temporal import TemporalView
from flowscope.model import JobException, JobGraph

__all__ = ["RELATIVE_HOT", "Checkpointing", "Exchange", "JobEvidence", "Loads", "Peers",
           "Quality", "Restarts", "SourceInput", "StateAccess", "SubtaskFacts",
           "TaskCheckpoints", "TaskEvidence", "Watermarks"]

# Below this busy ratio a subtask's records per busy second are not extrapolated.
MIN_BUSY_FOR_RATE = 0.05


@dataclass(frozen=True, slots=True)
class SubtaskFacts:
    """One telling subtask over the window. Ratios 0..1; `load_per_s` its records in per
    second (out, for a task that takes none in); `cost_s` its busy seconds per record (since
    the job started when its peers took no records in the window: `Peers.starved`)."""

    index: int
    taskmanager: str
    busy: float | None
    backpressured: float | None = None
    load_per_s: float | None = None
    cost_s: float | None = None

    @property
    def true_rate(self) -> float | None:
        """Records per second of busy time (DS2's true processing rate)."""
        if not self.load_per_s or not self.busy or self.busy < MIN_BUSY_FOR_RATE:
            return None
        return self.load_per_s / self.busy


@dataclass(frozen=True, slots=True)
class Peers:
    """The subtasks other than the hottest one: medians over those that measured each value."""

    busy_median: float | None
    load_median: float | None  # records/s
    cost_median: float | None  # busy s per record
    starved: bool = False  # none took a record in the window: costs are since the start


@dataclass(frozen=True, slots=True)
class Loads:
    """How a task's records are spread over its subtasks (records/s)."""

    total: float
    count: int  # subtasks counted
    busiest_index: int  # the subtask that takes the most
    busiest: float

    @property
    def imbalance(self) -> float | None:
        """The busiest subtask's records over a fair share (None without records)."""
        return self.busiest / (self.total / self.count) if self.total > 0 and self.count else None


@dataclass(frozen=True, slots=True)
class Exchange:
    """A task's network buffers over the window: means over its subtasks (None: not read)."""

    out_pool: float | None  # outPoolUsage, may pass 1 (overdraft)
    in_pool: float | None  # inPoolUsage of remote channels
    bytes_in_remote_per_s: float | None
    in_pool_read: int = 0  # subtasks whose inPoolUsage was read
    taskmanagers: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceInput:
    """What one source reports of its input over the window (None: not reported)."""

    records_out_per_s: float  # what it emits now
    pending_records: float | None  # summed over subtasks
    pending_growth_per_s: float | None
    emit_lag_ms: float | None  # the slowest subtask's
    emit_lag_growth: float | None  # ms of lag gained per second
    paused_share: float | None  # split time paused by watermark alignment
    idle_ms: float | None  # the longest time a subtask received nothing
    idle_ratio: float | None


@dataclass(frozen=True)
class Watermarks:
    """A source's subtasks' output watermarks (epoch ms, None: none yet) and each subtask's
    splits' watermarks."""

    output: dict[int, float | None]
    splits: dict[int, dict[str, float | None]]


@dataclass(frozen=True)
class StateAccess:
    """A task's keyed state, as its backend reports it (None: not reported). Latencies are
    the sampled accesses' medians in ns (`state.latency-track.*`), the slowest subtask's and
    the fastest's; the block cache hit ratio over the window (RocksDB statistics)."""

    read_ns: float | None = None
    read_ns_fastest: float | None = None
    write_ns: float | None = None
    block_cache_hit_ratio: float | None = None
    live_bytes: float | None = None


@dataclass(frozen=True)
class TaskCheckpoints:
    """A task's part in the checkpoints read within the history (ms, the longest over its
    subtasks and those checkpoints): the synchronous phase (on the task thread: it takes no
    records meanwhile), the barrier alignment and the barrier's start delay."""

    sync_ms: float | None = None
    alignment_ms: float | None = None
    start_delay_ms: float | None = None
    checkpoints: int = 0  # checkpoints read with this task's details


@dataclass
class TaskEvidence:
    """One task (job vertex) over the window. `state` as Flink's UI folds its subtasks (ratios
    the max, rates the sum); the rest is what the cause rules compare."""

    state: TaskState
    takes_input: bool  # it has inputs: its load is records in (else records out)
    measured: int = 0  # subtasks with a busy ratio
    hot: int = 0  # subtasks busy >= max(BUSY_HOT, RELATIVE_HOT x the busiest)
    busy_min: float | None = None
    busy_avg: float | None = None
    backpressured_avg: float | None = None
    # Every subtask reports busy time as NaN (legacy and some SQL sources): not measurable.
    busy_unmeasured: bool = False
    hottest: SubtaskFacts | None = None
    hot_subtasks: tuple[SubtaskFacts, ...] = ()  # in index order
    busiest: tuple[SubtaskFacts, ...] = ()  # the few busiest, busiest first: shown as evidence
    # The subtasks that cost at least RELATIVE_HOT of the top busy time per record.
    costly: tuple[SubtaskFacts, ...] = ()
    peers: Peers | None = None
    loads: Loads | None = None
    # The hot subtasks' busy ratios summed per TaskManager: core-equivalents of work there.
    busy_by_tm: dict[str, float] = field(default_factory=dict)
    # The busiest of its subtasks on each TaskManager (ratio 0..1).
    busy_on_tm: dict[str, float] = field(default_factory=dict)
    stacks: CpuSplit | StackUnavailable | None = None
    exchange: Exchange | None = None
    source: SourceInput | None = None
    watermarks: Watermarks | None = None
    # A source's records emitted per busy second, the mean over its subtasks; its splits.
    head_rate: float | None = None
    splits: float | None = None
    fires_timers: bool = False
    # Subtasks that report busy time but no record rate yet.
    rates_missing: tuple[int, ...] = ()
    # What the stack samples show beyond on- or off-CPU: Async I/O queue waits, checkpoint
    # sync phases, state backend frames (analysis.flame.FrameCounts); None: no stacks.
    frames: FrameCounts | None = None
    checkpoints: TaskCheckpoints | None = None
    state_access: StateAccess | None = None

    @property
    def vertex_id(self) -> str:
        return self.state.vertex_id

    @property
    def name(self) -> str:
        return self.state.name


@dataclass(frozen=True)
class Restarts:
    """How often the job failed and restarted within the history."""

    count: int  # restarts seen
    span_s: float  # the history they were seen in
    attempt: int  # the newest execution attempt
    failures: int = 0  # failures of the exception history within the span
    root: JobException | None = None  # the newest failure (None: the history was not read)


@dataclass(frozen=True)
class Checkpointing:
    """The job's checkpoints within the history: how it checkpoints, how many completed and
    failed, the newest failure's reason, and how the size changed."""

    interval_ms: float | None = None
    timeout_ms: float | None = None
    unaligned: bool | None = None
    completed: int = 0
    failed: int = 0
    expired: int = 0  # failures that ran out of time (the timeout)
    failure: str = ""  # the newest failure's reason
    end_to_end_ms: float | None = None  # the newest completed checkpoint's duration
    state_bytes: float | None = None  # the newest completed checkpoint's full state
    growth: float | None = None  # its state over the oldest's within the history (x)


@dataclass
class Quality:
    """What limits how far the window can be trusted."""

    startup: bool = False  # some subtasks still report Flink's start-up values
    gauges_only: bool = False  # no counter deltas at all: ratios are Flink's 60 s gauges
    mixed_basis: bool = False  # some subtasks have counter deltas, some only gauges
    io_incomplete: tuple[str, ...] = ()  # subtasks whose I/O counters Flink marks incomplete
    attempt: int = 0  # the newest restart attempt seen


@dataclass
class JobEvidence:
    """One job over one window, as the rules read it. `graph` is None when the edges are not
    known (a fleet scan of a Prometheus store): the bottleneck is then located from the time
    metrics alone. `history` (analysis.temporal.TemporalView) says where the bottleneck was
    in each interval; None when not read."""

    job_id: str
    job_name: str
    job_state: str
    t: float  # epoch s
    window_s: float  # what the counters cover
    uptime_s: float | None
    tasks: dict[str, TaskEvidence]  # sources first
    graph: JobGraph | None = None
    taskmanagers: dict[str, TaskManagerFacts] = field(default_factory=dict)
    history: TemporalView | None = None
    quality: Quality = field(default_factory=Quality)
    # What the reading said of itself (which vertices were read one by one, ...).
    notes: list[Note] = field(default_factory=list)
    restarts: Restarts | None = None
    checkpointing: Checkpointing | None = None
    storage: str = ""  # the checkpoint storage's class, where the job's config says
    # The 2019 post's buffer tables and per-task throughput, where the gauges were read.
    readings: list[BufferReading] = field(default_factory=list)
    throughput: list[ThroughputFacts] = field(default_factory=list)

    @property
    def states(self) -> dict[str, TaskState]:
        return {vid: t.state for vid, t in self.tasks.items()}
