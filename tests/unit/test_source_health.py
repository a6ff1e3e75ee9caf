"""The exporter's flowscope_source_* series: whether each source could be read, failed reads
counted, and when it last was read cleanly. A live cluster is the recorded answers of a real
one replayed through the poller's HTTP seam, with the connection cut on demand."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from flowscope.recording import RecordedTransport, Recording
from flowscope.web import hub as hub_module
from flowscope.web.exporter import exposition, registry_for
from flowscope.web.hub import Hub, SourceHealth, SourceInfo
from tests.conftest import fixture_path

URL = "http://recorded:8081"


class CuttableTransport(httpx.BaseTransport):
    """The recording's answers, or a refused connection while `down`."""

    def __init__(self, inner: RecordedTransport) -> None:
        self.inner = inner
        self.down = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return self.inner.handle_request(request)


def _health(hub: Hub) -> dict[tuple[str, str], dict[str, float]]:
    """(source, kind) -> {series name: value} from the rendered /metrics."""
    body, _ = exposition(registry_for(hub))
    out: dict[tuple[str, str], dict[str, float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            if s.name.startswith("flowscope_source_"):
                out.setdefault((s.labels["source"], s.labels["kind"]), {})[s.name] = s.value
    return out


@pytest.fixture
def live() -> Iterator[tuple[Hub, CuttableTransport]]:
    with Recording(fixture_path("skew")) as rec:
        recorded = RecordedTransport(rec)
        recorded.poll_id = rec.polls()[-1].id
        transport = CuttableTransport(recorded)
        hub = Hub(interval_s=1.0)
        hub.add_live(URL, "skew", transport=transport)
        yield hub, transport
        hub.stop()


def test_a_recording_is_up_once_loaded() -> None:
    hub = Hub()
    before = time.time()
    hub.add_recording(fixture_path("skew"), None)
    (((source, kind), series),) = _health(hub).items()
    assert (source, kind) == ("skew.fsrec", "recording")
    assert series["flowscope_source_up"] == 1.0
    assert series["flowscope_source_poll_errors_total"] == 0.0
    assert before <= series["flowscope_source_last_success_timestamp_seconds"] <= time.time()


def test_a_cluster_goes_down_and_comes_back(live: tuple[Hub, CuttableTransport],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    hub, transport = live
    poller = next(iter(hub.pollers.values()))
    monkeypatch.setattr(hub_module, "REDISCOVER_S", 1e9)  # one read per round: the job's poll
    poller.poll_once()
    up = _health(hub)[(URL, "live")]
    assert up["flowscope_source_up"] == 1.0 and up["flowscope_source_poll_errors_total"] == 0.0
    ok_at = up["flowscope_source_last_success_timestamp_seconds"]

    transport.down = True
    poller.poll_once()
    poller.poll_once()
    down = _health(hub)[(URL, "live")]
    assert down["flowscope_source_up"] == 0.0
    assert down["flowscope_source_poll_errors_total"] == 2.0
    assert down["flowscope_source_last_success_timestamp_seconds"] == ok_at
    (feed,) = hub.feeds()
    assert feed.error and "recorded:8081" in feed.error

    transport.down = False
    poller.poll_once()
    back = _health(hub)[(URL, "live")]
    assert back["flowscope_source_up"] == 1.0
    assert back["flowscope_source_poll_errors_total"] == 2.0  # a counter: never goes back
    assert back["flowscope_source_last_success_timestamp_seconds"] >= ok_at


def test_a_failed_discovery_counts_as_well(live: tuple[Hub, CuttableTransport],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    hub, transport = live
    poller = next(iter(hub.pollers.values()))
    monkeypatch.setattr(hub_module, "REDISCOVER_S", 0.0)  # discover in every round
    transport.down = True
    poller.poll_once()
    down = _health(hub)[(URL, "live")]
    assert down["flowscope_source_up"] == 0.0
    assert down["flowscope_source_poll_errors_total"] == 2.0  # the discovery and the job's poll
    assert poller.error and "recorded:8081" in poller.error


def test_a_round_that_reads_nothing_changes_nothing() -> None:
    health = SourceHealth()
    health.record(reads=0, failures=0)
    assert health.state() == (False, 0, None)
    health.record(reads=3, failures=1)
    assert health.state() == (False, 1, None)
    health.record(reads=0, failures=0)
    assert health.state()[:2] == (False, 1)


def test_credentials_in_a_cluster_url_stay_out_of_the_labels() -> None:
    hub = Hub()
    hub.sources.append(SourceInfo("c0", "live", "https://user:secret@jobmanager:8081"))
    assert list(_health(hub)) == [("https://jobmanager:8081", "live")]
