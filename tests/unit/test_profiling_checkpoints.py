"""Checkpoint barrier delays as evidence, from checkpoint details of a real cluster."""

from __future__ import annotations

from flowscope.analysis.checkpoints import (
    SLOW_BARRIER_MS,
    CheckpointNote,
    NotAcknowledged,
    checkpoint_evidence,
)
from flowscope.flink.ondemand import fetch_checkpoints
from tests.profiling_fixtures import load, replay_polls


def evidence(name: str):
    cap = load(name)
    r = replay_polls(cap)
    data = fetch_checkpoints(r.source, cap.job_id, [v.id for v in r.graph.vertices])
    return checkpoint_evidence(r.graph, data.details, data.subtasks)


def test_backpressure_delays_barriers():
    cps = evidence("compute-bound")
    assert cps and all(c.slowed for c in cps), [(c.id, c.statements) for c in cps]
    for c in cps:
        assert c.statements[-1].kind == CheckpointNote.BARRIERS_QUEUE
        if c.status == "COMPLETED":
            # The barrier was stuck behind the buffers queued in front of the bottleneck.
            assert c.slowest is not None and c.slowest.start_delay_ms >= SLOW_BARRIER_MS
            assert c.slowest.vertex_name in ("enrich", "out: Writer")
        else:
            # Still in progress: the bottleneck (or what follows it) has not acknowledged.
            assert c.waiting_at is not None
            assert c.waiting_at.vertex_name in ("enrich", "out: Writer")
            said = c.statements[0]
            assert isinstance(said, NotAcknowledged)
            assert said.waiting_at == c.waiting_at.vertex_name
            assert said.running_ms == c.end_to_end_ms >= SLOW_BARRIER_MS


def test_healthy_barriers_take_milliseconds():
    cps = evidence("healthy")
    assert cps and not any(c.slowed for c in cps)
    for c in cps:
        assert all((v.start_delay_ms or 0) < SLOW_BARRIER_MS for v in c.vertices)
        assert [s.kind for s in c.statements] == [CheckpointNote.BARRIER_TIMES,
                                                  CheckpointNote.BARRIERS_FAST]


def test_a_checkpoint_that_just_started_says_nothing():
    cap = load("compute-bound")
    r = replay_polls(cap)
    data = fetch_checkpoints(r.source, cap.job_id, [v.id for v in r.graph.vertices])
    young = {i for i, d in data.details.items() if d.get("status") == "IN_PROGRESS"
             and d.get("end_to_end_duration", 0) < SLOW_BARRIER_MS}
    shown = {c.id for c in checkpoint_evidence(r.graph, data.details, data.subtasks)}
    assert not (young & shown)
