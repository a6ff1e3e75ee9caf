"""The array path (`analysis.columnar`) gives the floats of the per-subtask path.

Big jobs are folded over arrays of counters; every job goes through them for its timeline.
These tests replay real recordings (every poll read subtask by subtask, and again with the
gauges read aggregated, as a big job is polled) and compare each subtask's window and each
task's state, field by field, with what `window.subtask_window` makes of the same samples.
"""

from __future__ import annotations

import dataclasses
import math
from itertools import pairwise

import pytest

from flowscope.analysis import columnar, timeline
from flowscope.analysis.engine import diagnose
from flowscope.analysis.locate import task_states
from flowscope.analysis.window import distinct_snapshots, subtask_windows
from flowscope.flink import rest
from flowscope.model import JobGraph, Sample
from flowscope.sampling import ReplaySession
from tests.conftest import fixture_path

FIXTURES = ["skew", "slow-subtask", "window", "sql-nan", "head-cpu", "network", "gc"]


def _replay(name: str, detail: set[str] | None) -> tuple[JobGraph, list[Sample]]:
    """Every poll of a recording, its gauges read as `detail` says (None: all one by one)."""
    session = ReplaySession(fixture_path(name))
    samples = []
    try:
        for poll in session.polls:
            session._transport.poll_id, session._t = poll.id, poll.t
            graph, sample = session.source.poll(session.job_id, detail=detail)
            samples.append(sample)
    finally:
        session.close()
    return graph, samples


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("tier", ["aggregated", "around-the-root", "one-by-one"])
def test_windows_over_arrays_are_the_per_subtask_windows(name: str, tier: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Around the root, one telling subtask read one by one and its peers with counters only,
    # as in a vertex of thousands of subtasks.
    monkeypatch.setattr(rest, "DETAIL_SUBTASKS", 1)
    graph, probe = _replay(name, None)
    detail: set[str] | None = None
    if tier == "aggregated":
        detail = set()
    elif tier == "around-the-root":
        roots = [f.vertex_id for f in diagnose(graph, probe).bottlenecks if f.vertex_id]
        detail = set(roots[:1]) or {graph.vertices[-1].id}
    graph, samples = _replay(name, detail) if detail is not None else (graph, probe)
    recent = distinct_snapshots(samples[-12:])
    fast, slow = columnar.subtask_windows(recent), subtask_windows(recent)
    assert list(fast) == list(slow)
    if tier == "around-the-root":
        (vid,) = detail
        kinds = {s.gauged for s in samples[-1].subtasks[vid]}
        assert kinds == ({True, False} if len(samples[-1].subtasks[vid]) > 1 else {True})
    compared = 0
    for vid, ws in slow.items():
        assert len(fast[vid]) == len(ws)
        for f, s in zip(fast[vid], ws, strict=True):
            for fld in dataclasses.fields(s):
                assert _same(getattr(f, fld.name), getattr(s, fld.name)), (vid, s.index, fld.name)
            compared += 1
    assert compared == sum(len(subs) for subs in samples[-1].subtasks.values())


@pytest.mark.parametrize("name", FIXTURES)
def test_timeline_steps_over_arrays_are_the_per_subtask_states(name: str) -> None:
    graph, samples = _replay(name, None)
    snaps = distinct_snapshots([s for s in samples if s.job_state == "RUNNING"])
    steps = timeline.task_timeline(graph, snaps)
    assert len(steps) == len(snaps) - 1 >= 3
    for step, (before, after) in zip(steps, pairwise(snaps), strict=True):
        slow = {t.vertex_id: t for t in task_states(
            graph, subtask_windows([before, after], states_only=True))}
        for vid, t in step.tasks.items():
            ref = slow[vid]
            for fld in ("busy", "backpressured", "idle", "records_in_per_s",
                        "records_out_per_s", "true_rate_per_subtask", "level"):
                assert _same(getattr(t, fld), getattr(ref, fld)), (vid, fld)
            # The subtasks' states are made when read; buffer usages are the window's.
            assert len(t.subtasks) == len(ref.subtasks)
            for a, b in zip(t.subtasks, ref.subtasks, strict=True):
                for fld in ("index", "taskmanager", "busy", "backpressured", "idle",
                            "records_in_per_s", "records_out_per_s", "basis"):
                    assert _same(getattr(a, fld), getattr(b, fld)), (vid, b.index, fld)
            hot = columnar.hottest(t.subtasks)
            ref_hot = columnar.hottest(list(ref.subtasks))
            assert (hot and hot.index) == (ref_hot and ref_hot.index)


def test_a_poll_of_the_same_snapshot_shares_the_subtasks_and_their_arrays() -> None:
    graph, samples = _replay("skew", None)
    pairs = list(pairwise(samples))
    repeats = [(a, b) for a, b in pairs if distinct_snapshots([a, b]) == [a]]
    moved = [(a, b) for a, b in pairs if len(distinct_snapshots([a, b])) == 2]
    assert repeats and moved
    vid = graph.vertices[-1].id
    shared = 0
    for a, b in repeats:
        if b.subtasks == a.subtasks:  # a NaN anywhere keeps a sample's own copy
            assert b.share_subtasks_of(a)
            assert b.subtasks is a.subtasks and b.columns(vid) is a.columns(vid)
            shared += 1
    assert shared
    for a, b in moved:
        kept = b.subtasks
        assert not b.share_subtasks_of(a) and b.subtasks is kept
