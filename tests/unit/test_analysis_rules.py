"""Rules of the analysis, each on recorded real data."""

from __future__ import annotations

from flowscope.analysis import temporal
from flowscope.analysis.buffers import channel_table, pool_table
from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Cause, Level, level_of
from flowscope.api import load_recording
from flowscope.render import words
from tests.conftest import fixture_path


def test_levels_follow_flinks_thresholds():
    assert level_of(0.10) == Level.OK
    assert level_of(0.1001) == Level.LOW
    assert level_of(0.5) == Level.LOW
    assert level_of(0.5001) == Level.HIGH
    assert level_of(None) == Level.UNKNOWN


def test_window_firing_is_one_moving_bottleneck_with_its_period():
    graph, samples = load_recording(fixture_path("window"))
    d = diagnose(graph, samples)
    (f,) = d.bottlenecks
    assert f.cause == Cause.MOVING
    assert f.vertex_name == "parse <-> window"
    period = next(e.value for e in f.evidence if e.metric == "period_s")
    assert 20 <= period <= 40  # a 30 s window, seen at ~10 s resolution


def test_window_view_alternates():
    graph, samples = load_recording(fixture_path("window"))
    view = temporal.analyse(graph, samples)
    names = {graph.vertex(v).name for v, share in view.root_share.items() if share > 0.15}
    assert names == {"parse", "window"}
    assert temporal.switches(view, set(view.root_share)) >= 2


def test_persistent_bottleneck_says_how_persistent():
    graph, samples = load_recording(fixture_path("off-cpu"))
    (f,) = diagnose(graph, samples).bottlenecks
    share = next(e for e in f.evidence if e.metric == "root_share")
    assert share.value >= temporal.PERSISTENT_SHARE


def test_join_locates_only_the_slow_branch():
    graph, samples = load_recording(fixture_path("join"))
    d = diagnose(graph, samples)
    assert [f.vertex_name for f in d.bottlenecks] == ["enrich orders"]


def test_gc_pressure_names_taskmanagers_and_heap():
    graph, samples = load_recording(fixture_path("gc"))
    d = diagnose(graph, samples)
    (f,) = d.bottlenecks
    assert f.cause == Cause.GC_PRESSURE
    assert f.taskmanagers
    metrics = {e.metric for e in f.evidence}
    assert {"gc_ms_per_s", "heap_used_ratio"} <= metrics


def test_skew_buffer_tables_point_at_the_hot_subtask():
    graph, samples = load_recording(fixture_path("skew"))
    d = diagnose(graph, samples)
    hot = d.bottlenecks[0].subtasks
    readings = {(b.vertex, b.subtask): b for b in d.buffers}
    for i in hot:
        assert "source of backpressure" in words.meaning(readings[("enrich", i)].pool_meaning)
    assert all(readings[("parse", i)].pool_sign == "error" for i in (0, 1))


def test_pool_tables_match_the_post():
    def pool(*args: object) -> tuple[str, str | None]:
        sign, meaning = pool_table(*args)  # type: ignore[arg-type]
        return sign, words.meaning(meaning)

    def channels(*args: object) -> tuple[str, str | None] | None:
        found = channel_table(*args)  # type: ignore[arg-type]
        return None if found is None else (found[0], words.meaning(found[1]))

    assert pool(0.1, 0.1, False) == ("ok", "no backpressure")
    assert pool(0.1, 1.0, False)[0] == "warning"
    assert pool(1.0, 0.1, False) == ("warning", "may eventually cause backpressure")
    assert pool(1.0, 0.1, True)[0] == "error"
    assert "forwarding" in (pool(1.0, 1.0, False)[1] or "")
    assert channels(0.1, 0.1, True) == ("error", "potential network bottleneck")
    assert "only some" in (channels(1.0, 0.1, True) or ("", ""))[1]
    assert "most or all" in (channels(1.0, 1.0, False) or ("", ""))[1]
    assert channels(None, 0.5, True) is None


def test_throughput_facts_on_real_data():
    graph, samples = load_recording(fixture_path("skew"))
    facts = {t.vertex: t for t in diagnose(graph, samples).throughput}
    # The scenario's records carry a 32-byte payload; serialised, about 65 bytes.
    assert 50 < facts["enrich"].record_bytes_in < 90
    assert 0 < facts["enrich"].buffer_fill <= 1
    assert facts["Source: gen"].true_rate_per_subtask is None


def test_low_buffer_fill_is_reported_but_the_job_is_healthy():
    """buffer timeout 0 on the real cluster: one 66-byte record per network buffer."""
    graph, samples = load_recording(fixture_path("low-fill"))
    d = diagnose(graph, samples)
    assert d.verdict.value == "healthy"
    low = [f for f in d.findings if f.cause == Cause.LOW_BUFFER_FILL]
    assert {f.vertex_name for f in low} == {"parse", "enrich", "out: Writer"}
    per_buffer = next(e.value for e in low[0].evidence if e.metric == "bytes_per_remote_buffer")
    assert 60 <= per_buffer <= 80
    assert "execution.buffer-timeout" in low[0].actions[0].config
    # a normal job at a similar rate fills its buffers through the timeout: no finding
    graph, samples = load_recording(fixture_path("skew"))
    assert not [f for f in diagnose(graph, samples).findings if f.cause == Cause.LOW_BUFFER_FILL]


def test_a_join_waiting_on_barriers_behind_the_slow_branch_is_not_the_network():
    """The fast branch's sender reads backpressured while the join idles: the join aligns
    checkpoint barriers behind the slow branch (recorded at 150 s of the join scenario)."""
    from flowscope.analysis import network as rules
    from flowscope.analysis.gather import gather
    from flowscope.analysis.locate import locate

    graph, samples = load_recording(fixture_path("join"))
    ev = gather(graph, samples, window_s=60, history_s=180)
    roots = locate(graph, ev.states)
    network = rules._network_exchanges(graph, ev, roots)
    parse_users = graph.by_name("parse users").id
    assert parse_users in network  # it looks like a slow link ...
    behind = rules.aligning_behind(graph, network, roots)
    assert [graph.vertex(u).name for _, u in behind[parse_users]] == ["enrich orders"]
    d = diagnose(graph, samples)  # ... but it is not reported as one
    assert [(f.vertex_name, f.cause) for f in d.bottlenecks] == [("enrich orders", Cause.OFF_CPU)]
    assert not [f for f in d.findings if f.cause == Cause.NETWORK]
