"""Latency attribution from latency markers recorded on a real cluster."""

from __future__ import annotations

from flowscope.analysis.engine import diagnose
from flowscope.analysis.latency import (
    Caveat,
    EnableHow,
    HopAddsMost,
    TrackingOff,
    analyse_latency,
    buffer_timeout,
    parse_key,
)
from flowscope.api import load_recording
from flowscope.flink.ondemand import fetch_cluster_config
from flowscope.profiler import ProfileOptions, profile_job
from tests.conftest import fixture_path
from tests.profiling_fixtures import ReplayTransport, load, replay_polls


def latency_of(name: str):
    """The latency part of a replayed profile: the cluster config, then one more poll with
    the metric names listed again (histograms appear as the first markers arrive)."""
    r = replay_polls(load(name))
    d = diagnose(r.graph, r.samples)
    report = profile_job(r.source, r.graph, r.samples, d,
                         options=ProfileOptions(parts=("latency",)))
    assert report.latency is not None
    return r.graph, r.samples, report.latency


def test_the_hop_into_the_bottleneck_adds_the_most():
    _, _, report = latency_of("compute-bound")
    assert report.enabled and report.interval_ms == 1000
    assert report.slowest is not None
    assert (report.slowest.from_name, report.slowest.to_name) == ("parse", "enrich")
    assert report.slowest.queueing  # far more than the buffer timeout explains
    assert report.buffer_timeout_ms == 100 and report.buffer_timeout_from == "default"
    assert report.slowest.expected_ms == 50
    said = [n for n in report.notes if isinstance(n, HopAddsMost)]
    assert [(n.hop, n.buffer_timeout_ms) for n in said] == [(report.slowest, 100)]
    # Every operator subtask's histogram is read, not only subtask 0's.
    enrich = next(v for v in report.vertices if v.vertex_name == "enrich")
    assert enrich.subtasks == 2


def test_healthy_hops_stay_near_the_buffer_timeout():
    _, _, report = latency_of("healthy")
    assert report.hops
    assert all(h.p50 < 10 * 50 for h in report.hops), [(h.to_name, h.p50) for h in report.hops]


def test_hops_cover_every_edge_once_per_source():
    graph, _, report = latency_of("compute-bound")
    assert sorted((h.from_name, h.to_name) for h in report.hops) == sorted(
        (graph.vertex(e.source).name, graph.vertex(e.target).name) for e in graph.edges)


def test_without_markers_it_says_how_to_enable_them():
    # The scenario fixtures are recorded on a cluster without latency tracking.
    graph, samples = load_recording(fixture_path("healthy"))
    report = analyse_latency(graph, samples[-1].latency, {})
    assert not report.enabled and report.hops == [] and report.slowest is None
    assert report.notes == [TrackingOff()]
    assert report.how_to_enable == [EnableHow.CLUSTER, EnableHow.JOB]
    assert set(report.caveats) == set(Caveat)


def test_cluster_config_is_read_from_the_jobmanager():
    cap = load("healthy")
    from flowscope.flink.rest import FlinkRestSource

    source = FlinkRestSource("http://replay", transport=ReplayTransport(
        [r for r in cap.profile if r[0] == "/jobmanager/config"]))
    config = fetch_cluster_config(source)
    assert config["metrics.latency.interval"] == "1000"
    assert buffer_timeout(config) == (100.0, "default")
    assert buffer_timeout({**config, "execution.buffer-timeout.interval": "10 ms"}) == (
        10.0, "cluster config")
    assert buffer_timeout({"execution.buffer-timeout.enabled": "false"})[0] is None


def test_latency_keys_are_parsed():
    samples = replay_polls(load("compute-bound")).samples
    for key in samples[-1].latency:
        vid, sub, fields = parse_key(key)
        assert vid in key and fields["operator_subtask_index"] == str(sub)
        assert set(fields) >= {"source_id", "operator_id"}
