"""One deadline for a whole command (flowscope.deadline): loops stop at it, sleeps never pass
it, and the REST client gives no request more time than is left."""

from __future__ import annotations

import math
import time

import httpx
import pytest

from flowscope.deadline import GRACE_S, Deadline
from flowscope.errors import FlinkUnreachable, PollsFailed
from flowscope.flink.http import RestClient
from flowscope.sampling import LiveSession
from tests.faults.replay import Replay
from tests.faults.server import ERROR_500, fixture_file, is_job_path


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_deadline_counts_from_its_start() -> None:
    clock = FakeClock()
    d = Deadline(10.0, clock=clock)
    clock.now += 4.0
    assert d.left() == pytest.approx(6.0) and d.elapsed() == pytest.approx(4.0)
    assert not d.passed() and d.request_s() == pytest.approx(6.0 + GRACE_S)
    clock.now += 6.0
    assert d.passed() and d.request_s() == pytest.approx(GRACE_S)
    clock.now += 1.0
    assert d.request_s() == 0.0


def test_without_a_duration_there_is_no_end() -> None:
    d = Deadline(None)
    assert not d.bounded and d.left() == math.inf and not d.passed()


def test_within_only_narrows_and_keeps_the_start() -> None:
    clock = FakeClock()
    d = Deadline(10.0, clock=clock)
    clock.now += 3.0
    assert d.within(None) is d and d.within(20.0) is d
    narrower = d.within(5.0)
    assert narrower.left() == pytest.approx(2.0) and narrower.started == d.started
    assert Deadline(None, clock=clock).within(5.0).left() == pytest.approx(5.0)


def test_a_sleep_never_passes_the_end() -> None:
    clock = FakeClock()
    d = Deadline(3.0, clock=clock)
    assert d.sleep(2.0, clock.sleep)  # 1 s left after it
    assert not d.sleep(2.0, clock.sleep)  # cut to the 1 s left: the loop is over
    assert clock.now == pytest.approx(103.0)
    assert not d.sleep(2.0, clock.sleep) and clock.now == pytest.approx(103.0)


def test_the_client_asks_nothing_once_the_end_has_passed() -> None:
    clock = FakeClock()
    sent: list[httpx.Request] = []
    client = RestClient("http://flink.test", transport=httpx.MockTransport(
        lambda r: sent.append(r) or httpx.Response(200, json=[])))
    client.until = Deadline(5.0, clock=clock)
    clock.now += 5.0 + GRACE_S
    with pytest.raises(FlinkUnreachable, match="no time left"):
        client.get("/jobs/overview")
    assert sent == []


def test_each_request_gets_at_most_what_is_left() -> None:
    clock = FakeClock()
    timeouts: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        return httpx.Response(200, json=[])

    client = RestClient("http://flink.test", transport=httpx.MockTransport(answer),
                        timeout_s=10.0)
    client.until = Deadline(5.0, clock=clock)
    clock.now += 4.0
    client.get("/jobs/overview")
    assert timeouts and max(timeouts) <= 1.0 + GRACE_S


def _failing_job() -> httpx.MockTransport:
    """A JobManager (a real recording's answers) whose job list answers and whose every
    request for the job answers Flink's 500."""
    replay = Replay(fixture_file("compute-bound"), start=10)

    def answer(request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode("ascii")
        if is_job_path(raw):
            return httpx.Response(500, json=ERROR_500)
        got = replay.answer(raw)
        return httpx.Response(got.status, content=got.body,
                              headers={"content-type": got.content_type})

    return httpx.MockTransport(answer)


def test_a_loop_whose_polls_all_fail_ends_at_its_deadline_and_says_so() -> None:
    deadline = Deadline(1.0)
    session = LiveSession("http://flink.test", transport=_failing_job(), interval_s=0.2,
                          deadline=deadline)
    try:
        rounds = list(session.rounds())
    finally:
        session.close()
    # The bound a user is promised: the duration plus one request's timeout.
    assert deadline.passed() and deadline.elapsed() <= 1.0 + session.source.http.timeout_s
    assert rounds and all(r.sample is None and r.error for r in rounds)
    failed = session.all_failed()
    assert isinstance(failed, PollsFailed)
    assert failed.failed == failed.polls == len(rounds)
    assert "answered 500 to /jobs/" in failed.last_error
    assert str(failed).startswith(f"{len(rounds)} of {len(rounds)} polls of ")


def test_a_loop_with_a_poll_that_succeeded_has_not_all_failed() -> None:
    replay = Replay(fixture_file("compute-bound"), start=10)

    def answer(request: httpx.Request) -> httpx.Response:
        got = replay.answer(request.url.raw_path.decode("ascii"))
        return httpx.Response(got.status, content=got.body,
                              headers={"content-type": got.content_type})

    session = LiveSession("http://flink.test", transport=httpx.MockTransport(answer),
                          interval_s=0.2, deadline=Deadline(0.5))
    began = time.monotonic()
    try:
        rounds = list(session.rounds())
    finally:
        session.close()
    assert time.monotonic() - began <= 0.5 + session.source.http.timeout_s
    assert any(r.sample is not None for r in rounds)
    assert session.all_failed() is None
