"""The recommended parallelism removes the backpressure in one step, on the real cluster.

The off-CPU scenario blocks 2 ms per record in enrich: adding subtasks adds capacity without
needing cores, so this holds on a 2-core machine too."""

from __future__ import annotations

import pytest

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Cause, Verdict
from flowscope.render import words
from flowscope.sampling import LiveSession, apply_stack_requests

pytestmark = pytest.mark.cluster
RATE = 1500  # the scenario's source rate


def settled(url, job_id, seconds=150.0):
    session = LiveSession(url, job_id)
    samples, d = [], None
    try:
        for graph, sample in session.samples(interval_s=1.0, duration_s=seconds):
            samples.append(sample)
            d = diagnose(graph, samples, target_rate=RATE)
            pending = apply_stack_requests(session, d)
            if (d.confidence == "high" and d.window_s >= 20 and not pending
                    and (sample.uptime_s or 0) > 40):
                break
    finally:
        session.close()
    return d


def test_recommended_parallelism_removes_the_backpressure(runner, lab_cluster):
    job = runner.submit("off-cpu", rate=str(RATE))
    try:
        before = settled(lab_cluster.url, job)
    finally:
        runner.cancel(job)
    (f,) = before.bottlenecks
    assert (f.vertex_name, f.cause) == ("enrich", Cause.OFF_CPU)
    plan = next(a.parallelism for a in f.actions if a.parallelism)
    assert set(plan) == {"enrich"}, plan
    assert plan["enrich"] > 2

    job = runner.submit("off-cpu", rate=str(RATE), **{"enrich-parallelism": str(plan["enrich"])})
    try:
        after = settled(lab_cluster.url, job)
    finally:
        runner.cancel(job)
    assert after.verdict == Verdict.HEALTHY, [words.summary(x) for x in after.findings]
    enrich = next(t for t in after.tasks if t.name == "enrich")
    assert enrich.parallelism == plan["enrich"]
    assert (enrich.busy or 0) < 0.9
    assert sum(t.records_out_per_s or 0 for t in after.tasks if t.name.startswith("Source")) > (
        0.9 * RATE)
