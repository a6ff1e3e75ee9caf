"""The dashboard's web app over real recordings: JSON API, time cursor, token, headers,
server-sent events and the Prometheus exposition."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from flowscope.analysis import tiers
from flowscope.api import load_recording
from flowscope.errors import RecordingError
from flowscope.recording import RecordedTransport, Recording
from flowscope.web.app import create_app
from flowscope.web.hub import Hub, JobFeed, SourceInfo
from tests.conftest import fixture_path
from tests.recording_edit import copy_with_names

HOSTILE = '<script>alert("x")</script>\n"quoted" \\ back'


@pytest.fixture(scope="module")
def hub() -> Hub:
    h = Hub()
    h.add_recording(fixture_path("skew"))
    h.add_recording(fixture_path("healthy"))
    return h


@pytest.fixture(scope="module")
def client(hub: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(hub), base_url="http://127.0.0.1") as c:
        yield c


def _skew_key(client: TestClient) -> str:
    jobs = client.get("/api/jobs").json()["jobs"]
    return next(j["key"] for j in jobs if j["name"] == "flowscope-skew")


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_job_list_has_each_recording_with_its_verdict(client: TestClient) -> None:
    body = client.get("/api/jobs").json()
    assert [s["kind"] for s in body["sources"]] == ["recording", "recording"]
    by_name = {j["name"]: j for j in body["jobs"]}
    skew, healthy = by_name["flowscope-skew"], by_name["flowscope-healthy"]
    assert skew["verdict"] == "backpressured"
    necks = [(b["vertex_name"], b["cause"]) for b in skew["bottlenecks"]]
    assert necks == [("enrich", "data-skew")]
    assert healthy["verdict"] == "healthy" and healthy["bottlenecks"] == []
    assert skew["polls"] > 10 and skew["first_t"] < skew["last_t"]


def test_job_view_colours_tasks_like_flink_and_labels_edges(client: TestClient) -> None:
    view = client.get(f"/api/jobs/{_skew_key(client)}").json()
    vertices = {v["name"]: v for v in view["graph"]["vertices"]}
    enrich, parse = vertices["enrich"], vertices["parse"]
    assert enrich["bottleneck"] == "data-skew" and parse["bottleneck"] is None
    r, g, b = _rgb(enrich["fill"])
    assert r > 200 and g < 130 and b < 130, enrich["fill"]  # busy red
    assert parse["level"] == "HIGH"
    assert sum(_rgb(parse["stroke"])) < 3 * 90, parse["stroke"]  # dark: backpressured
    edges = {(e["source"], e["target"]): e for e in view["graph"]["edges"]}
    into_enrich = edges[(parse["id"], enrich["id"])]
    assert into_enrich["ship_strategy"] == "HASH"
    assert into_enrich["records_per_s"] > 100
    d = view["diagnosis"]
    assert d["schema"] == "flowscope.diagnosis/3" and d["bottlenecks"] == ["enrich"]
    task = next(t for t in d["tasks"] if t["name"] == "enrich")
    ins = sorted(s["records_in_per_s"] for s in task["subtasks"])
    assert ins[-1] > 4 * ins[0]  # the skew is visible per subtask
    assert view["times"] == sorted(view["times"]) and view["at"] is None


def test_cursor_moves_the_diagnosis_back_in_time(client: TestClient) -> None:
    key = _skew_key(client)
    now = client.get(f"/api/jobs/{key}").json()
    early = now["times"][1]
    then = client.get(f"/api/jobs/{key}", params={"at": early}).json()
    assert then["at"] == early
    assert then["diagnosis"]["t"] <= early + 1e-6
    assert then["diagnosis"]["confidence"] == "low"  # seconds after submission
    assert then["diagnosis"]["bottlenecks"] == []
    assert then["times"] == now["times"]


def test_bad_requests_are_refused(client: TestClient) -> None:
    key = _skew_key(client)
    assert client.get(f"/api/jobs/{key}", params={"at": "soon"}).status_code == 400
    assert client.get(f"/api/jobs/{key}", params={"at": "nan"}).status_code == 400
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.get("/api/jobs/nope/timeline").status_code == 404


def test_timeline_has_every_task_per_interval(client: TestClient) -> None:
    key = _skew_key(client)
    tl = client.get(f"/api/jobs/{key}/timeline").json()
    view = client.get(f"/api/jobs/{key}").json()
    assert len(tl["t"]) >= 4 and tl["t"] == sorted(tl["t"])
    assert set(tl["tasks"]) == {v["id"] for v in view["graph"]["vertices"]}
    enrich = next(v["id"] for v in view["graph"]["vertices"] if v["name"] == "enrich")
    for series in tl["tasks"][enrich].values():
        assert len(series) == len(tl["t"])
    assert tl["tasks"][enrich]["busy"][-1] > 0.9


def test_page_and_assets_are_served_with_security_headers(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    script_src = csp.split("script-src")[1].split(";")[0]
    assert "'self'" in script_src and "unsafe-inline" not in script_src
    assert page.headers["x-content-type-options"] == "nosniff"
    for src in ("static/vendor/dagre-3.1.3.min.js", "static/js/app.js", "static/flowscope.css"):
        assert src in page.text
        assert client.get("/" + src).status_code == 200


def test_foreign_host_header_is_refused(client: TestClient) -> None:
    """A page on another site that rebinds its DNS name to 127.0.0.1 cannot read the API."""
    assert client.get("/api/jobs", headers={"host": "evil.example"}).status_code == 400


def test_token_is_required_on_every_request(hub: Hub) -> None:
    token = "s3cret&/+x"
    with TestClient(create_app(hub, token=token), base_url="http://127.0.0.1") as c:
        for path in ("/", "/api/jobs", "/metrics", "/static/js/app.js", "/api/events"):
            assert c.get(path).status_code == 401, path
            assert c.get(path, params={"token": "wrong"}).status_code == 401, path
        assert c.get("/api/jobs", headers={"authorization": f"Bearer {token}"}).status_code == 200
        assert c.get("/metrics", headers={"authorization": "Bearer nope"}).status_code == 401
        page = c.get("/", params={"token": token})
        assert page.status_code == 200
        # The page's own scripts carry the token, URL-encoded.
        assert "static/js/app.js?token=s3cret%26%2F%2Bx" in page.text
        assert c.get("/static/js/app.js", params={"token": token}).status_code == 200


def test_metrics_flag_the_bottleneck_vertex_per_job(client: TestClient) -> None:
    resp = client.get("/metrics")
    assert resp.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(resp.text)}
    necks = {(s.labels["job_name"], s.labels["vertex"]): s for s in
             families["flowscope_task_bottleneck"].samples}
    flagged = necks[("flowscope-skew", "enrich")]
    assert flagged.value == 1.0 and flagged.labels["cause"] == "data-skew"
    assert necks[("flowscope-skew", "parse")].value == 0.0
    assert all(s.value == 0.0 for (job, _), s in necks.items() if job == "flowscope-healthy")
    verdicts = {(s.labels["job_name"], s.labels["verdict"]): s.value
                for s in families["flowscope_job_verdict"].samples}
    assert verdicts[("flowscope-skew", "backpressured")] == 1.0
    assert verdicts[("flowscope-healthy", "healthy")] == 1.0
    levels = {s.labels["vertex"]: s.value
              for s in families["flowscope_task_backpressure_level"].samples
              if s.labels["job_name"] == "flowscope-skew"}
    assert levels["parse"] == 2.0 and levels["enrich"] == 0.0
    busy = families["flowscope_task_busy_ratio"].samples
    assert {"job_id", "job_name", "vertex"} == set(busy[0].labels)  # per vertex, no subtask
    assert len({s.labels["vertex"] for s in busy if s.labels["job_name"] == "flowscope-skew"}) == 4


def test_metrics_labels_survive_hostile_names(tmp_path: Path) -> None:
    """Names with quotes, backslashes and newlines come back intact: the client escapes."""
    path = tmp_path / "hostile.fsrec"
    copy_with_names(fixture_path("skew"), path, {"enrich": HOSTILE, "flowscope-skew": HOSTILE})
    h = Hub()
    h.add_recording(path)
    with TestClient(create_app(h), base_url="http://127.0.0.1") as c:
        text = c.get("/metrics").text
        view = c.get(f"/api/jobs/{c.get('/api/jobs').json()['jobs'][0]['key']}").json()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    (flagged,) = [s for s in families["flowscope_task_bottleneck"].samples if s.value == 1.0]
    assert flagged.labels["vertex"] == HOSTILE and flagged.labels["job_name"] == HOSTILE
    assert HOSTILE in [v["name"] for v in view["graph"]["vertices"]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_events_push_a_new_sample_without_asking(tmp_path: Path) -> None:
    """A real server: the event stream sends the job list at once, and again when a feed
    gets a sample (here the recorded samples of a real run, handed over one by one)."""
    import uvicorn

    graph, samples = load_recording(fixture_path("skew"))
    h = Hub()
    feed = JobFeed("c0-job", SourceInfo("c0", "live", "http://flink"), graph.job_id, graph.name,
                   100, 60.0)
    feed.add(graph, samples[:30])
    h.add_feed(feed)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(h), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        events = []
        with httpx.stream("GET", f"http://127.0.0.1:{port}/api/events", timeout=10) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            for line in resp.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    if len(events) == 1:
                        feed.add(graph, samples[30:31])
                    else:
                        break
        assert [e["jobs"][0]["polls"] for e in events] == [30, 31]
        assert events[1]["jobs"][0]["version"] > events[0]["jobs"][0]["version"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowscope.cli", "serve", *args],
                          capture_output=True, text=True, timeout=60, env={"NO_COLOR": "1"})


def test_serve_with_an_unreachable_cluster_keeps_serving_and_says_it_is_down() -> None:
    """A service starts while its cluster is down, says so on /metrics, and stops on SIGTERM."""
    import signal
    import time

    import httpx

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "flowscope.cli", "serve", "--url",
                             "http://127.0.0.1:9", "--port", str(port), "--interval", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={"NO_COLOR": "1"})
    try:
        body = ""
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and "flowscope_source_up" not in body:
            time.sleep(0.5)
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except httpx.HTTPError:
                continue
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        up = [line for line in body.splitlines() if line.startswith("flowscope_source_up")]
        assert up and up[0].rstrip().endswith(" 0.0"), body
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_serve_refuses_a_file_that_is_not_a_recording(tmp_path: Path) -> None:
    bad = tmp_path / "x.fsrec"
    bad.write_text("not sqlite")
    run = _serve("--from", str(bad), "--port", str(_free_port()))
    assert run.returncode == 4 and "not a flowscope recording" in run.stderr


def test_serve_help_documents_every_option() -> None:
    out = _serve("--help").stdout
    for opt in ("--url", "--job", "--header", "--from", "--host", "--port", "--token",
                "FLOWSCOPE_TOKEN", "--interval", "--window", "--history"):
        assert opt in out


def test_job_selector_applies_to_recordings() -> None:
    h = Hub()
    h.add_recording(fixture_path("skew"), "SKEW")
    assert [f.name for f in h.feeds()] == ["flowscope-skew"]
    with pytest.raises(RecordingError, match="no job matching"):
        h.add_recording(fixture_path("healthy"), "skew")


def _serve_recorded(name: str) -> tuple[Hub, int]:
    """A hub following a recorded cluster, polled once per recorded poll (the answers a real
    cluster gave, through the HTTP transport seam); how many polls."""
    with Recording(fixture_path(name)) as rec:
        polls = rec.polls()
        transport = RecordedTransport(rec)
        transport.poll_id = polls[0].id
        h = Hub(interval_s=1.0)
        info = h.add_live("http://recorded:8081", name, transport=transport)
        poller = h.pollers[info.id]
        for p in polls:
            transport.poll_id = p.id
            poller.poll_once()
        poller.stop()
    return h, len(polls)


def test_live_poller_follows_a_cluster_through_its_recorded_answers() -> None:
    """The poller's discovery and polls, fed the answers a real cluster gave, poll after
    poll."""
    h, polls = _serve_recorded("skew")
    (feed,) = h.feeds()
    _, samples, version = feed.snapshot()
    assert feed.name == "flowscope-skew" and feed.polling and feed.error is None
    assert len(samples) == polls and version == polls
    d = feed.latest
    assert d is not None
    assert [(f.vertex_name, str(f.cause)) for f in d.bottlenecks] == [("enrich", "data-skew")]
    assert all(p.error is None for p in h.pollers.values())


def test_a_big_jobs_polls_read_in_detail_what_the_diagnosis_looks_at(monkeypatch) -> None:
    """Served as a big job is (every vertex aggregated until a diagnosis says where to look),
    the recorded skew job is read subtask by subtask around its bottleneck from the second
    poll on, and the skew is still told from a slow instance there."""
    monkeypatch.setattr(tiers, "DETAIL_ALL_UP_TO", 1)
    h, _ = _serve_recorded("skew")
    (feed,) = h.feeds()
    graph, samples, _ = feed.snapshot()
    assert graph is not None
    assert samples[0].detail_vertices == ()
    enrich = graph.by_name("enrich")
    assert enrich is not None
    read_closely = samples[-1].detail_vertices or ()
    assert enrich.id in read_closely and set(graph.upstream(enrich.id)) <= set(read_closely)
    d = feed.latest
    assert d is not None
    assert [(f.vertex_name, str(f.cause)) for f in d.bottlenecks] == [("enrich", "data-skew")]


def test_the_poller_keeps_polling_on_its_own_thread() -> None:
    with Recording(fixture_path("skew")) as rec:
        polls = rec.polls()
        transport = RecordedTransport(rec)
        transport.poll_id = polls[-1].id
        h = Hub(interval_s=0.2)
        info = h.add_live("http://recorded:8081", "skew", transport=transport)
        poller = h.pollers[info.id]
        poller.start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                feeds = h.feeds()
                if feeds and feeds[0].snapshot()[2] >= 3:
                    break
                time.sleep(0.05)
        finally:
            began = time.monotonic()
            poller.stop()
            stopped_in = time.monotonic() - began
    (feed,) = h.feeds()
    assert feed.snapshot()[2] >= 3 and feed.error is None
    assert info.health.state()[0] and stopped_in < 10
