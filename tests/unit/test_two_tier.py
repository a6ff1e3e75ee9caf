"""Big jobs: gauges read aggregated over subtasks except where the analysis looks closely,
recordings of subtask-by-subtask polls replayed through aggregated reads, and the memo that
spares the analysis repeated work."""

from __future__ import annotations

import gc
import math
import time

import httpx
import pytest

from flowscope.analysis import tiers
from flowscope.analysis.engine import diagnose
from flowscope.analysis.memo import IdentityMemo
from flowscope.api import load_recording
from flowscope.errors import FlowscopeError
from flowscope.model import Quantity as Q
from flowscope.recording import RecordedTransport, Recording, aggregate_items
from flowscope.render import words
from flowscope.sampling import LiveSession, ReplaySession
from tests.conftest import fixture_path


def test_aggregates_are_what_flinks_handler_answers():
    items = [{"id": "0.a", "value": "1.0"}, {"id": "1.a", "value": "3"},
             {"id": "0.b", "value": "2"}, {"id": "x", "value": "9"}]
    (a,) = aggregate_items(items, ["a"], "min,max,avg,sum,skew")
    assert a == {"id": "a", "min": 1.0, "max": 3.0, "avg": 2.0, "sum": 4.0, "skew": 50.0}
    assert aggregate_items(items, ["a"], "max") == [{"id": "a", "max": 3.0}]
    # A name that no subtask has empties the whole answer, as in Flink.
    assert aggregate_items(items, ["a", "missing"], "") == []


