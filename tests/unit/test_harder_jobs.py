"""Right the first time on harder jobs: an alternation is not a steady bottleneck, barrier
alignment behind a slow subtask is not the network, an uneven load is not skew."""

from __future__ import annotations

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Cause, Confidence
from flowscope.sampling import load_recording
from tests.conftest import fixture_path


def test_an_expensive_window_and_its_downstream_take_turns():
    graph, samples = load_recording(fixture_path("window-map"))
    d = diagnose(graph, samples)
    (f,) = d.bottlenecks
    assert f.cause == Cause.MOVING and f.vertex_name == "window <-> enrich"
    assert any(e.metric == "period_s" for e in f.evidence)
    # Any earlier confident verdict already said the same (no steady bottleneck first).
    for n in range(5, len(samples)):
        early = diagnose(graph, samples[:n])
        if early.confidence == Confidence.HIGH:
            assert [(x.vertex_name, x.cause) for x in early.bottlenecks] == [
                ("window <-> enrich", Cause.MOVING)]


def test_a_slow_subtask_behind_barrier_alignment_is_one_finding_not_two():
    graph, samples = load_recording(fixture_path("slow-of-three"))
    d = diagnose(graph, samples)
    assert [(f.vertex_name, f.cause) for f in d.bottlenecks] == [("enrich", Cause.SLOW_INSTANCE)]
    assert not any(f.cause == Cause.NETWORK for f in d.findings)
    by_vertex = [f.vertex_id for f in d.bottlenecks]
    assert len(by_vertex) == len(set(by_vertex))


def test_an_uneven_python_udf_is_compute_bound_not_skew():
    graph, samples = load_recording(fixture_path("python-split"))
    d = diagnose(graph, samples)
    (f,) = d.bottlenecks
    assert f.cause == Cause.COMPUTE_BOUND, f.summary
    assert "not data skew" in f.summary and "Python" in f.summary
    # The partitioner sends 60% of the records to subtask 0: 1.2x a fair share, give or take.
    assert any(e.metric == "imbalance" and e.value >= 1.1 for e in f.evidence)
