"""The fleet scan on answers recorded from a real Prometheus serving a fleet grown from the
recorded lab runs (scripts/fleet_history.py --record): the known mix's verdicts, as many
queries for 5 jobs as for 20, a refused query split by job id, one-line errors. The fleet's
judgement against `diagnose`'s on every recorded scenario: tests/unit/test_one_judgement.py."""

from __future__ import annotations

import dataclasses
import json
import lzma
from functools import cache
from typing import Any

import httpx
import pytest

from flowscope.analysis.findings import ActionKind, Cause, Verdict
from flowscope.analysis.fleet import held_for
from flowscope.errors import FlowscopeError, JobNotFound
from flowscope.flink.fleet import Shard
from flowscope.flink.metric_names import prom_mangle
from flowscope.flink.promql import PrometheusError, PrometheusUnreachable
from flowscope.render import words
from flowscope.scan import FleetScan, scan_prometheus
from tests.prom_fixtures import FIXTURES, PROM_URL, Replay, prom_fixture

FLEET = FIXTURES / "fleet" / "fleet-20.json.xz"


@cache
def recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(lzma.decompress(FLEET.read_bytes()))
    return data


def scan(answers: str = "fleet", **kw: Any) -> tuple[FleetScan, Replay]:
    meta = recorded()["meta"]
    replay = Replay(recorded()["prometheus"][answers])
    args: dict[str, Any] = {"at": meta["at"], "window_s": meta["window_s"],
                            "lookback_s": meta["lookback_s"], **kw}
    return scan_prometheus(PROM_URL, transport=replay, **args), replay


def signature(result: FleetScan) -> dict[str, tuple[str, str | None, str | None]]:
    return {d.job_id: (str(d.verdict), d.bottlenecks[0].vertex_name if d.bottlenecks else None,
                       str(d.bottlenecks[0].cause) if d.bottlenecks else None)
            for d in result.diagnoses}


def plan() -> dict[str, list[Any]]:
    """job_id -> [kind, name, verdict, bottleneck, cause, seconds held]."""
    return {row[0]: row[1:] for row in recorded()["meta"]["plan"]}


def test_the_fixture_is_small_and_from_a_real_prometheus() -> None:
    assert FLEET.stat().st_size < 300_000
    meta = recorded()["meta"]
    assert meta["prometheus_version"].startswith("2.")
    assert meta["jobs"] == 20 and meta["subset"] == 5
    assert {"fleet", "subset", "refusing", "before"} <= set(recorded()["prometheus"])


def test_the_scan_finds_the_known_mix() -> None:
    result, _ = scan()
    want = {jid: (p[2], p[3], p[4]) for jid, p in plan().items()}
    assert signature(result) == want
    kinds = {p[0] for p in plan().values()}
    assert {"healthy", "skew", "slow-subtask", "compute-bound", "off-cpu"} <= kinds


def test_each_job_says_how_long_its_state_has_held() -> None:
    result, _ = scan()
    step = recorded()["meta"]["lookback_s"] / 60
    for jid, p in plan().items():
        held = result.since_s[jid]
        assert held is not None
        # The state flips within a step of the onset (Flink's gauges average over a minute).
        assert abs(held - p[5]) <= 2 * step, (p[1], held, p[5])


def test_a_bottleneck_comes_with_evidence_an_action_and_medium_confidence() -> None:
    result, _ = scan()
    by_kind = {plan()[d.job_id][0]: d for d in result.diagnoses}
    for kind in ("skew", "slow-subtask", "compute-bound"):
        d = by_kind[kind]
        f = d.bottlenecks[0]
        assert str(d.confidence) == "medium"
        assert f.evidence and f.actions and words.summary(f)
        assert any("without the job graph" in n for n in words.notes(d.notes))
        assert d.tasks[0].name == "Source:_gen"
        assert all(t.parallelism == 2 for t in d.tasks)
    # The sources are blocked ~80% of the time: what they would emit unthrottled is not known,
    # so the plan is per subtask, as `diagnose` says it; and whether the busy task computes
    # or waits is not known without stack samples.
    cb = by_kind["compute-bound"].bottlenecks[0]
    assert cb.cause == Cause.BUSY
    kinds = [a.kind for a in cb.actions]
    assert kinds == [ActionKind.TELL_WORK, ActionKind.PER_SUBTASK_RATE]
    assert any("flowscope diagnose --job" in n
               for n in words.notes(by_kind["compute-bound"].notes))
    skew = by_kind["skew"].bottlenecks[0]
    assert skew.subtasks == [1]  # the recorded run's hot subtask
    assert str(by_kind["healthy"].confidence) == "high"


def test_the_queries_do_not_grow_with_the_jobs() -> None:
    small, _ = scan("subset")
    large, _ = scan("fleet")
    assert len(small.diagnoses) == 5 and len(large.diagnoses) == 20
    assert small.queries == large.queries == 9
    assert 0 < small.bytes_in < large.bytes_in
    # The first five jobs are the same in both fleets, and judged the same.
    same = signature(large)
    assert all(same[jid] == sig for jid, sig in signature(small).items())


