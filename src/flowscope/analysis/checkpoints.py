"""Checkpoints as evidence: how long barriers take to reach each task, and how long tasks align.

With aligned checkpoints a barrier travels with the records: behind a backpressured channel it
waits until every buffer before it is processed. The per-subtask details of a checkpoint give
`start_delay` (ms from the trigger until the first barrier reached the subtask) and
`alignment.duration` (ms from the first to the last barrier of its inputs). On a healthy job
both are milliseconds; under backpressure the start delay at and after the bottleneck grows to
seconds, and so does the checkpoint's end-to-end duration.

Pure: raw checkpoint responses (flowscope.flink.ondemand.CheckpointData) in, evidence out,
with what it shows as typed statements (render.words.profile words them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from flowscope.model import JobGraph

SLOW_BARRIER_MS = 1000.0  # a barrier this late (or an alignment this long) is not healthy


class CheckpointNote(StrEnum):
    """What a checkpoint's barriers show."""

    NOT_ACKNOWLEDGED = "not-acknowledged"  # in progress, a vertex has not acknowledged it
    BARRIER_TIMES = "barrier-times"  # how long it took and when its barrier reached a vertex
    BARRIERS_QUEUE = "barriers-queue"  # slowed: barriers wait behind backpressured buffers
    BARRIERS_FAST = "barriers-fast"  # barriers travel in milliseconds


@dataclass(frozen=True)
class NotAcknowledged:
    """A checkpoint in progress that no subtask of `waiting_at` has acknowledged yet."""

    kind: ClassVar[CheckpointNote] = CheckpointNote.NOT_ACKNOWLEDGED
    checkpoint: int
    running_ms: float  # how long it has run
    waiting_at: str  # the vertex
    reached: str | None  # the vertex its barrier reached last
    reached_after_ms: float | None  # ... this long after the trigger


@dataclass(frozen=True)
class BarrierTimes:
    """How long a checkpoint took (or has run) and when its barrier reached the last vertex."""

    kind: ClassVar[CheckpointNote] = CheckpointNote.BARRIER_TIMES
    checkpoint: int
    completed: bool
    end_to_end_ms: float | None
    reached: str  # the vertex its barrier reached last
    reached_after_ms: float  # trigger -> first barrier there
    aligned_ms: float | None  # first -> last barrier there


@dataclass(frozen=True)
class BarriersQueue:
    """Barriers or alignment took SLOW_BARRIER_MS or more: they queue behind backpressure."""

    kind: ClassVar[CheckpointNote] = CheckpointNote.BARRIERS_QUEUE


@dataclass(frozen=True)
class BarriersFast:
    """Barriers and alignment stayed under SLOW_BARRIER_MS."""

    kind: ClassVar[CheckpointNote] = CheckpointNote.BARRIERS_FAST


CheckpointStatement = NotAcknowledged | BarrierTimes | BarriersQueue | BarriersFast


@dataclass
class VertexCheckpoint:
    """One vertex in one checkpoint; times in ms, max over its acknowledged subtasks."""

    vertex_id: str
    vertex_name: str
    acknowledged: int
    subtasks: int
    end_to_end_ms: float | None
    start_delay_ms: float | None  # trigger -> first barrier at the subtask
    alignment_ms: float | None  # first -> last barrier of the subtask's inputs
    sync_ms: float | None
    async_ms: float | None
    unaligned: bool  # any subtask took an unaligned checkpoint

    @property
    def pending(self) -> bool:
        """No subtask has acknowledged yet (in a checkpoint still in progress)."""
        return self.subtasks > 0 and self.acknowledged == 0


@dataclass
class CheckpointEvidence:
    id: int
    status: str  # COMPLETED | IN_PROGRESS | FAILED
    end_to_end_ms: float | None
    vertices: list[VertexCheckpoint]
    slowest: VertexCheckpoint | None  # by barrier start delay
    slowed: bool  # barriers or alignment took longer than SLOW_BARRIER_MS
    waiting_at: VertexCheckpoint | None = None  # in progress: the first vertex not through yet
    statements: list[CheckpointStatement] = field(default_factory=list)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and f >= 0 else None


