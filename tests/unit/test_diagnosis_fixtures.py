"""Each recorded lab scenario replays to the injected bottleneck and cause."""

from __future__ import annotations

import pytest

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Cause, Verdict
from flowscope.api import load_recording
from flowscope.lab.scenarios import SCENARIOS
from flowscope.render import words
from tests.conftest import fixture_path, scenario_params

# Scenarios that need a namespace have tests of their own (test_network_fixture.py).
RECORDED = [s for s in SCENARIOS.values() if not s.needs_netns]


@pytest.mark.parametrize("scenario", scenario_params(RECORDED))
def test_recorded_scenario_gets_injected_verdict(scenario):
    graph, samples = load_recording(fixture_path(scenario.name))
    d = diagnose(graph, samples)
    assert d.confidence == "high", words.notes(d.notes)
    explained = [words.summary(f) for f in d.findings]
    assert d.verdict == scenario.expected_verdict, explained
    if scenario.bottleneck is None:
        assert d.bottlenecks == []
    else:
        located = [(f.vertex_name, f.cause) for f in d.bottlenecks]
        assert located == [(scenario.bottleneck, scenario.cause)], explained
    if scenario.also:
        assert any(f.cause == scenario.also for f in d.findings), explained


def test_sql_source_busy_nan_is_reported_unmeasurable():
    graph, samples = load_recording(fixture_path("sql-nan"))
    d = diagnose(graph, samples)
    unmeasurable = [f for f in d.findings if f.cause == Cause.UNMEASURABLE]
    assert unmeasurable and all(f.vertex_name.startswith("Source") for f in unmeasurable)
    source = next(t for t in d.tasks if t.name == unmeasurable[0].vertex_name)
    assert source.busy is None  # NaN is not turned into a number


@pytest.mark.parametrize("name", ["compute-bound", "chained", "sql-nan"])
def test_young_job_is_not_judged(name):
    """The first polls after submission carry Flink's start-up values: no verdict yet."""
    graph, samples = load_recording(fixture_path(name))
    young = [s for s in samples if s.uptime_s is not None and s.uptime_s < 8]
    assert young, "the recording should start right after submission"
    d = diagnose(graph, young)
    assert d.confidence == "low"
    assert d.verdict == Verdict.UNKNOWN


def test_every_task_level_is_max_over_subtasks():
    graph, samples = load_recording(fixture_path("skew"))
    d = diagnose(graph, samples)
    for t in d.tasks:
        bps = [s.backpressured for s in t.subtasks if s.backpressured is not None]
        assert t.backpressured == max(bps)


def test_recommended_parallelism_for_off_cpu_is_enough_for_the_offered_rate():
    graph, samples = load_recording(fixture_path("off-cpu"))
    d = diagnose(graph, samples, target_rate=1500)
    (f,) = d.bottlenecks
    plans = [a.parallelism for a in f.actions if a.parallelism]
    assert plans, [words.action(a, f) for a in f.actions]
    # 2 ms per record is at most 500 records/s per subtask: 1500/s at 80 % needs at least
    # 4 subtasks; parking overshoots, so the measured rate asks for a few more, not dozens.
    assert 4 <= plans[0]["enrich"] <= 6


def test_skew_says_more_parallelism_will_not_help():
    graph, samples = load_recording(fixture_path("skew"))
    d = diagnose(graph, samples)
    (f,) = d.bottlenecks
    text = " ".join(words.action(a, f) for a in f.actions)
    assert "will not help" in text
    assert not any(a.parallelism for a in f.actions)