def test_a_query_refused_for_its_size_is_split_by_job_id() -> None:
    whole, _ = scan("fleet")
    split, replay = scan("refusing")
    statuses = [recorded()["prometheus"]["refusing"][p][0] for p in replay.paths]
    assert 422 in statuses
    assert any("job_id%3D~%22%5B01234567%5D" in p or 'job_id=~"[01234567]' in p
               for p in replay.paths)
    assert split.queries > whole.queries
    assert signature(split) == signature(whole)
    assert split.since_s == whole.since_s
    assert any("refused" in n and "split" in n for n in split.notes)


def test_the_shards_halve_the_job_ids_and_stop() -> None:
    first = Shard().halves()
    assert [s.matcher for s in first] == ['job_id=~"[01234567].*"', 'job_id=~"[89abcdef].*"']
    shard, depth = Shard(), 0
    while parts := shard.halves():
        shard, depth = parts[0], depth + 1
    assert shard.matcher == 'job_id=~"00[0].*"' and depth == 12


def test_no_job_in_the_window_is_a_one_line_error() -> None:
    with pytest.raises(JobNotFound) as err:
        scan("before", at=recorded()["meta"]["before"])
    assert "\n" not in str(err.value) and "no Flink task series" in str(err.value)


def test_an_unreachable_server_is_a_one_line_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(PrometheusUnreachable) as err:
        scan_prometheus(PROM_URL, at=0.0, transport=httpx.MockTransport(refuse))
    assert "\n" not in str(err.value) and isinstance(err.value, FlowscopeError)


def test_a_server_that_is_not_prometheus_is_a_one_line_error() -> None:
    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="<html>not found</html>")

    with pytest.raises(PrometheusError) as err:
        scan_prometheus(PROM_URL, at=0.0, transport=httpx.MockTransport(html))
    assert "\n" not in str(err.value)


def test_graphs_locate_along_the_edges() -> None:
    # The fleet's jobs run the lab's program: the same vertex ids as the recorded runs.
    graph = prom_fixture("skew").graph
    graphs = {jid: dataclasses.replace(graph, job_id=jid) for jid in plan()}
    with_edges, _ = scan(graphs=graphs)
    without, _ = scan()
    named = {jid: (v, "enrich" if b else None, c) for jid, (v, b, c) in signature(without).items()}
    assert signature(with_edges) == named
    d = with_edges.diagnoses[0]
    assert any("along the job graph's edges" in n for n in words.notes(d.notes))
    assert [t.name for t in d.tasks] == [v.name for v in graph.topological()]


def test_held_for_counts_the_run_of_equal_states_up_to_now() -> None:
    pts = [(0.0, 0.0), (60.0, 2.0), (120.0, 2.0), (180.0, 2.0)]
    assert held_for(pts, Verdict.BACKPRESSURED, 180.0, 60.0) == 120.0
    assert held_for(pts, Verdict.HEALTHY, 180.0, 60.0) is None  # not the state now
    assert held_for(pts[:-1], Verdict.BACKPRESSURED, 180.0, 60.0) == 120.0  # a step late
    assert held_for([(0.0, 2.0), (180.0, 2.0)], Verdict.BACKPRESSURED, 180.0, 60.0) == 0.0
    assert held_for([], Verdict.BACKPRESSURED, 180.0, 60.0) is None
    assert held_for(pts, Verdict.UNKNOWN, 180.0, 60.0) is None


# -- Flink's own series: the lab's first wave, scraped live (scripts/record_fleet_lab.py) ----

LAB = FIXTURES / "fleet" / "lab.json.xz"
# Causes told by what a task's threads do: without stack samples the scan says `busy` (on- or
# off-CPU unknown) where the TaskManagers' CPU time does not prove waiting (nine jobs share
# the lab's two TaskManagers).
TOLD_BY_STACKS = {"off-cpu", "compute-bound"}


def test_the_lab_fleet_is_read_as_each_scenario_was_built() -> None:
    """Flink's accumulated-time "counters" step back every few scrapes; read with rate(),
    each step back is a counter reset and the skew job's cool subtask read 507% busy (skew
    came out as a slow instance). The scan reads them with delta(). The window job's
    bottleneck moves between parse and window: the scan says so from the recent history."""
    data = json.loads(lzma.decompress(LAB.read_bytes()))
    meta = data["meta"]
    result = scan_prometheus(PROM_URL, transport=Replay(data["prometheus"]), at=meta["at"],
                             window_s=meta["window_s"], lookback_s=meta["lookback_s"])
    seen = {d.job_name: d for d in result.diagnoses}
    assert {"flowscope_skew", "flowscope_slow_subtask", "flowscope_healthy"} <= set(seen)
    for name, (verdict, bottleneck, cause) in meta["expected"].items():
        d = seen[name]
        assert str(d.verdict) == verdict, (name, [words.summary(f) for f in d.findings])
        got = [(prom_mangle(f.vertex_name or ""), str(f.cause)) for f in d.bottlenecks]
        if bottleneck is None:
            assert got == [], name
        elif cause in TOLD_BY_STACKS:
            assert got in ([(bottleneck, cause)], [(bottleneck, "busy")]), (name, got)
        else:
            assert got == [(bottleneck, cause)], (name, [words.summary(f) for f in d.findings])
        for t in d.tasks:
            for ratio in (t.busy, t.backpressured, t.idle):
                assert ratio is None or 0.0 <= ratio <= 1.0, (name, t.name, ratio)
