"""The REST collector, replaying responses recorded from a real cluster."""

from __future__ import annotations

import math
import re

import httpx
import pytest

from flowscope.errors import FlinkApiError, FlinkUnreachable, JobNotFound
from flowscope.flink import metric_names as names
from flowscope.flink.answers import chunks as _chunks
from flowscope.flink.rest import MAX_QUERY_CHARS, FlinkRestSource
from flowscope.model import Quantity
from flowscope.recording import RecordedTransport, Recording
from flowscope.sampling import ReplaySession
from tests.conftest import fixture_path


def replay(name: str) -> ReplaySession:
    return ReplaySession(fixture_path(name))


def test_requests_per_poll_grow_with_vertices_not_subtasks():
    r = replay("skew")
    counts = []
    for graph, sample in r.samples():  # noqa: B007 (the last pair is used below)
        counts.append(r.source.requests)
    r.close()
    per_poll = counts[-1] - counts[-2]  # a settled poll: metric names were listed earlier
    vertices = len(graph.vertices)
    tms = len(sample.taskmanagers)
    # job + (detail + metrics) per vertex + checkpoints + one per TaskManager
    assert per_poll == 1 + 2 * vertices + 1 + tms
    assert sum(v.parallelism for v in graph.vertices) == 8


def test_poll_reads_every_quantity_the_analysis_uses():
    r = replay("skew")
    *_, (graph, sample) = r.samples()
    r.close()
    enrich = graph.by_name("enrich")
    assert enrich is not None
    for st in sample.subtasks[enrich.id]:
        for q in (Quantity.BUSY_MS, Quantity.IDLE_MS, Quantity.BACKPRESSURED_MS,
                  Quantity.RECORDS_IN, Quantity.IN_POOL_USAGE, Quantity.OUT_POOL_USAGE,
                  Quantity.IN_FLOATING_USAGE, Quantity.IN_EXCLUSIVE_USAGE,
                  Quantity.BUFFERS_IN_REMOTE, Quantity.BYTES_IN_REMOTE):
            assert q.value in st.values, q
        assert st.taskmanager_id and st.operators["enrich"]["records_in"] > 0
    assert {e.ship_strategy for e in graph.edges} == {"REBALANCE", "HASH"}
    assert all(v.max_parallelism == 128 for v in graph.vertices)
    assert all("cpu_time_ns" in tm.values for tm in sample.taskmanagers.values())


def test_subtasks_are_spread_over_both_taskmanagers():
    r = replay("healthy")
    *_, (graph, sample) = r.samples()
    r.close()
    for v in graph.vertices:
        assert len({s.taskmanager_id for s in sample.subtasks[v.id]}) == 2, v.name


def test_nan_busy_of_sql_source_stays_nan():
    r = replay("sql-nan")
    *_, (graph, sample) = r.samples()
    r.close()
    source = graph.sources()[0]
    busy = [s.get(Quantity.BUSY_MS_PER_S) for s in sample.subtasks[source.id]]
    assert busy and all(b is not None and math.isnan(b) for b in busy)


def test_startup_artifact_is_in_the_first_polls():
    r = replay("compute-bound")
    first = [s for _, s in r.samples() if (s.uptime_s or 0) < 12]
    r.close()
    trios = [
        (st.get(Quantity.BUSY_MS_PER_S), st.get(Quantity.IDLE_MS_PER_S),
         st.get(Quantity.BACKPRESSURED_MS_PER_S))
        for s in first for subs in s.subtasks.values() for st in subs
    ]
    assert (1000.0, 0.0, 0.0) in trios


@pytest.mark.parametrize("raw,value", [("12.5", 12.5), ("true", 1.0), ("false", 0.0),
                                       (3, 3.0), ("x", None), (None, None)])
def test_parse_value(raw, value):
    assert names.parse_value(raw) == value


def test_parse_value_nan():
    v = names.parse_value("NaN")
    assert v is not None and math.isnan(v)


def test_flink_1x_names_resolve():
    flink_1x = ["buffers.inPoolUsage", "buffers.outPoolUsage", "buffers.floatingBuffersUsage",
                "buffers.exclusiveBuffersUsage", "busyTimeMsPerSecond"]
    resolved = names.resolve(flink_1x, names.TASK_METRICS)
    assert resolved["in_floating_usage"] == "buffers.floatingBuffersUsage"
    assert resolved["out_pool_usage"] == "buffers.outPoolUsage"


def test_chunks_stay_under_the_request_line_limit():
    items = [f"{i}.Shuffle.Netty.Input.Buffers.inputFloatingBuffersUsage" for i in range(500)]
    chunks = _chunks(items, MAX_QUERY_CHARS)
    assert sum(len(c) for c in chunks) == 500
    assert all(len(",".join(c)) <= MAX_QUERY_CHARS for c in chunks)
    assert len(chunks) > 1


def _source(handler) -> FlinkRestSource:
    return FlinkRestSource("http://flink.test:8081", transport=httpx.MockTransport(handler))


def test_refused_connection_is_one_line():
    def refuse(request):
        raise httpx.ConnectError("[Errno 111] Connection refused")

    with pytest.raises(FlinkUnreachable, match=re.escape(
            "cannot reach Flink at http://flink.test:8081: connection refused")):
        _source(refuse).jobs()


def test_timeout_is_one_line():
    def slow(request):
        raise httpx.ReadTimeout("timed out")

    with pytest.raises(FlinkUnreachable, match="did not answer /jobs/overview within"):
        _source(slow).jobs()


def test_not_flink_is_reported():
    def html(request):
        return httpx.Response(200, text="<html>a login page</html>")

    with pytest.raises(FlinkApiError, match="is this Flink's REST API"):
        _source(html).jobs()


def test_server_error_is_reported():
    def boom(request):
        return httpx.Response(502, text="bad gateway")

    with pytest.raises(FlinkApiError, match="answered 502"):
        _source(boom).jobs()


def test_job_selection_from_recorded_overview():
    with Recording(fixture_path("skew")) as rec:
        transport = RecordedTransport(rec)
        transport.poll_id = rec.polls()[0].id
        src = FlinkRestSource("http://recorded", transport=transport)
        # The fixtures were recorded with several scenarios running side by side.
        with pytest.raises(JobNotFound, match=r"jobs are running .* choose one with --job"):
            src.select_job(None)
        job = src.select_job("skew")
        assert job.name == "flowscope-skew"
        assert src.select_job(job.id).id == job.id
        with pytest.raises(JobNotFound, match="no job matches"):
            src.select_job("nonexistent-job")
        with pytest.raises(JobNotFound, match="has no job"):
            src.poll("0" * 32)
