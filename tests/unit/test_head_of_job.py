"""Slow without backpressure: the first task at its limit, the sources' own view of their
input, and event time held back by an idle partition, on recordings of real lab jobs."""

from __future__ import annotations

import subprocess
import sys

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Cause, Verdict
from flowscope.render import words
from flowscope.sampling import load_recording
from tests.conftest import fixture_path


def diagnosed(name: str):
    graph, samples = load_recording(fixture_path(name))
    return diagnose(graph, samples)


def test_a_chained_cpu_heavy_source_is_the_jobs_limit_without_backpressure():
    d = diagnosed("head-cpu")
    assert d.verdict == Verdict.LIMITED
    assert all((t.backpressured or 0.0) <= 0.1 for t in d.tasks)
    (f,) = d.bottlenecks
    assert f.at_head and f.cause == Cause.COMPUTE_BOUND
    assert f.vertex_name == "Source: gen -> enrich"
    # The chained operator and the user method that burn the time, from the flame graph.
    assert "com.acme.Enricher.lookup" in words.summary(f) and "operator enrich" in words.summary(f)
    assert "Nothing is backpressured because the limit is the first task" in words.summary(f)
    said = [words.action(a, f) for a in f.actions]
    assert any("emits" in a and "records/s at full load" in a for a in said)


def test_a_chained_blocking_source_is_off_cpu_at_the_head():
    d = diagnosed("head-offcpu")
    assert d.verdict == Verdict.LIMITED
    (f,) = d.bottlenecks
    assert f.at_head and f.cause == Cause.OFF_CPU
    assert "com.acme.Enricher.callExternalService" in words.summary(f)


def test_a_growing_backlog_says_the_job_falls_behind_and_the_splits_cap_the_parallelism():
    d = diagnosed("backlog")
    assert d.verdict == Verdict.LIMITED
    (behind,) = [f for f in d.findings if f.cause == Cause.FALLING_BEHIND]
    ev = {e.metric: e.value for e in behind.evidence}
    assert ev["pending_growth_per_s"] > 0 and ev["pending_records"] > 0
    (limit,) = d.bottlenecks
    plan = limit.actions[0]
    # 1500 records/s arrive; the head emits at most ~500/s per subtask: more than 2 subtasks
    # are needed, and the source has 2 splits.
    assert plan.parallelism[limit.vertex_name] > 2
    text = words.action(plan, limit)
    assert "2 splits" in text and "will not help" in text


def test_an_idle_partition_is_named_with_the_event_time_it_holds_back():
    d = diagnosed("idle-partition")
    assert d.verdict == Verdict.HEALTHY and d.bottlenecks == []
    (f,) = [f for f in d.findings if f.cause == Cause.IDLE_SOURCE]
    assert "split 3" in words.summary(f) and "withIdleness" in words.action(f.actions[0], f)
    window = next(t for t in d.tasks if t.name == "window")
    source = next(t for t in d.tasks if t.name == "Source: queue")
    # The window's input watermark waits for the idle split; the wall clock runs on.
    assert window.watermark_lag_s is not None and window.watermark_lag_s > 20
    assert source.watermark_lag_s is not None


def test_headroom_at_the_head_is_healthy():
    d = diagnosed("headroom")
    assert d.verdict == Verdict.HEALTHY
    assert d.bottlenecks == [] and not any(f.at_head for f in d.findings)
    head = d.tasks[0]
    assert 0.4 < (head.busy or 0.0) < 0.9


def test_the_exit_code_tells_a_limited_job_from_a_healthy_one():
    def code(name: str) -> int:
        return subprocess.run([sys.executable, "-m", "flowscope.cli", "diagnose", "--from",
                               str(fixture_path(name))], capture_output=True).returncode

    assert code("head-offcpu") == 5
    assert code("headroom") == 0
