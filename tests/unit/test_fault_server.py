"""The fault-injecting replay server (tests/faults) does what the fault tests rely on: it
serves a real recording as a live JobManager, each fault kind reaches a plain HTTP client as
that fault, runs are reproducible from their seed, and the scenarios change the cluster
consistently. Also the damage helpers (tests/faults/mutate.py)."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowscope.flink.rest import FlinkRestSource
from tests.conftest import fixture_path
from tests.faults import mutate
from tests.faults.mutate import Mutation
from tests.faults.replay import Replay
from tests.faults.server import REQUEST_FAULTS, FaultServer


def _leaves(doc: Any) -> int:
    if isinstance(doc, dict):
        return sum(1 + _leaves(v) for v in doc.values())
    if isinstance(doc, list):
        return sum(1 + _leaves(v) for v in doc)
    return 0


def _get(client: httpx.Client, path: str) -> httpx.Response | Exception:
    try:
        return client.get(path)
    except httpx.HTTPError as exc:
        return exc


# -- each fault kind, as a raw client sees it -------------------------------------------------

@pytest.mark.parametrize("kind", REQUEST_FAULTS)
def test_a_raw_client_sees_each_fault(kind: str) -> None:
    # The plan is recorded once per job: the clean body to compare with does not move on.
    with FaultServer("skew", faults=[kind], rate=1.0, stall_s=3.0, slow_s=0.4) as server:
        path = f"/jobs/{server.job_id}/plan"
        real = json.loads(server.replay.answer(path).body)
        with httpx.Client(base_url=server.url, timeout=1.5) as client:
            began = time.monotonic()
            got = _get(client, path)
            took = time.monotonic() - began
        assert server.faults_injected == {kind: 1} and server.requests == 1
    if kind == "stall":
        assert isinstance(got, httpx.ReadTimeout)
        return
    if kind in ("reset", "close", "short_body"):
        assert isinstance(got, httpx.ReadError | httpx.RemoteProtocolError), got
        if kind == "short_body":
            assert "complete message body" in str(got)
        return
    assert isinstance(got, httpx.Response), got
    body = got.content
    if kind == "slow":
        assert took >= 0.4 and got.json() == real
    elif kind in ("http_500", "http_503"):
        assert got.status_code == int(kind[-3:]) and got.json()["errors"]
    elif kind == "html":
        assert got.headers["content-type"].startswith("text/html") and b"<html>" in body
    elif kind == "wrong_content_type":
        assert "json" not in got.headers["content-type"] and got.json() == real
    elif kind == "null_body":
        assert body == b"null"
    elif kind == "empty_json":
        assert body == b"" and got.status_code == 200
    elif kind in ("truncated_json", "invalid_json"):
        with pytest.raises(ValueError):
            json.loads(body)
        if kind == "truncated_json":
            assert json.dumps(real, separators=(",", ":")).encode().startswith(body)
    else:  # the structural kinds: still JSON, not the same
        doc = json.loads(body)
        assert doc != real
        if kind == "dropped_keys":
            assert _leaves(doc) < _leaves(real)
    if kind not in ("http_500", "http_503"):
        assert got.status_code == 200


def test_faults_follow_the_rate_and_repeat_with_the_seed() -> None:
    def pattern(seed: int) -> list[str | None]:
        with FaultServer("skew", faults=["http_500", "http_503"], rate=0.2, seed=seed) as s:
            with httpx.Client(base_url=s.url) as client:
                for _ in range(200):
                    client.get(f"/jobs/{s.job_id}/checkpoints")
            return [r.fault for r in s.log]

    first, again, other = pattern(1), pattern(1), pattern(2)
    assert first == again and first != other
    assert 20 <= sum(f is not None for f in first) <= 60  # 20% of 200, give or take


# -- the replay -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["http_500", "stall"])
def test_scope_job_breaks_every_read_of_the_job_and_nothing_else(kind: str) -> None:
    with FaultServer("skew", faults=[kind], rate=1.0, scope="job", stall_s=2.0) as server:
        job = f"/jobs/{server.job_id}"
        with httpx.Client(base_url=server.url, timeout=1.0) as client:
            listing = client.get("/jobs/overview")
            others = client.get("/taskmanagers")
            broken = [_get(client, path) for path in (job, f"{job}/plan")]
        assert listing.status_code == 200 and server.job_id in listing.text
        assert others.status_code == 200
        for got in broken:
            if kind == "stall":
                assert isinstance(got, httpx.ReadTimeout)
            else:
                assert isinstance(got, httpx.Response) and got.status_code == 500
        assert server.faults_injected == {kind: 2}


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer("skew", start=12, advance="request") as s:
        yield s


def test_the_collector_reads_the_replay_as_a_live_job(server: FaultServer) -> None:
    with FlinkRestSource(server.url) as source:
        job = source.select_job("flowscope-skew")
        assert job.id == server.job_id and job.state == "RUNNING"
        samples = [source.poll(job.id)[1] for _ in range(3)]
    assert [server.replay.index()] == [12 + 3 - 1]  # one poll per request for the job
    assert all(s.job_state == "RUNNING" and len(s.subtasks) == 4 for s in samples)
    # Timestamps follow the wall clock: the job started a while before now, not last year.
    assert samples[0].uptime_s is not None and 0 < samples[0].uptime_s < 120
    busy = [st.values.get("busy_ms") for st in samples[-1].subtasks.values() for st in st]
    assert all(b is not None for b in busy)


def test_unknown_paths_and_jobs_are_not_found(server: FaultServer) -> None:
    for path in ("/nope", "/jobs/0123456789abcdef0123456789abcdef"):
        resp = httpx.get(server.url + path)
        assert resp.status_code == 404 and resp.json()["errors"][0].startswith("Not found")


def test_metric_queries_not_recorded_answer_with_what_is_known(server: FaultServer) -> None:
    vertex = next(iter(server.replay.recorded_parallelism))
    path = f"/jobs/{server.job_id}/vertices/{vertex}/metrics?get=1.busyTimeMsPerSecond,1.nope"
    body = httpx.get(server.url + path).json()
    assert [i["id"] for i in body] == ["1.busyTimeMsPerSecond"]
    assert float(body[0]["value"]) >= 0


def test_writes_are_refused_and_noted(server: FaultServer) -> None:
    assert httpx.post(server.url + "/jobs/overview").status_code == 405
    assert [r.method for r in server.log] == ["POST"]


def test_an_outage_refuses_connections_then_the_job_has_moved_on() -> None:
    with FaultServer("skew", start=12, speed=20.0) as server:  # a poll every ~0.3 s
        assert httpx.get(server.url + "/jobs/overview").status_code == 200
        before = server.replay.index()
        server.outage(0.6)
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/jobs/overview")
        deadline = time.monotonic() + 10  # a timer thread, late on a busy machine
        while not server.up and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.get(server.url + "/jobs/overview").status_code == 200
        assert server.replay.index() > before and server.downtime_s >= 0.55


def test_a_restart_comes_back_on_the_same_port_or_another() -> None:
    with FaultServer("skew") as server:
        port = server.port
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/jobs/overview").status_code == 200
            server.restart(0.2)
            assert server.port == port
            assert client.get("/jobs/overview").status_code == 200  # a new connection
        server.restart(0.1, same_port=False, new_job=True)
        assert server.port != port
        jobs = httpx.get(server.url + "/jobs/overview").json()["jobs"]
        assert [j["state"] for j in jobs] == ["RUNNING", "CANCELED"]


def test_a_rescale_changes_every_view_of_the_job_consistently(server: FaultServer) -> None:
    with FlinkRestSource(server.url) as source:
        graph, _ = source.poll(server.job_id)
        assert {v.parallelism for v in graph.vertices} == {2}
        server.rescale()
        graph, sample = source.poll(server.job_id)
    assert {v.parallelism for v in graph.vertices} == {3}
    for subtasks in sample.subtasks.values():
        assert [s.index for s in subtasks] == [0, 1, 2]
        # The new subtask's gauges come from the metric queries, answered for index 2 too.
        assert subtasks[2].values.get("busy_ms_per_s") == subtasks[0].values.get(
            "busy_ms_per_s")


def test_a_replaced_job_keeps_its_name_under_a_new_id(server: FaultServer) -> None:
    old = server.job_id
    new = server.replace_job()
    with FlinkRestSource(server.url) as source:
        jobs = {j.id: j for j in source.jobs()}
        assert {j.name for j in jobs.values()} == {"flowscope-skew"}
        assert jobs[old].state == "CANCELED" and jobs[new].state == "RUNNING"
        assert source.select_job("flowscope-skew").id == new
        assert source.poll(old)[1].job_state == "CANCELED"
        fresh = source.poll(new)[1]
    assert fresh.job_state == "RUNNING" and fresh.uptime_s is not None and fresh.uptime_s < 60
    assert server.replay.job_at(time.time()) == new


def test_replay_with_a_mode_runs_the_scenario_after_the_first_request() -> None:
    with FaultServer("skew", mode="replace_job", mode_at=0.2) as server:
        time.sleep(0.4)
        assert server.scenarios == []  # no request yet: its clock has not started
        old = server.job_id
        httpx.get(server.url + "/jobs/overview")
        time.sleep(0.5)
        assert server.job_id != old and server.scenarios[0][1].startswith("job replaced")


# -- damage helpers ---------------------------------------------------------------------------

def test_mutations_are_deterministic_and_do_what_they_say() -> None:
    doc = {"vertices": [{"id": "a", "parallelism": 2, "metrics": {"busy": "12.5"}}]}
    for op in mutate.OPS:
        once = mutate.apply(doc, Mutation(op, 3, 1))
        assert once == mutate.apply(doc, Mutation(op, 3, 1))
    assert mutate.apply(doc, Mutation("drop", 0))[0] == {}
    assert mutate.apply(doc, Mutation("null", 0))[0] is None
    huge, _ = mutate.apply(doc, Mutation("huge", 0, 4))
    assert huge["vertices"][0]["parallelism"] == 10**400
    nan, _ = mutate.apply(doc, Mutation("nan", 1, 0))
    assert nan["vertices"][0]["metrics"]["busy"] == "NaN"
    assert doc == {"vertices": [{"id": "a", "parallelism": 2, "metrics": {"busy": "12.5"}}]}


def test_corrupt_text_never_parses() -> None:
    rng = random.Random(3)
    body = json.dumps({"a": [1, 2, {"b": "c"}]}).encode()
    for _ in range(200):
        with pytest.raises(ValueError):
            json.loads(mutate.corrupt_text(body, rng))
        with pytest.raises(ValueError):
            json.loads(mutate.truncate_text(body, rng))


def _polls(path: Path) -> int | str:
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM polls").fetchone()[0])
    except sqlite3.Error as exc:
        return str(exc)


def test_a_copy_taken_mid_write_lacks_what_its_wal_held(tmp_path: Path) -> None:
    src = tmp_path / "small.fsrec"
    mutate.trimmed_copy(fixture_path("skew"), src, 6)
    assert _polls(src) == 6
    with_wal, without = tmp_path / "with.fsrec", tmp_path / "without.fsrec"
    mutate.copy_mid_write(src, with_wal, checkpointed=2, with_wal=True)
    mutate.copy_mid_write(src, without, checkpointed=2, with_wal=False)
    assert _polls(with_wal) == 6 and _polls(without) == 2
    nothing = tmp_path / "nothing.fsrec"
    mutate.copy_mid_write(src, nothing, checkpointed=0, with_wal=False)
    assert _polls(nothing) == 0


def test_file_damage_changes_the_copy_only(tmp_path: Path) -> None:
    src = tmp_path / "small.fsrec"
    mutate.trimmed_copy(fixture_path("skew"), src, 4)
    original = src.read_bytes()
    for how in mutate.FILE_DAMAGE:
        if how.startswith("wal_"):
            continue
        copy = tmp_path / f"{how}.fsrec"
        copy.write_bytes(original)
        what = mutate.damage(copy, how, random.Random(how))
        assert copy.read_bytes() != original, what
    assert src.read_bytes() == original


def test_the_fixture_is_never_written(server: FaultServer) -> None:
    before = fixture_path("skew").stat().st_mtime_ns
    Replay(fixture_path("skew")).answer("/jobs/overview")
    assert fixture_path("skew").stat().st_mtime_ns == before
