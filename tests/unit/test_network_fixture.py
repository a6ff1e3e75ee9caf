"""The `network` recording (TaskManager 2 behind an 8 Mbit/s tbf-capped veth, 2 KB records
offered at 2000/s) replays to a network-limited verdict with the buffer evidence.

On that link the three exchanges of the pipeline (gen -> parse -> enrich -> out) share one
capped connection, so every sender is backpressured and every receiver idles with its input
buffers mostly free: one finding, at the first exchange, that names the others.
"""

from __future__ import annotations

import pytest

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import LOW_THRESHOLD, Cause, Verdict
from flowscope.analysis.network import IN_POOL_LOW
from flowscope.api import load_recording
from flowscope.errors import FlowscopeError
from flowscope.lab.cluster import LocalCluster
from flowscope.lab.netns import LinkSpec
from flowscope.lab.scenarios import SCENARIOS, ScenarioRunner
from flowscope.render import words
from tests.conftest import fixture_path

SCENARIO = SCENARIOS["network"]
LINK_BYTES_PER_S = 8e6 / 8  # tbf rate 8mbit, each direction


@pytest.fixture(scope="module")
def recorded():
    return load_recording(fixture_path("network"))


def test_replays_to_network_at_the_first_exchange(recorded):
    graph, samples = recorded
    d = diagnose(graph, samples)
    assert d.confidence == "high", words.notes(d.notes)
    assert d.verdict == Verdict.BACKPRESSURED
    assert [(f.vertex_name, f.cause) for f in d.bottlenecks] == [
        (SCENARIO.bottleneck, Cause.NETWORK)
    ], [words.summary(f) for f in d.findings]
    assert [f for f in d.findings if f.cause == Cause.NETWORK] == d.bottlenecks


def test_evidence_is_the_buffer_signature(recorded):
    graph, samples = recorded
    (f,) = diagnose(graph, samples).bottlenecks
    assert words.summary(f).startswith("the exchange Source: gen -> parse")
    ev = {(e.subject, e.metric): e.value for e in f.evidence}
    assert ev[("Source: gen", "backpressured_ratio")] > 0.8
    assert ev[("Source: gen", "out_pool_usage")] > 0.8
    assert ev[("parse", "in_pool_usage")] < IN_POOL_LOW
    assert ev[("parse", "busy_ratio")] < 0.2
    # Half of parse's input crosses the link, one direction per subtask: at most twice the cap.
    assert 0.3 * LINK_BYTES_PER_S < ev[("parse", "bytes_in_remote_per_s")] <= 2 * LINK_BYTES_PER_S
    # The next exchange shares the link and is named, not reported a second time.
    assert ("parse -> enrich", "out_pool_usage") in ev
    # Both ends of the link: the host-side TaskManager and the one in the namespace.
    link = LinkSpec()
    assert sorted(tm.split(":")[0] for tm in f.taskmanagers) == [link.host_addr, link.ns_addr]


def test_receivers_are_backpressured_yet_not_the_limit(recorded):
    """Why the rule reads input pools: parse is itself backpressured (its own output is stuck in
    the same link), so 'receivers not backpressured' alone would miss this network limit."""
    graph, samples = recorded
    tasks = {t.name: t for t in diagnose(graph, samples).tasks}
    parse = tasks["parse"]
    assert parse.backpressured > LOW_THRESHOLD
    assert parse.busy < 0.2
    pools = [s.in_pool_usage for s in parse.subtasks]
    assert sum(pools) / len(pools) < IN_POOL_LOW
    assert tasks["out: Writer"].idle > 0.9
    # The link, not the job, sets the pace: far below the 2000 records/s offered.
    assert tasks["Source: gen"].records_out_per_s < 0.5 * int(SCENARIO.args["rate"])


def test_first_confident_verdict_is_already_network(recorded):
    """Polled as a live session would: the first confident verdict names the network."""
    graph, samples = recorded
    for n in range(1, len(samples) + 1):
        d = diagnose(graph, samples[:n])
        if d.confidence == "high" and d.window_s >= 15:
            break
    else:
        pytest.fail("no confident verdict in the recording")
    assert [(f.vertex_name, f.cause) for f in d.bottlenecks] == [
        (SCENARIO.bottleneck, Cause.NETWORK)
    ]
    assert samples[n - 1].uptime_s < 45


def test_network_scenario_refuses_a_cluster_without_the_link():
    runner = ScenarioRunner(LocalCluster())
    try:
        with pytest.raises(FlowscopeError, match="capped link"):
            runner.submit("network")
    finally:
        runner.close()
