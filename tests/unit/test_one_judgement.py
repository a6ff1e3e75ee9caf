"""One judgement for every source: each recorded scenario judged through every path it has data
for gets the same verdict, task(s) and cause, or says "unknown" where a path lacks the evidence.

- REST: `diagnose` over the REST recording (stack samples, buffer gauges, source metrics);
- Prometheus: `diagnose` over the history a real Prometheus scraped of the same run (no stack
  samples), for the runs recorded with Prometheus (tests/fixtures/prometheus);
- the fleet: the aggregates a fleet scan's queries compute (flink/fleetql.py: per task the
  busy spread, its hot subtasks and the medians of their peers, the TaskManagers' CPU and GC,
  where the bottleneck was at each step), folded here from the REST recording's window the way
  the queries fold a Prometheus store's series, read by flink/fleet.py's adapter into the same
  evidence, without the job graph and with it. No stack samples, no buffer gauges, no source
  metrics: the PromQL itself is checked on a real Prometheus (test_fleet.py, and live).
"""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from flowscope.analysis.engine import DEFAULT_HISTORY_S, DEFAULT_WINDOW_S, diagnose
from flowscope.analysis.findings import (
    BUSY_HOT,
    RELATIVE_HOT,
    Cause,
    Diagnosis,
    Verdict,
)
from flowscope.analysis.rules import judge
from flowscope.analysis.timeline import task_timeline
from flowscope.analysis.window import (
    SubtaskWindow,
    distinct_snapshots,
    subtask_windows,
    taskmanager_rates,
    window_samples,
)
from flowscope.api import load_recording
from flowscope.flink.fleet import TaskAnswers, _lifecycle, history_of, job_evidence
from flowscope.flink.promwindow import fit_to_graph
from flowscope.model import JobGraph, Sample
from flowscope.render import words
from tests.conftest import FIXTURES, fixture_path
from tests.prom_fixtures import FIXTURES as PROM_FIXTURES
from tests.prom_fixtures import prom_fixture

# Every recording of a lab run (the scenarios', and runs recorded for a case of their own).
RECORDED = sorted(p.name.removesuffix(".fsrec") for p in FIXTURES.glob("*.fsrec"))
WITH_PROMETHEUS = sorted(p.name.removesuffix(".json.xz")
                         for p in PROM_FIXTURES.glob("*.json.xz"))
# Causes told from what a task's threads do (stack samples) or from its checkpoints' details:
# a path without them says the coarser cause it can see, or `busy` (on- or off-CPU unknown).
COARSER = {
    Cause.COMPUTE_BOUND: {Cause.BUSY},
    Cause.OFF_CPU: {Cause.BUSY},
    # Waiting for a slot in its queue, or on the task thread in a snapshot: off the CPU.
    Cause.ASYNC_CAPACITY: {Cause.BUSY, Cause.OFF_CPU},
    Cause.CHECKPOINT_STALL: {Cause.BUSY, Cause.OFF_CPU},
    # The state backend's cost, or one instance's cache misses that make it the slow one.
    Cause.STATE_ACCESS: {Cause.BUSY, Cause.OFF_CPU, Cause.COMPUTE_BOUND, Cause.SLOW_INSTANCE},
}
MAX_HOT = 8


def signature(d: Diagnosis) -> tuple[Verdict, list[tuple[str | None, Cause]]]:
    return d.verdict, sorted((f.vertex_name, f.cause) for f in d.bottlenecks)


def agrees(reference: Diagnosis, other: Diagnosis) -> str | None:
    """Why `other` disagrees with `reference` (None: it agrees, or says it does not know)."""
    if other.verdict != reference.verdict:
        if other.verdict == Verdict.UNKNOWN:
            return None
        return f"verdict {other.verdict} where {reference.verdict}"
    mine = {f.vertex_name: f.cause for f in reference.bottlenecks}
    theirs = {f.vertex_name: f.cause for f in other.bottlenecks}
    if not theirs and mine and any(f.cause == Cause.TRANSIENT and f.vertex_id is None
                                   for f in other.findings):
        return None  # backpressure that nothing it read explains: said, not guessed
    if set(theirs) != set(mine):
        return f"bottlenecks {sorted(theirs)} where {sorted(mine)}"
    for name, cause in theirs.items():
        if cause != mine[name] and cause not in COARSER.get(mine[name], set()):
            return f"{name}: {cause} where {mine[name]}"
    return None


# -- the fleet's aggregates, folded from a window as flink/fleetql.py folds the series ---------

def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _load(w: SubtaskWindow) -> float | None:
    """fleetql._load: records in where there are any, else out."""
    if w.records_in_per_s:
        return w.records_in_per_s
    return w.records_out_per_s


