"""The thread-dump sampling monitor on thread dumps captured from a real cluster."""

from __future__ import annotations

import copy

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Level
from flowscope.analysis.profile import recent_backpressure
from flowscope.analysis.threads import (
    SATURATED,
    SameNameElsewhere,
    SoftBackpressureOnly,
    analyse_thread_dumps,
    thread_kind,
)
from flowscope.flink.stacks import parse_thread_dump
from tests.profiling_fixtures import load, replay_polls


def monitor(name: str, edit=None):
    cap = load(name)
    r = replay_polls(cap)
    graph, samples = r.graph, r.samples
    placement = {(vid, s.index): s.taskmanager_id
                 for vid, subs in samples[-1].subtasks.items() for s in subs}
    raw = list(cap.thread_dump_rounds())
    if edit:
        raw = edit(raw)
    rounds = [[th for tm, body in r for th in parse_thread_dump(body, tm)] for r in raw]
    metric, span = recent_backpressure(samples, diagnose(graph, samples))
    return graph, raw, analyse_thread_dumps(graph, rounds, metric_backpressured=metric,
                                            placement=placement, metric_window_s=span)


def test_task_threads_are_parsed_from_a_real_dump():
    cap = load("compute-bound")
    tm, body = next(cap.thread_dump_rounds())[0]
    threads = parse_thread_dump(body, tm)
    tasks = {t.task for t in threads}
    # Helper threads ("OutputFlusher for parse (1/2)#0", timers) are named after tasks too.
    assert tasks == {"Source: gen", "parse", "enrich", "out: Writer"}
    assert all(t.parallelism == 2 and t.subtask in (0, 1) and t.attempt == 0 for t in threads)
    assert {t.state for t in threads} <= {"RUNNABLE", "WAITING", "TIMED_WAITING", "BLOCKED"}
    for t in threads:
        assert t.frames[-1] == "java.lang.Thread.run"  # module prefix (java.base@17/) removed
        assert not any(f.startswith("app//") or "@" in f for f in t.frames)
    enrich = next(t for t in threads if t.task == "enrich")
    assert thread_kind(enrich) == "busy" and enrich.state == "RUNNABLE"
    parse = next(t for t in threads if t.task == "parse")
    assert thread_kind(parse) == "waiting"  # soft backpressure: a mailbox wait, no LocalBufferPool


def test_compute_bound_levels_agree_with_time_metrics():
    _, _, report = monitor("compute-bound")
    parse, enrich = report.task("parse"), report.task("enrich")
    assert parse is not None and enrich is not None
    assert parse.level == Level.HIGH and parse.metric_level == Level.HIGH and parse.agrees
    assert enrich.level == Level.OK and enrich.metric_level == Level.OK and enrich.agrees
    assert enrich.busy == 1.0
    # No sample was blocked in LocalBufferPool on Flink 2.3: the note says how waits count.
    assert report.hard_samples == 0
    assert SoftBackpressureOnly(SATURATED) in report.notes
    rows = {(s.vertex_name, s.index): s for s in report.subtasks}
    assert rows[("parse", 0)].saturated_receivers == ["enrich[0]", "enrich[1]"]
    assert rows[("out: Writer", 0)].backpressured == 0.0  # waits, but has no receiver


def test_healthy_job_is_ok_everywhere_and_agrees():
    _, _, report = monitor("healthy")
    assert [t.level for t in report.tasks] == [Level.OK] * 4
    assert all(t.agrees for t in report.tasks)
    assert report.rounds == load("healthy").meta["thread_dump_rounds"]


def test_samples_per_subtask_equal_rounds():
    _, raw, report = monitor("off-cpu")
    assert {s.samples for s in report.subtasks} == {len(raw)}
    assert len(report.subtasks) == 8


def test_threads_of_another_job_with_the_same_names_are_left_out():
    def duplicate_parse(raw):
        raw = copy.deepcopy(raw)
        for r in raw:
            for _, body in r:
                infos = body["threadInfos"]
                infos.extend(copy.deepcopy([i for i in infos
                                            if i["threadName"].startswith("parse (")]))
        return raw

    _, _, report = monitor("compute-bound", duplicate_parse)
    assert report.task("parse").level == Level.UNKNOWN
    assert SameNameElsewhere(("parse[0]", "parse[1]")) in report.notes
    assert report.task("enrich").level == Level.OK


def test_a_thread_on_the_wrong_taskmanager_is_not_this_jobs():
    def swap_taskmanagers(raw):
        tms = [tm for tm, _ in raw[0]]
        return [[(tms[1 - tms.index(tm)], body) for tm, body in r] for r in raw]

    _, _, report = monitor("compute-bound", swap_taskmanagers)
    assert report.subtasks == []


def test_thread_dumps_show_async_queue_waits_and_checkpoint_sync_phases():
    """What the stacks of an Async I/O operator at capacity and of a blocking snapshotState
    look like in thread dumps (threads.frame_counts), next to a compute-bound operator's."""
    from dataclasses import replace

    from flowscope.analysis.threads import frame_counts

    def counts(name: str, vertex: str):
        cap = load(name)
        r = replay_polls(cap)
        # Each round of dumps as a sample of the job's last poll (its subtasks' placement).
        rounds = [replace(r.samples[-1], thread_dumps={
            tm: parse_thread_dump(body, tm) for tm, body in raw})
            for raw in cap.thread_dump_rounds()]
        found = r.graph.by_name(vertex)
        assert found is not None
        return frame_counts(rounds, r.graph, found.id)

    lookup = counts("async-capacity", "lookup")
    assert lookup.samples >= 8 and lookup.async_wait >= 0.9 * lookup.working
    assert lookup.working >= 0.9 * lookup.samples  # by the mailbox alone, it read idle
    flush = counts("checkpoint-stall", "flush")
    assert flush.checkpoint_sync >= 0.8 * flush.working and flush.async_wait == 0
    enrich = counts("compute-bound", "enrich")
    assert enrich.async_wait == enrich.checkpoint_sync == 0 and not enrich.state
