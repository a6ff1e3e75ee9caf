"""What the analysis returns: task states, findings with evidence, actions. Plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowscope.analysis.buffers import BufferReading, ThroughputFacts


class Level(StrEnum):
    """Flink's backpressure levels: OK <= 0.10 < LOW <= 0.5 < HIGH."""

    OK = "OK"
    LOW = "LOW"
    HIGH = "HIGH"
    UNKNOWN = "UNKNOWN"


LOW_THRESHOLD = 0.10
HIGH_THRESHOLD = 0.50


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
    SOURCE_BOUND = "source-bound"
    UNMEASURABLE = "unmeasurable"
    TRANSIENT = "transient"
    MOVING = "moving"
    NEAR_CAPACITY = "near-capacity"


class Verdict(StrEnum):
    HEALTHY = "healthy"
    BACKPRESSURED = "backpressured"
    UNKNOWN = "unknown"


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


@dataclass
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
    subtasks: list[SubtaskState]
    upstream: list[str]
    downstream: list[str]
    ship_strategies: list[str]


@dataclass
class Diagnosis:
    job_id: str
    job_name: str
    job_state: str
    t: float
    window_s: float
    uptime_s: float | None
    verdict: Verdict
    confidence: str  # "high" | "medium" | "low"
    tasks: list[TaskState]
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    # The 2019 post's buffer tables per subtask with remote inputs, and per-task throughput.
    buffers: list[BufferReading] = field(default_factory=list)
    throughput: list[ThroughputFacts] = field(default_factory=list)

    @property
    def bottlenecks(self) -> list[Finding]:
        return [f for f in self.findings if f.is_bottleneck]