def test_a_recording_replays_through_aggregated_reads():
    session = ReplaySession(fixture_path("skew"))
    try:
        polls = session.polls
        poll = polls[len(polls) // 2]
        session._transport.poll_id, session._t = poll.id, poll.t
        _, full = session.source.poll(session.job_id)
        graph, tiered = session.source.poll(session.job_id, detail=set())
    finally:
        session.close()
    assert full.detail_vertices is None and not full.aggregates
    assert tiered.detail_vertices == ()
    for v in graph.vertices:
        pools = [s.values[Q.IN_POOL_USAGE] for s in full.subtasks[v.id]
                 if Q.IN_POOL_USAGE in s.values]
        agg = tiered.aggregates[v.id].get(Q.IN_POOL_USAGE)
        if pools and agg is not None:
            assert math.isclose(agg["max"], max(pools)) and math.isclose(agg["min"], min(pools))
        # Counters still come for every subtask, from the vertex detail.
        assert [s.index for s in tiered.subtasks[v.id]] == [s.index for s in full.subtasks[v.id]]
        assert all(s.finite(Q.BUSY_MS) is not None for s in tiered.subtasks[v.id])
        assert all(Q.IN_POOL_USAGE not in s.values for s in tiered.subtasks[v.id])
    d = diagnose(graph, [tiered])
    assert any(n.startswith("read subtask by subtask: no vertex") for n in words.notes(d.notes))


def test_small_jobs_are_read_in_detail_and_big_ones_around_the_bottleneck(monkeypatch):
    graph, samples = load_recording(fixture_path("skew"))
    d = diagnose(graph, samples)
    assert tiers.detail_vertices(d) is None
    monkeypatch.setattr(tiers, "DETAIL_ALL_UP_TO", 1)
    picked = tiers.detail_vertices(d)
    assert picked is not None
    (root,) = [f.vertex_id for f in d.bottlenecks]
    task = next(t for t in d.tasks if t.vertex_id == root)
    assert {root, *task.upstream, *task.downstream} <= picked


class Key:
    pass


def test_the_memo_forgets_what_was_collected():
    memo: IdentityMemo[int] = IdentityMemo(2)
    a, b = Key(), Key()
    calls = []
    assert memo.get((a, b), lambda: calls.append(1) or 1) == 1
    assert memo.get((a, b), lambda: calls.append(2) or 2) == 1
    assert calls == [1]
    del a
    gc.collect()
    c = Key()
    assert memo.get((c, b), lambda: 3) == 3
    assert len(memo) == 1  # the entry of the collected key is gone


def test_a_big_jobs_history_is_cut_to_the_memory_budget():
    from flowscope import budget
    from flowscope.model import Sample, SubtaskSample

    def sample(p: int, detail: tuple[str, ...] | None) -> Sample:
        return Sample(0.0, "j", "RUNNING", {v: [SubtaskSample(v, i) for i in range(p)]
                                            for v in ("a", "b")}, detail_vertices=detail)

    assert budget.history_samples(sample(4, None), 900) == 900
    big = budget.history_samples(sample(5_000, None), 900)
    tiered = budget.history_samples(sample(5_000, ("a",)), 900)
    assert big is not None and tiered is not None
    assert budget.MIN_SAMPLES <= big < tiered < 900
    assert big * 10_000 * budget.SUBTASK_DETAIL_BYTES <= budget.HISTORY_BYTES


def test_a_wide_vertex_in_detail_reads_its_most_telling_subtasks():
    from flowscope.flink.tiering import telling_subtasks
    from flowscope.model import SubtaskSample

    subs = [SubtaskSample("v", i, values={Q.BUSY_MS: float(i), Q.IDLE_MS: 100.0 - i,
                                          Q.BACKPRESSURED_MS: 0.0}) for i in range(100)]
    picked = [s.index for s in telling_subtasks(subs, 8)]
    assert len(picked) == 8 and picked == sorted(picked)
    assert 99 in picked and 0 in picked  # the busiest and the least busy


def test_aggregated_vertices_are_summarised_from_their_counters_alone():
    """Polls that read every gauge aggregated: the counters-only window of each subtask is
    the full window (the gauges it skips are not there), at a fraction of the cost."""
    from flowscope.analysis.window import subtask_window, subtask_windows

    session = ReplaySession(fixture_path("skew"))
    try:
        tiered = []
        for poll in session.polls[-12:]:
            session._transport.poll_id, session._t = poll.id, poll.t
            tiered.append(session.source.poll(session.job_id, detail=set())[1])
    finally:
        session.close()
    windows = subtask_windows(tiered)
    for vid, subs in windows.items():
        for w in subs:
            series = [st for s in tiered for st in s.subtasks[vid] if st.index == w.index]
            assert w == subtask_window(series), (vid, w.index)
    assert any(w.busy is not None and w.records_in_per_s for ws in windows.values() for w in ws)


def test_a_big_jobs_taskmanagers_are_read_aggregated_except_those_looked_at(monkeypatch):
    """On more TaskManagers than TM_DETAIL_ALL_UP_TO, a tiered poll reads one by one only the
    TaskManagers of the subtasks whose gauges it reads one by one, and the job's TaskManagers
    aggregated; GC in the aggregate makes the next poll read them all."""
    from flowscope.analysis.gather import gather
    from flowscope.flink import rest
    from flowscope.model import TmQuantity as TmQ

    monkeypatch.setattr(rest, "TM_DETAIL_ALL_UP_TO", 1)
    monkeypatch.setattr(rest, "DETAIL_SUBTASKS", 1)
    session = ReplaySession(fixture_path("skew"))
    try:
        poll = session.polls[len(session.polls) // 2]
        session._transport.poll_id, session._t = poll.id, poll.t
        graph, full = session.source.poll(session.job_id)
        enrich = graph.by_name("enrich")
        assert enrich is not None
        _, tiered = session.source.poll(session.job_id, detail={enrich.id})
        monkeypatch.setattr(rest, "TM_GC_LOOK_MS_PER_S", -1.0)  # any GC at all: look
        _, flagged = session.source.poll(session.job_id, detail={enrich.id})
        _, everyone = session.source.poll(session.job_id, detail={enrich.id})
    finally:
        session.close()
    assert len(full.taskmanagers) == 2 and full.taskmanagers_of_job == 2
    assert len(tiered.taskmanagers) == 1 and tiered.taskmanagers_of_job == 2
    (read,) = tiered.taskmanagers
    hot = {st.taskmanager_id for st in tiered.subtasks[enrich.id] if Q.IN_POOL_USAGE in st.values}
    assert hot == {read}
    loads = [tm.values[TmQ.CPU_LOAD] for tm in full.taskmanagers.values()]
    agg = tiered.taskmanager_aggregates[TmQ.CPU_LOAD]
    assert math.isclose(agg["max"], max(loads)) and math.isclose(agg["min"], min(loads))
    assert math.isclose(agg["avg"], sum(loads) / 2)
    note = words.notes(gather(graph, [tiered], window_s=60, history_s=60).notes)
    assert any("TaskManagers read one by one: 1 of 2" in n for n in note)
    # The poll after an aggregate with GC reads every TaskManager (and none aggregated).
    assert len(flagged.taskmanagers) == 1 and len(everyone.taskmanagers) == 2
    assert not everyone.taskmanager_aggregates


class SlowTransport(RecordedTransport):
    """The recorded answers, each `delay_s` late: a JobManager slower than the interval."""

    def __init__(self, recording: Recording, delay_s: float) -> None:
        super().__init__(recording)
        self.delay_s = delay_s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        time.sleep(self.delay_s)
        return super().handle_request(request)


def test_polls_slower_than_the_interval_get_the_time_they_need():
    """A poll cut short by its budget (the interval) gives the next poll twice the time: a big
    job's first polls, which list every vertex's metric names, once never completed and every
    later poll was cut at the interval too."""
    with Recording(fixture_path("skew")) as rec:
        transport = SlowTransport(rec, 0.03)
        transport.poll_id = rec.polls()[-1].id
        session = LiveSession("http://recorded:8081", "skew", transport=transport,
                              interval_s=0.2)
        cut = []  # per poll: failed or cut short (some vertex not read)
        try:
            for _ in range(8):
                try:
                    cut.append(bool(session.poll()[1].warnings))
                except FlowscopeError:
                    cut.append(True)
        finally:
            session.close()
    # (Not every later poll: a poll that takes twice its usual time is cut again, as it
    # should be on a loaded machine.)
    assert cut[0] and cut[2:].count(False) >= 4


@pytest.mark.parametrize("name", ["off-cpu", "compute-bound", "slow-sink", "join"])
def test_cpu_time_of_some_taskmanagers_judges_as_all_of_them(name, monkeypatch):
    """Without stack samples, on- or off-CPU is judged from the JVM CPU time of the busy
    subtasks' TaskManagers. A big job's poll reads only some of them one by one: judged on
    those, the verdict is the one all of them give (the recorded runs, one TaskManager of
    two kept), and the evidence says it is a sample."""
    from flowscope.analysis import causes

    graph, samples = load_recording(fixture_path(name))
    for s in samples:
        s.flamegraphs, s.thread_dumps = {}, {}
    (full,) = diagnose(graph, samples).bottlenecks
    assert any(e.metric == "cores_used" for e in full.evidence)
    kept = sorted(samples[-1].taskmanagers)[0]
    for s in samples:
        s.taskmanagers = {k: v for k, v in s.taskmanagers.items() if k == kept}
    # A small job whose TaskManager left: no judgement from what is left of them.
    (small,) = diagnose(graph, samples).bottlenecks
    assert not any(e.metric == "cores_used" for e in small.evidence)
    monkeypatch.setattr(causes, "SAMPLED_TMS_FROM", 1)
    (part,) = diagnose(graph, samples).bottlenecks
    assert part.cause == full.cause
    (ev,) = [e for e in part.evidence if e.metric == "cores_used"]
    assert "1 of the 2 TaskManagers" in words.why(ev)