def task_answers(name: str, ws: list[SubtaskWindow]) -> TaskAnswers:
    """What the fleet's instant queries answer of one task over the window."""
    measured = [w for w in ws if w.busy is not None]
    busy = [w.busy or 0.0 for w in measured]
    bar = max(BUSY_HOT, RELATIVE_HOT * max(busy)) if busy else 1.0
    hot = [w for w in measured if (w.busy or 0.0) >= bar]
    bps = [w.backpressured for w in ws if w.backpressured is not None]
    idles = [w.idle for w in ws if w.idle is not None]
    rin = [w.records_in_per_s for w in ws if w.records_in_per_s is not None]
    rout = [w.records_out_per_s for w in ws if w.records_out_per_s is not None]
    hottest = max(measured, key=lambda w: w.busy or 0.0, default=None)
    peers = [w for w in measured if w is not hottest]
    loads = [(w, x) for w in ws if (x := _load(w)) is not None]
    t = TaskAnswers(name=name, job_name="job")
    t.stats = {
        "subtasks": float(len(ws)),
        "busy_max": max(busy, default=None), "busy_min": min(busy, default=None),
        "busy_avg": statistics.mean(busy) if busy else None, "busy_hot": float(len(hot)),
        "bp_max": max(bps, default=None), "bp_avg": statistics.mean(bps) if bps else None,
        "idle_max": max(idles, default=None),
        "idle_avg": statistics.mean(idles) if idles else None,
        "rin_sum": sum(rin) if rin else None, "rout_sum": sum(rout) if rout else None,
        "peers_busy": _median([w.busy or 0.0 for w in peers]),
        "peers_load": _median([x for w in peers if (x := _load(w)) is not None]),
        "peers_cost": _median([(w.busy or 0.0) / x for w in peers if (x := _load(w))]),
        "peers_start": _median([w.cost_since_start_s for w in peers
                                if w.cost_since_start_s is not None]),
    }
    for w in sorted(hot, key=lambda w: -(w.busy or 0.0))[:MAX_HOT]:
        t.subtasks[w.index] = {"busy": w.busy, "tm": w.taskmanager_id,
                               "hot_bp": w.backpressured, "hot_rin": w.records_in_per_s,
                               "hot_rout": w.records_out_per_s,
                               "hot_start": w.cost_since_start_s}
    if loads:
        top, most = max(loads, key=lambda p: p[1])
        t.top_load = (top.index, most)
    for w in measured:
        tm = w.taskmanager_id
        t.busy_on_tm[tm] = max(t.busy_on_tm.get(tm, 0.0), w.busy or 0.0)
        if w in hot:
            t.busy_by_tm[tm] = t.busy_by_tm.get(tm, 0.0) + (w.busy or 0.0)
    return t


def recent_steps(graph: JobGraph, history: list[Sample]) -> dict[str, dict[str, Any]]:
    """What the fleet's range query answers of each task at each step of the history."""
    out: dict[str, dict[str, dict[float, float]]] = {}
    for step in task_timeline(graph, history):
        for vid, t in step.tasks.items():
            for stat, value in (("busy_max", t.busy), ("bp_max", t.backpressured)):
                if value is not None:
                    out.setdefault(vid, {}).setdefault(stat, {})[step.end] = value
    return out


def fleet_diagnosis(graph: JobGraph, samples: list[Sample], *, edges: bool) -> Diagnosis:
    """The job judged from the fleet's aggregates of its last minute."""
    recent = distinct_snapshots(window_samples(samples, DEFAULT_WINDOW_S))
    windows = subtask_windows(recent)
    answers = {v.id: task_answers(v.name, windows.get(v.id, [])) for v in graph.vertices}
    latest = samples[-1]
    window_s = max((w.span_s for ws in windows.values() for w in ws), default=0.0)
    ev = job_evidence(latest.job_id, answers, graph if edges else None, {}, latest.t,
                      window_s, latest.uptime_s)
    ev.taskmanagers = {tm: facts for tm, facts in taskmanager_rates(recent).items()
                       if any(tm in t.busy_on_tm for t in ev.tasks.values())}
    # The JobManager's counters the fleet reads per job: restarts and checkpoints.
    first, cps = recent[0], (recent[0].checkpoints, latest.checkpoints)
    ev.restarts, ev.checkpointing = _lifecycle({
        "restarts": float(latest.max_attempt - first.max_attempt),
        "cp_completed": float(cps[1].completed - cps[0].completed),
        "cp_failed": float(cps[1].failed - cps[0].failed)}, window_s)
    history = window_samples(samples, DEFAULT_HISTORY_S)
    ev.history = history_of(recent_steps(graph, history), ev)
    return judge(ev)


# -- the judgements -------------------------------------------------------------------------

@pytest.mark.parametrize("edges", [False, True], ids=["without-edges", "with-edges"])
@pytest.mark.parametrize("name", RECORDED)
def test_the_fleet_says_what_diagnose_says(name: str, edges: bool) -> None:
    graph, samples = load_recording(fixture_path(name))
    rest = diagnose(graph, samples)
    fleet = fleet_diagnosis(graph, samples, edges=edges)
    assert agrees(rest, fleet) is None, (agrees(rest, fleet), words.notes(fleet.notes),
                                         [words.summary(f) for f in fleet.findings])


@pytest.mark.parametrize("name", WITH_PROMETHEUS)
def test_the_past_says_what_diagnose_says(name: str) -> None:
    fx = prom_fixture(name)
    graph, rest_samples = load_recording(fx.rest_recording)
    history = fx.history()
    fit_to_graph(history, fx.graph)
    rest = diagnose(graph, rest_samples)
    past = diagnose(fx.graph, history.attempts()[-1])
    assert agrees(rest, past) is None, (agrees(rest, past), words.notes(past.notes))


def test_no_path_says_healthy_where_another_finds_a_limit() -> None:
    """The worst answer: a silent healthy. Over every recording and every path."""
    for name in RECORDED:
        graph, samples = load_recording(fixture_path(name))
        verdicts = {diagnose(graph, samples).verdict,
                    fleet_diagnosis(graph, samples, edges=False).verdict,
                    fleet_diagnosis(graph, samples, edges=True).verdict}
        if Verdict.HEALTHY in verdicts:
            assert not verdicts & {Verdict.BACKPRESSURED, Verdict.LIMITED}, (name, verdicts)