def _max(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return max(vals) if vals else None


def vertex_checkpoint(vertex_id: str, name: str, body: Mapping[str, Any]) -> VertexCheckpoint:
    """One `/checkpoints/details/:id/subtasks/:vid` response, reduced to its maxima."""
    subs = [s for s in body.get("subtasks") or [] if s.get("status") == "completed"]
    return VertexCheckpoint(
        vertex_id=vertex_id, vertex_name=name, acknowledged=len(subs),
        subtasks=int(body.get("num_subtasks", len(body.get("subtasks") or [])) or 0),
        end_to_end_ms=_max([_num(s.get("end_to_end_duration")) for s in subs]),
        start_delay_ms=_max([_num(s.get("start_delay")) for s in subs]),
        alignment_ms=_max([_num((s.get("alignment") or {}).get("duration")) for s in subs]),
        sync_ms=_max([_num((s.get("checkpoint") or {}).get("sync")) for s in subs]),
        async_ms=_max([_num((s.get("checkpoint") or {}).get("async")) for s in subs]),
        unaligned=any(bool(s.get("unaligned_checkpoint")) for s in subs),
    )


def checkpoint_evidence(
    graph: JobGraph,
    details: Mapping[int, Mapping[str, Any]],
    subtasks: Mapping[int, Mapping[str, Mapping[str, Any]]],
) -> list[CheckpointEvidence]:
    """Per fetched checkpoint (newest first): per-vertex barrier delay and alignment, the
    vertex the barrier reached last, and whether backpressure slowed the checkpoint. A
    checkpoint in progress for less than SLOW_BARRIER_MS is left out."""
    out = []
    for cp_id in sorted(details, reverse=True):
        detail = details[cp_id]
        vertices = [
            vertex_checkpoint(v.id, v.name, subtasks.get(cp_id, {}).get(v.id) or {})
            for v in graph.topological()
        ]
        timed = [v for v in vertices if v.start_delay_ms is not None]
        slowest = max(timed, key=lambda v: v.start_delay_ms or 0.0) if timed else None
        aligned = _max([v.alignment_ms for v in vertices])
        slowed = bool(
            (slowest and (slowest.start_delay_ms or 0) >= SLOW_BARRIER_MS)
            or (aligned or 0) >= SLOW_BARRIER_MS
        )
        if detail.get("status") == "IN_PROGRESS" and (
            _num(detail.get("end_to_end_duration")) or 0.0) < SLOW_BARRIER_MS:
            continue  # just triggered: says nothing yet
        ev = CheckpointEvidence(
            id=int(cp_id), status=str(detail.get("status", "")),
            end_to_end_ms=_num(detail.get("end_to_end_duration")), vertices=vertices,
            slowest=slowest, slowed=slowed,
        )
        if ev.status == "IN_PROGRESS":
            ev.waiting_at = next((v for v in vertices if v.pending), None)
        if ev.waiting_at is not None:
            ev.slowed = True  # in progress for SLOW_BARRIER_MS at least, and not through
        ev.statements = _statements(ev)
        out.append(ev)
    return out


def _statements(ev: CheckpointEvidence) -> list[CheckpointStatement]:
    """What one checkpoint shows: where its barrier is (or how long it took), then whether
    backpressure slowed it."""
    slowest = ev.slowest
    if ev.waiting_at is not None:
        return [NotAcknowledged(
            ev.id, ev.end_to_end_ms or 0.0, ev.waiting_at.vertex_name,
            slowest.vertex_name if slowest else None,
            (slowest.start_delay_ms or 0.0) if slowest else None), BarriersQueue()]
    if slowest is None:
        return []
    return [
        BarrierTimes(ev.id, ev.status == "COMPLETED", ev.end_to_end_ms, slowest.vertex_name,
                     slowest.start_delay_ms or 0.0, slowest.alignment_ms),
        BarriersQueue() if ev.slowed else BarriersFast(),
    ]
