"""The tune plan (flowscope.analysis.plan) on diagnoses of recorded lab runs: every vertex in
one step, the predicted throughput, and each refusal with its numbers."""

from __future__ import annotations

import dataclasses
from functools import cache

import pytest

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Diagnosis
from flowscope.analysis.flow import sustained_rate
from flowscope.analysis.plan import (
    PlanStatus,
    RefusalReason,
    TargetBasis,
    TunePlan,
    Unknown,
    plan,
)
from flowscope.analysis.resources import ClusterFacts, HostCpu, facts_of, host_of
from flowscope.sampling import load_recording
from tests.conftest import fixture_path

PLENTY = ClusterFacts(free_slots=100, total_slots=120, hosts=(HostCpu("h", 64.0, 1.0),))


@cache
def recorded(name: str, target: float | None = None) -> tuple[Diagnosis, ClusterFacts]:
    graph, samples = load_recording(fixture_path(name))
    return diagnose(graph, samples, target_rate=target), facts_of(samples, 60.0, 100, 120)


def reasons(p: TunePlan) -> set[RefusalReason]:
    return {r.reason for r in p.refusals}


def test_off_cpu_plan_scales_the_bottleneck_alone_to_carry_the_target():
    d, _ = recorded("off-cpu", 1500.0)
    p = plan(d, PLENTY, target_rate=1500.0)
    assert p.status == PlanStatus.CHANGE and p.applicable
    assert p.target_basis == TargetBasis.GIVEN and p.target_per_s == 1500.0
    (change,) = p.changes
    assert change.name == "enrich" and change.old == 2
    # Sized for 80% busy at the target: needs / (0.8 * true rate per subtask), rounded up.
    r = change.true_rate_per_subtask
    assert r is not None and change.need_per_s is not None
    assert change.new == -(-change.need_per_s // (0.8 * r))
    assert change.utilisation is not None and change.utilisation <= 0.8
    assert p.predicted_per_s == pytest.approx(1500.0)
    # The next bottleneck is the vertex that saturates first after the change, above target.
    assert p.next_bottleneck is not None and (p.next_ceiling_per_s or 0) > 1500.0
    assert p.slots_needed == change.new - 2


def test_the_job_carries_less_than_its_sources_emit_while_buffers_fill():
    d, _ = recorded("off-cpu", 1500.0)
    p = plan(d, PLENTY, target_rate=1500.0)
    assert p.current_per_s == pytest.approx(sustained_rate(d))
    assert p.emitted_per_s is not None and p.current_per_s is not None
    assert p.current_per_s < p.emitted_per_s  # the recording is 60 s old: buffers still fill
    sink = next(t for t in d.tasks if not t.downstream)
    assert p.current_per_s == pytest.approx(sink.records_in_per_s, rel=0.01)


def test_skew_is_refused_with_its_ceiling_and_force_sizes_it_as_if_spread():
    d, _ = recorded("skew", 1500.0)
    p = plan(d, PLENTY, target_rate=1500.0)
    assert p.status == PlanStatus.REFUSED and not p.applicable
    (skew,) = [r for r in p.refusals if r.reason == RefusalReason.DATA_SKEW]
    assert skew.vertex_name == "enrich" and skew.subtasks == (1,)
    assert skew.share is not None and 0.8 < skew.share < 0.95
    # The hot subtask's rate over its share: below the target, whatever the parallelism.
    assert skew.rate_per_s is not None and skew.ceiling_per_s is not None
    assert skew.ceiling_per_s == pytest.approx(skew.rate_per_s / skew.share, rel=0.01)
    assert skew.ceiling_per_s < 1500.0
    forced = plan(d, PLENTY, target_rate=1500.0, force=True)
    assert forced.status == PlanStatus.CHANGE and forced.forced
    enrich = next(v for v in forced.changes if v.name == "enrich")
    assert enrich.uneven > 1.5 and enrich.new > 2
    assert forced.predicted_per_s == pytest.approx(1500.0)  # what a spread load would reach


def test_a_source_running_one_subtask_per_split_is_refused():
    d, facts = recorded("backlog")
    p = plan(d, dataclasses.replace(PLENTY, splits=facts.splits))
    assert reasons(p) == {RefusalReason.SPLIT_CAP}
    (r,) = p.refusals
    assert r.vertex_name == "Source: queue -> enrich"
    assert (r.available, r.now) == (2, 2) and (r.needed or 0) > 2
    assert not any(v.changed for v in p.vertices)


def test_cores_are_the_limit_for_a_compute_bound_job_on_two_cores():
    d, facts = recorded("compute-bound", 3000.0)
    assert facts.hosts and all(h.cores == 2.0 for h in facts.hosts)
    p = plan(d, facts, target_rate=3000.0)
    (cpu,) = [r for r in p.refusals if r.reason == RefusalReason.SATURATED_CPU]
    assert cpu.available == 2.0 and cpu.needed is not None and cpu.needed > 0.9 * 2.0
    assert cpu.ceiling_per_s is not None and cpu.ceiling_per_s < 3000.0
    assert p.status == PlanStatus.REFUSED


def test_missing_slots_are_counted_and_never_forced():
    d, _ = recorded("off-cpu", 1500.0)
    tight = dataclasses.replace(PLENTY, free_slots=1)
    for force in (False, True):
        p = plan(d, tight, target_rate=1500.0, force=force)
        assert p.status == PlanStatus.REFUSED and not p.applicable
        (r,) = p.refusals
        assert r.reason == RefusalReason.MISSING_SLOTS
        assert r.needed == p.slots_needed and r.available == 1
        assert r.missing == p.slots_needed - 1


@pytest.mark.parametrize(("facts", "reason"), [
    (dict(failed_checkpoints=3, completed_checkpoints=0), RefusalReason.FAILING_CHECKPOINTS),
    (dict(restarted_in_window=True, attempt=2), RefusalReason.RESTARTING),
    (dict(all_running=False), RefusalReason.RESTARTING),
])
def test_a_job_restarting_or_failing_checkpoints_is_not_touched(facts, reason):
    d, _ = recorded("off-cpu", 1500.0)
    p = plan(d, dataclasses.replace(PLENTY, **facts), target_rate=1500.0, force=True)
    assert p.status == PlanStatus.REFUSED and reasons(p) == {reason}
    assert not p.changes


def test_a_vertex_at_its_max_parallelism_is_refused():
    d, _ = recorded("off-cpu", 1500.0)
    tasks = [dataclasses.replace(t, max_parallelism=t.parallelism) if t.name == "enrich" else t
             for t in d.tasks]
    p = plan(dataclasses.replace(d, tasks=tasks), PLENTY, target_rate=1500.0)
    (r,) = p.refusals
    assert (r.reason, r.vertex_name, r.available) == (RefusalReason.MAX_PARALLELISM,
                                                      "enrich", 2)
    assert r.ceiling_per_s is not None and r.ceiling_per_s < 1500.0


def test_a_healthy_job_needs_nothing():
    d, facts = recorded("healthy")
    p = plan(d, facts)
    assert p.status == PlanStatus.NOTHING and not p.changes and not p.refusals


def test_without_a_target_a_blocked_source_leaves_the_plan_unknown():
    d, facts = recorded("chained")
    p = plan(d, facts)
    assert (p.status, p.unknown) == (PlanStatus.UNKNOWN, Unknown.NO_TARGET)
    assert p.predicted_per_s is None


@pytest.mark.parametrize("name", ["off-cpu", "skew", "compute-bound", "slow-subtask",
                                  "chained", "join", "gc", "window", "healthy"])
def test_a_plan_never_lowers_a_parallelism(name):
    d, facts = recorded(name, 2000.0)
    p = plan(d, facts, target_rate=2000.0, force=True)
    assert all(v.new >= v.old for v in p.vertices)
    assert all(v.new <= v.max_parallelism for v in p.vertices if v.max_parallelism > 0)


def test_hosts_are_told_by_name_without_the_port():
    assert host_of("localhost:36667") == "localhost"
    assert host_of("10.0.3.7:6122") == "10.0.3.7"
    assert host_of("[fe80::1]:6122") == "fe80::1"
    assert host_of("tm-1") == "tm-1"
