"""What the collector reads besides the records, replayed from real Flink 2.3 runs of the lab's
scenarios: the checkpoint history, config and per-subtask details, the exception history, the
state backend's metrics, and the stacks of an Async I/O operator at capacity, a blocking
snapshot and RocksDB state access."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from flowscope.analysis.flame import summarise
from flowscope.flink.jobstate import CHECKPOINT_REQUESTS_PER_POLL
from flowscope.model import JobGraph, Quantity, Sample
from flowscope.recording import Recording
from flowscope.sampling import load_recording
from tests.conftest import fixture_path


def replay(name: str) -> tuple[JobGraph, list[Sample]]:
    return load_recording(fixture_path(name))


def vertex_id(graph: JobGraph, name: str) -> str:
    v = graph.by_name(name)
    assert v is not None, [x.name for x in graph.vertices]
    return v.id


def flame_summaries(graph: JobGraph, samples: list[Sample], name: str, kind: str):
    vid = vertex_id(graph, name)
    seen = {}
    for s in samples:
        view = s.flamegraphs.get(vid, {}).get(kind)
        if view is not None and view.status == "ready":
            seen[view.end_timestamp_ms] = summarise(view, name, vid)
    assert seen, f"no ready {kind} flame graph of {name}"
    return list(seen.values())


def test_checkpoint_config_and_history_are_read():
    _graph, samples = replay("checkpoint-stall")
    last = samples[-1].checkpoints
    assert last.config is not None
    assert last.config.interval_ms == 5000
    assert last.config.storage == "JobManagerCheckpointStorage"
    assert last.config.tolerable_failures == 0
    assert 5 <= len(last.history) <= 10  # Flink keeps 10 by default
    assert [c.id for c in last.history] == sorted((c.id for c in last.history), reverse=True)
    done = [c for c in last.history if c.status == "COMPLETED"]
    assert done and all(c.end_to_end_ms is not None and c.trigger_ms for c in done)
    assert last.latest("COMPLETED") is done[0]


def test_the_blocking_snapshot_shows_as_the_sync_phase_of_its_vertex():
    graph, samples = replay("checkpoint-stall")
    flush, parse = vertex_id(graph, "flush"), vertex_id(graph, "parse")
    detailed = {c.id: c for s in samples for c in s.checkpoints.history if c.vertices}
    assert len(detailed) >= 5, sorted(detailed)
    for cp in detailed.values():
        v = cp.vertex(flush)
        assert v is not None and len(v.subtasks) == 2
        # snapshotState sleeps 3 s; every other vertex's sync phase takes milliseconds.
        assert v.sync_ms is not None and 2900 <= v.sync_ms <= 4000, v
        other = cp.vertex(parse)
        assert other is not None and (other.sync_ms or 0) < 500
        assert all(st.acknowledged and st.start_delay_ms is not None for st in v.subtasks)


def test_checkpoint_details_cost_a_few_requests_a_poll_and_each_checkpoint_once():
    path = fixture_path("checkpoint-stall")
    with Recording(path) as rec:
        per_poll = Counter()
        asked = Counter()
        for poll in rec.polls():
            paths = rec._paths_at(poll.id, "%/checkpoints/details/%")
            per_poll[poll.id] = len(paths)
            asked.update(paths)
    assert max(per_poll.values()) <= CHECKPOINT_REQUESTS_PER_POLL
    assert asked and max(asked.values()) == 1  # read once per checkpoint id


def test_a_replay_makes_the_recorded_requests(monkeypatch):
    """The reads follow the answers and the poll count only: a replay asks for what the live
    polls asked for, never a path the recording does not hold."""
    from flowscope.recording import RecordedTransport

    missing: list[str] = []
    handle = RecordedTransport.handle_request

    def spy(self, request):  # type: ignore[no-untyped-def]
        resp = handle(self, request)
        if resp.status_code == 404:
            missing.append(request.url.raw_path.decode())
        return resp

    monkeypatch.setattr(RecordedTransport, "handle_request", spy)
    for name in ("checkpoint-stall", "restart-loop", "state-access"):
        replay(name)
    assert missing == []


def test_a_restart_loop_shows_rising_attempts_and_its_exception_history():
    _graph, samples = replay("restart-loop")
    attempts = [s.max_attempt for s in samples]
    assert attempts == sorted(attempts) and attempts[-1] >= 10, attempts
    assert samples[-1].restarted_at is not None
    failures = samples[-1].failures
    assert failures is not None and len(failures.entries) >= 5
    newest = failures.entries[0]
    assert newest.name == "org.apache.flink.util.FlinkRuntimeException"
    assert "tolerable failure threshold" in newest.message
    assert newest.task == ""  # a global failure: the checkpoint coordinator's
    times = [e.timestamp_ms for e in failures.entries]
    assert times == sorted(times, reverse=True)
    # The exception history is read when the attempt rises, not with every poll.
    with Recording(fixture_path("restart-loop")) as rec:
        reads = sum(1 for p in rec.polls() if rec._paths_at(p.id, "%/exceptions%"))
    assert attempts[-1] <= reads < len(samples) // 2


def test_the_failing_checkpoints_name_the_vertex_that_did_not_acknowledge():
    graph, samples = replay("restart-loop")
    hoard = vertex_id(graph, "hoard")
    failed = [c for s in samples for c in s.checkpoints.history
              if c.status == "FAILED" and c.vertices]
    assert failed
    for cp in failed:
        assert cp.failure_message == "Asynchronous task checkpoint failed."
        unacked = [v.vertex_id for v in cp.vertices if v.acknowledged < v.parallelism]
        assert unacked == [hoard], cp
    restored = samples[-1].checkpoints
    assert restored.restored >= 10 and restored.failed > restored.completed


def test_async_wait_operator_at_capacity_waits_for_queue_slots():
    graph, samples = replay("async-capacity")
    for off in flame_summaries(graph, samples, "lookup", "off_cpu"):
        # The task thread yields in AsyncWaitOperator.addToWorkQueue: a mailbox wait by its
        # stack, counted apart so that it is not taken for idle time.
        assert off.frames.async_wait >= 0.95 * off.frames.working, off.frames
        assert off.frames.working >= 0.95 * off.samples
        assert off.frames.async_wait <= off.mailbox_samples
    on_cpu = flame_summaries(graph, samples, "lookup", "on_cpu")
    assert all(p.samples <= 10 for p in on_cpu)  # next to no on-CPU work


def test_rocksdb_frames_dominate_the_state_access_operator():
    graph, samples = replay("state-access")
    for on in flame_summaries(graph, samples, "count", "on_cpu"):
        assert set(on.frames.state) == {"rocksdb"}
        assert on.frames.state_samples >= 0.8 * on.samples, on.frames
    config = samples[-1].checkpoints.config
    assert config is not None and config.state_backend == "EmbeddedRocksDBStateBackend"


def test_state_backend_metrics_are_read_per_subtask():
    graph, samples = replay("state-access")
    count = vertex_id(graph, "count")
    subs = samples[-1].subtasks[count]
    assert len(subs) == 2
    for st in subs:
        v = st.values
        assert v[Quantity.STATE_KEYS] > 100_000  # millions of keys over two subtasks
        assert v[Quantity.STATE_BLOCK_CACHE_CAPACITY_BYTES] > 0
        assert v[Quantity.STATE_BLOCK_CACHE_MISSES] > 0 and v[Quantity.STATE_BLOCK_CACHE_HITS] > 0
        assert 0 < v[Quantity.STATE_READ_LATENCY_NS] <= v[Quantity.STATE_READ_LATENCY_P99_NS]
        assert 0 < v[Quantity.STATE_WRITE_LATENCY_NS] <= v[Quantity.STATE_WRITE_LATENCY_P99_NS]
    # Other vertices keep no keyed state: none of these quantities.
    parse = samples[-1].subtasks[vertex_id(graph, "parse")]
    assert not any(k.startswith("state_") for st in parse for k in st.values)


@pytest.mark.parametrize("name", ["skew", "window"])
def test_recordings_made_before_these_reads_replay_without_them(name):
    _graph, samples = replay(name)
    last = samples[-1]
    assert last.failures is None and last.checkpoints.config is None
    assert all(not c.vertices for c in last.checkpoints.history)
    assert last.checkpoints.completed > 0  # the overview, as before


def test_a_stalled_receiver_holds_its_sender_back_for_whole_seconds():
    graph, samples = replay("checkpoint-stall")
    parse = samples[-1].subtasks[vertex_id(graph, "parse")]
    flush = samples[-1].subtasks[vertex_id(graph, "flush")]
    # Flink's measurement spans about a second: the sender is held back all of it.
    assert all(st.values[Quantity.MAX_SOFT_BACKPRESSURE_MS] >= 900 for st in parse)
    assert all(st.values[Quantity.MAX_SOFT_BACKPRESSURE_MS] < 100 for st in flush)


def test_the_blocking_snapshot_shows_in_the_flame_graph():
    graph, samples = replay("checkpoint-stall")
    for off in flame_summaries(graph, samples, "flush", "off_cpu"):
        work = off.samples - off.mailbox_samples
        # Every sample that is not an idle mailbox wait is the sync phase (3 s of every 5 s).
        assert off.frames.checkpoint_sync >= 0.95 * work and work >= 0.4 * off.samples
        assert off.frames.async_wait == 0 and not off.frames.state
        assert "com.acme.SlowSnapshot.snapshotState" in [h.method for h in off.hot_frames]


def test_checkpoint_details_that_fail_are_asked_again_a_few_times_then_left(monkeypatch):
    from flowscope.flink.jobstate import CHECKPOINT_ATTEMPTS
    from flowscope.recording import RecordedTransport

    asked: Counter[str] = Counter()
    handle = RecordedTransport.handle_request

    def failing(self, request):  # type: ignore[no-untyped-def]
        path = request.url.raw_path.decode()
        if "/checkpoints/details/" in path:
            asked[path] += 1
            return httpx.Response(500, json={"errors": ["Internal server error."]},
                                  request=request)
        return handle(self, request)

    monkeypatch.setattr(RecordedTransport, "handle_request", failing)
    _graph, samples = replay("checkpoint-stall")
    # One attempt a poll (a request the poll can do without), on CHECKPOINT_ATTEMPTS polls.
    assert len(asked) >= 5 and set(asked.values()) == {CHECKPOINT_ATTEMPTS}
    assert not any("/subtasks/" in p for p in asked)
    assert not any(c.vertices for s in samples for c in s.checkpoints.history)
    assert samples[-1].checkpoints.config is not None  # the rest of the poll stands
    assert not any("checkpoint" in w for s in samples for w in s.warnings)
