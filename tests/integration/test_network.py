"""A real network bottleneck: TaskManager 2 runs in a network namespace behind a veth pair capped
at 8 Mbit/s each way (tc tbf), and the `network` scenario pushes 2 KB records at 2000/s
(~32 Mbit/s) through exchanges that cross it. flowscope must name the network, at the exchange,
with the buffer evidence (sender's outPoolUsage high, receivers' inPoolUsage low).

Needs root (`ip netns add`); skipped with the reason otherwise. Uses a cluster of its own, not
the shared one, and stops it (and removes the namespace) at the end.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Cause, Verdict
from flowscope.analysis.network import IN_POOL_LOW
from flowscope.api import load_recording
from flowscope.lab.netns import CappedLink, LinkSpec, netns_supported
from flowscope.lab.scenarios import SCENARIOS, ScenarioRunner
from flowscope.render import words
from tests.integration.settling import settle

pytestmark = pytest.mark.cluster

DEADLINE_S = 150.0
LINK_BYTES_PER_S = 8e6 / 8  # tbf rate 8mbit, each direction
SCENARIO = SCENARIOS["network"]


@pytest.fixture(scope="module")
def supported() -> None:
    ok, reason = netns_supported()
    if not ok:
        pytest.skip(f"needs a network namespace with a capped veth pair: {reason}")


@pytest.fixture(scope="module")
def netns_cluster(supported):
    from flowscope.lab.netcluster import running_netns_cluster

    with running_netns_cluster() as cluster:
        yield cluster
    assert cluster.link_spec.namespace not in _namespaces(), "namespace left behind"


def _namespaces() -> list[str]:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()


def test_capped_link_limits_throughput(supported):
    """A TCP stream from inside the namespace to the host runs at the tbf rate, not faster."""
    spec = LinkSpec(namespace="flowscope-nettest", host_if="fsnt-host", ns_if="fsnt-ns",
                    host_addr="10.213.7.5", ns_addr="10.213.7.6")
    with CappedLink(spec) as link, socket.socket() as srv:
        srv.bind((spec.host_addr, 0))
        srv.listen(1)
        sender = (
            "import socket, time\n"
            f"s = socket.create_connection(({spec.host_addr!r}, {srv.getsockname()[1]}))\n"
            "end = time.monotonic() + 4\n"
            "while time.monotonic() < end: s.sendall(b'x' * 65536)\n"
            "s.close()\n"
        )
        proc = subprocess.Popen([*link.exec_prefix(), sys.executable, "-c", sender])
        conn, _ = srv.accept()
        received, start = 0, time.monotonic()
        with conn:
            while chunk := conn.recv(65536):
                received += len(chunk)
        rate = received / (time.monotonic() - start)
        assert proc.wait(timeout=10) == 0
    assert 0.5 * LINK_BYTES_PER_S < rate < 1.1 * LINK_BYTES_PER_S, f"{rate * 8 / 1e6:.2f} Mbit/s"
    assert spec.namespace not in _namespaces()


def test_network_limit_is_diagnosed(netns_cluster, tmp_path):
    runner = ScenarioRunner(netns_cluster)
    job_id = runner.submit(SCENARIO)
    try:
        # Like every scenario test: a verdict stable over consecutive snapshots, after the
        # first minute's buffer filling (stopping on the first confident window at ~21 s
        # named the chain's next sender in 2 of 5 runs).
        d, _ = settle(netns_cluster.url, job_id, tmp_path / "run.fsrec",
                      deadline_s=DEADLINE_S)
    finally:
        runner.cancel(job_id)
        runner.close()

    explained = [words.summary(f) for f in d.findings]
    assert d.verdict == Verdict.BACKPRESSURED, explained
    assert [(f.vertex_name, f.cause) for f in d.bottlenecks] == [
        (SCENARIO.bottleneck, Cause.NETWORK)
    ], explained
    (f,) = d.bottlenecks
    assert "Source: gen -> parse" in words.summary(f)
    ev = {(e.subject, e.metric): e.value for e in f.evidence}
    # The sender waits for output buffers that cannot leave; the receivers keep up with what
    # arrives and have nothing to do.
    assert ev[("Source: gen", "backpressured_ratio")] > 0.5
    assert ev[("Source: gen", "out_pool_usage")] >= 0.7
    assert ev[("parse", "in_pool_usage")] < IN_POOL_LOW
    assert ev[("parse", "busy_ratio")] < 0.5
    # Half of what parse receives comes over the link, in both directions: at most 2x the cap.
    assert 0 < ev[("parse", "bytes_in_remote_per_s")] <= 2 * 1.05 * LINK_BYTES_PER_S
    tasks = {t.name: t for t in d.tasks}
    assert tasks["Source: gen"].records_out_per_s < 0.6 * int(SCENARIO.args["rate"])
    assert tasks["out: Writer"].idle > 0.5
    # One subtask of each side of the exchange runs behind the link.
    assert any(tm.startswith(netns_cluster.link_spec.ns_addr) for tm in f.taskmanagers)
    assert any(tm.startswith(netns_cluster.link_spec.host_addr) for tm in f.taskmanagers)

    graph, samples = load_recording(tmp_path / "run.fsrec")
    replayed = diagnose(graph, samples)
    assert [(x.vertex_name, x.cause) for x in replayed.findings] == [
        (x.vertex_name, x.cause) for x in d.findings
    ]
