"""The Prometheus source on answers recorded from a real Prometheus scraping a real cluster
(scripts/record_prometheus_fixtures.py): the same verdict as the REST recording of the same
run, few queries, and one-line errors for what goes wrong."""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner

from flowscope.analysis.engine import diagnose
from flowscope.cli import main as cli_main
from flowscope.errors import FlowscopeError, JobNotFound
from flowscope.flink.prometheus import PrometheusSource, parse_duration, scrape_intervals
from flowscope.flink.promql import PrometheusError, PrometheusUnreachable, QueryTooLarge
from flowscope.flink.promwindow import fit_to_graph
from flowscope.lab.cluster import free_port
from flowscope.model import Quantity
from flowscope.postmortem import parse_time
from flowscope.recording import RecordedTransport, Recording
from flowscope.sampling import load_recording
from tests.prom_fixtures import FIXTURES, PROM_URL, PromFixture, prom_fixture

SCENARIOS = sorted(p.name.removesuffix(".json.xz") for p in FIXTURES.glob("*.json.xz"))


def signature(d: object) -> tuple[str, frozenset[tuple[str, str]]]:
    return (str(d.verdict),  # type: ignore[attr-defined]
            frozenset((f.vertex_name, str(f.cause)) for f in d.bottlenecks))  # type: ignore[attr-defined]


def test_there_are_fixtures() -> None:
    assert {"compute-bound", "skew"} <= set(SCENARIOS)


def verdicts(name: str) -> tuple[object, object]:
    fx = prom_fixture(name)
    graph, rest_samples = load_recording(fx.rest_recording)
    history = fx.history()
    fit_to_graph(history, fx.graph)
    return diagnose(graph, rest_samples), diagnose(fx.graph, history.attempts()[-1])


@pytest.mark.parametrize("name", SCENARIOS)
def test_prometheus_finds_the_bottleneck_the_rest_recording_finds(name: str) -> None:
    rest, prom = verdicts(name)
    assert prom.verdict == rest.verdict  # type: ignore[attr-defined]
    assert ({f.vertex_name for f in prom.bottlenecks}  # type: ignore[attr-defined]
            == {f.vertex_name for f in rest.bottlenecks})  # type: ignore[attr-defined]


# The causes they name: tests/unit/test_one_judgement.py (the same, or "busy" where Prometheus
# holds no stack samples to tell computing from waiting).


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_historyserver_graph_is_the_rest_graph(name: str) -> None:
    fx = prom_fixture(name)
    graph, _ = load_recording(fx.rest_recording)
    assert [(v.id, v.name, v.parallelism) for v in fx.graph.vertices] == [
        (v.id, v.name, v.parallelism) for v in graph.vertices]
    assert set(fx.graph.edges) == set(graph.edges)


def test_a_window_costs_a_few_queries_whatever_the_subtasks() -> None:
    fx = prom_fixture("skew")
    transport = fx.transport()
    start, end = fx.read()
    with PrometheusSource(PROM_URL, transport=transport) as src:
        job = src.select_job(fx.job_id, start, end)
        history = src.history(job, start, end)
    ranges = [p for p in transport.paths if p.startswith("/api/v1/query_range")]
    assert len(ranges) == 3
    assert len(transport.paths) == history.queries + 1 == 6  # + the series lookup
    assert history.step_s == fx.meta["scrape_interval_s"]


def test_counters_and_gauges_arrive_per_subtask() -> None:
    history = prom_fixture("skew").history()
    last = history.samples[-1]
    subtasks = [st for subs in last.subtasks.values() for st in subs]
    assert len(subtasks) == 8
    for st in subtasks:
        for q in (Quantity.BUSY_MS, Quantity.IDLE_MS, Quantity.BACKPRESSURED_MS,
                  Quantity.RECORDS_OUT, Quantity.BUSY_MS_PER_S, Quantity.OUT_POOL_USAGE):
            assert st.finite(q) is not None, (st.vertex_id, st.index, q)
    assert len(last.taskmanagers) == 2
    for tm in last.taskmanagers.values():
        assert tm.values.get("cpu_time_ns") and tm.values.get("heap_used_bytes")
    assert last.uptime_s is not None and last.uptime_s > 30
    assert not last.warnings  # counters present: no fallback to the gauges


def test_a_refused_range_is_split_and_reads_the_same() -> None:
    fx = prom_fixture("skew")
    refused = [status for path, (status, body) in fx.data["prometheus"].items()
               if path.startswith("/api/v1/query_range") and status == 400]
    assert refused, "the recording holds no refusal"
    bodies = [json.loads(body)["error"] for path, (status, body) in fx.data["prometheus"].items()
              if status == 400]
    assert any("exceeded maximum resolution" in b for b in bodies)
    whole, split = fx.history("window"), fx.history("refused")
    assert split.queries > whole.queries + 2  # a refusal, then the halves
    # The two reads step on different grids: they see (nearly) the same scrapes.
    inside = [s for s in split.samples if whole.samples[0].t <= s.t <= whole.samples[-1].t]
    assert abs(len(inside) - len(whole.samples)) <= 2

    def busy(h: object) -> set[float]:
        return {st.values["busy_ms"] for s in h.samples  # type: ignore[attr-defined]
                for subs in s.subtasks.values() for st in subs}

    assert len(busy(whole) & busy(split)) >= 0.9 * len(busy(whole))
    assert signature(diagnose(fx.graph, split.samples)) == signature(
        diagnose(fx.graph, whole.samples))


