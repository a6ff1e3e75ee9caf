"""`diagnose` and `profile` decide on-CPU vs off-CPU with one rule, and agree on real jobs."""

from __future__ import annotations

import pytest

from flowscope.analysis.cpu import split_work, work_of
from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import FLAME_GRAPH, Cause, CpuSplit, Work
from flowscope.analysis.flame import summarise
from flowscope.sampling import load_recording
from tests.conftest import fixture_path
from tests.profiling_fixtures import load, replay_profile

CLASS_OF = {Cause.COMPUTE_BOUND: Work.ON_CPU, Cause.OFF_CPU: Work.OFF_CPU}


@pytest.mark.parametrize("name", ["chained", "compute-bound", "join", "off-cpu", "slow-sink"])
def test_diagnose_and_profile_classify_a_recording_alike(name):
    """The bottleneck's cause in `diagnose` and the profile's class of the same flame graphs."""
    graph, samples = load_recording(fixture_path(name))
    d = diagnose(graph, samples)
    (f,) = [f for f in d.bottlenecks if f.cause in CLASS_OF]
    assert isinstance(f.cpu, CpuSplit) and f.cpu.source == FLAME_GRAPH
    views = next(s.flamegraphs[f.vertex_id] for s in reversed(samples)
                 if f.vertex_id in s.flamegraphs
                 and all(v.status == "ready" for v in s.flamegraphs[f.vertex_id].values()))
    v = graph.vertex(f.vertex_id)
    work = split_work(summarise(views["on_cpu"], v.name, v.id, v.operators),
                      summarise(views["off_cpu"], v.name, v.id, v.operators))
    assert work.kind == CLASS_OF[f.cause] == work_of(f.cpu)


@pytest.mark.parametrize("name", ["chained", "compute-bound", "off-cpu"])
def test_diagnose_and_profile_agree_on_a_captured_profile_run(name):
    """A whole `flowscope profile` run: its quick diagnosis took flame graphs of its own, the
    profile took fresh ones a moment later; both name the same class."""
    cap = load(name)
    _, report = replay_profile(name)
    assert report.target is not None and report.flame is not None
    assert report.target.vertex_name == cap.meta["target"]
    assert report.flame.work.kind == CLASS_OF[Cause(report.target.cause)]


def test_the_rule_counts_only_work_samples():
    assert work_of(CpuSplit(10, 90, FLAME_GRAPH, None)) == Work.OFF_CPU
    assert work_of(CpuSplit(90, 10, FLAME_GRAPH, None)) == Work.ON_CPU
    assert work_of(CpuSplit(50, 50, FLAME_GRAPH, None)) == Work.OFF_CPU
    # A thread waiting in its mailbox is neither: next to no work means waiting.
    assert work_of(CpuSplit(1, 1, FLAME_GRAPH, None, waiting=200)) == Work.WAITING