def test_a_range_refused_even_when_small_is_one_line() -> None:
    fx = prom_fixture("skew")
    path, (status, body) = next((p, a) for p, a in fx.data["prometheus"].items()
                                if a[0] == 400)
    answers = {path: [status, body]}

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=answers[path][1].encode())

    with PrometheusSource(PROM_URL, transport=httpx.MockTransport(refuse)) as src, \
            pytest.raises(QueryTooLarge) as err:
        src.query_range("up", 0.0, 10.0, 1.0)
    assert "\n" not in str(err.value) and "refused a query for its size" in str(err.value)


def test_a_window_before_the_job_has_no_series() -> None:
    fx = prom_fixture("skew")
    with fx.source() as src, pytest.raises(JobNotFound) as err:
        src.select_job(fx.job_id, *fx.read("before"))
    assert "\n" not in str(err.value) and "no job" in str(err.value)


def test_a_gap_is_said_not_filled() -> None:
    fx = prom_fixture("skew")
    if not fx.meta.get("gap"):
        pytest.skip("recorded without --gap")
    paused, resumed = fx.meta["gap"]
    history = fx.history()
    assert history.gaps, history.notes
    first, last = history.gaps[0]
    assert paused - 2 <= first and last <= resumed + 2
    assert any("a gap, not interpolated" in n for n in history.notes)
    assert not [s for s in history.samples if first <= s.t <= last]


def test_a_flink_rest_api_is_not_prometheus() -> None:
    fx = prom_fixture("skew")
    status, body = fx.data["flink_api_v1"]
    transport = httpx.MockTransport(lambda r: httpx.Response(status, content=body.encode()))
    with PrometheusSource("http://flink:8081", transport=transport) as src, \
            pytest.raises(PrometheusError) as err:
        src.select_job(fx.job_id, *fx.read())
    assert "\n" not in str(err.value) and "Prometheus-compatible" in str(err.value)


def test_a_rest_recording_replayed_as_prometheus_is_refused() -> None:
    fx = prom_fixture("skew")
    with Recording(fx.rest_recording) as rec:
        transport = RecordedTransport(rec)
        transport.poll_id = rec.polls()[-1].id
        with PrometheusSource("http://recording", transport=transport) as src, \
                pytest.raises(PrometheusError) as err:
            src.select_job(fx.job_id, *fx.read())
    assert "\n" not in str(err.value)


def test_a_wrong_url_is_one_line() -> None:
    with PrometheusSource(f"http://127.0.0.1:{free_port()}", timeout_s=2) as src, \
            pytest.raises(PrometheusUnreachable) as err:
        src.select_job("x", 0.0, 60.0)
    assert "\n" not in str(err.value) and "cannot reach Prometheus" in str(err.value)


def test_the_scrape_interval_comes_from_the_servers_config() -> None:
    fx = prom_fixture("skew")
    _, body = fx.data["prometheus"]["/api/v1/status/config"]
    default, per_job = scrape_intervals(json.loads(body)["data"]["yaml"])
    assert default == 1.0 and per_job == {"flink": 1.0}


def test_times_and_durations() -> None:
    assert parse_duration("1m30s") == 90 and parse_duration("500ms") == 0.5
    assert parse_duration("15") is None
    assert parse_time("-2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_time("now", now=5.0) == 5.0
    assert parse_time("2026-11-30T02:10:00Z") == parse_time("2026-11-30T03:10:00+01:00")
    with pytest.raises(FlowscopeError):
        parse_time("yesterday-ish")


def test_the_cli_asks_for_a_job_and_one_kind_of_window() -> None:
    run = CliRunner().invoke(cli_main, ["diagnose", "--prometheus", PROM_URL, "--at", "-1h"])
    assert run.exit_code == 2 and "--job" in run.output
    run = CliRunner().invoke(cli_main, ["diagnose", "--prometheus", PROM_URL, "--job", "x",
                                        "--at", "-1h", "--start", "-2h"])
    assert run.exit_code == 2 and "not both" in run.output


def test_fixtures_stay_small() -> None:
    for name in SCENARIOS:
        fx: PromFixture = prom_fixture(name)
        assert fx.path.stat().st_size < 300 * 1024
        assert fx.rest_recording.stat().st_size < 300 * 1024


def test_a_fine_history_is_judged_in_intervals_not_as_one() -> None:
    """Prometheus steps every scrape (1 s here): the timeline cuts them into intervals of at
    least MIN_STEP_S (a window firing between them is seen), never merges them into one."""
    from flowscope.analysis import temporal

    fx = prom_fixture("skew")
    history = fx.history()
    fit_to_graph(history, fx.graph)
    samples = history.attempts()[-1]
    view = temporal.analyse(fx.graph, samples)
    span = samples[-1].t - samples[0].t
    assert view.steps >= span / (temporal.MIN_STEP_S + history.step_s) - 1, (view.steps, span)
    assert all(b - a >= temporal.MIN_STEP_S for a, b, _ in view.sequence[:-1])


def test_steps_with_only_some_subtasks_are_left_out_and_said() -> None:
    """A job registers and unregisters its subtasks' metrics one by one: the recorded runs
    each have a step with part of a vertex's subtasks. Judged on it, a skew read over the hot
    subtask alone looked uniform (a live post-mortem over the hour around a cancelled skew
    job said compute-bound)."""
    fx = prom_fixture("healthy")
    history = fx.history()
    before = len(history.samples)
    notes = fit_to_graph(history, fx.graph)
    assert len(history.samples) == before - 1
    assert any("some subtasks had no series" in n for n in notes)
    for s in history.samples:
        assert {vid: len(subs) for vid, subs in s.subtasks.items()} == {
            v.id: v.parallelism for v in fx.graph.vertices}
