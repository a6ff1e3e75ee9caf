"""Bounded polling of the flame graph and thread-dump endpoints, replayed from a real run."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from flowscope.flink.ondemand import (
    ProfilingUnavailable,
    fetch_checkpoints,
    fetch_flamegraphs,
    sample_thread_dumps,
)
from flowscope.flink.rest import FlinkRestSource
from tests.profiling_fixtures import ReplayTransport, load


class FakeClock:
    """Epoch seconds that move only when the code under test sleeps (or a request costs)."""

    def __init__(self, t: float, per_call: float = 0.0) -> None:
        self.t, self.per_call, self.slept = t, per_call, 0.0

    def __call__(self) -> float:
        self.t += self.per_call
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s
        self.slept += s


def source_for(responses) -> FlinkRestSource:
    return FlinkRestSource("http://replay", transport=ReplayTransport(responses))


def flame_part(name: str):
    cap = load(name)
    return cap, [r for r in cap.profile if "/flamegraph" in r[0]]


def test_polls_until_the_sample_is_ready():
    cap = load("chained")
    # Every on_cpu answer from the first request on (Flink: "sampling started" until the
    # sample is ready), then the off_cpu view of that sample.
    on = [r for r in cap.responses if "flamegraph?type=on_cpu" in r[0]]
    ready = next(i for i, r in enumerate(on) if r[2]["endTimestamp"] > 0)
    off = [r for r in cap.responses if "flamegraph?type=off_cpu" in r[0]][-1:]
    responses = on[: ready + 1] + off
    waiting = ready
    assert waiting >= 1  # Flink answered "sampling started" first
    clock = FakeClock(responses[0][3])
    vid = responses[0][0].split("/")[4]
    got = fetch_flamegraphs(source_for(responses), cap.job_id, vid, clock=clock,
                            sleep=clock.sleep, poll_s=0.5)
    assert got.views["on_cpu"].status == "ready" and got.views["off_cpu"].status == "ready"
    assert got.views["on_cpu"].end_timestamp_ms == got.views["off_cpu"].end_timestamp_ms
    assert got.requests == waiting + 2  # the waits, the ready on_cpu, the off_cpu view
    assert clock.slept == pytest.approx(0.5 * waiting)
    assert not got.stale


def test_gives_up_at_the_deadline():
    cap = load("chained")
    # The endpoint keeps answering "sampling started".
    only_waiting = [r for r in cap.responses if "flamegraph?type=on_cpu" in r[0]][:1]
    assert only_waiting[0][2]["endTimestamp"] == -3
    clock = FakeClock(only_waiting[0][3])
    vid = only_waiting[0][0].split("/")[4]
    source = source_for(only_waiting)
    with pytest.raises(ProfilingUnavailable, match="within 3 s"):
        fetch_flamegraphs(source, cap.job_id, vid, timeout_s=3.0, poll_s=0.5,
                          clock=clock, sleep=clock.sleep)
    assert source.requests <= 3.0 / 0.5 + 2
    assert clock.slept <= 3.0 + 0.5


def test_an_old_sample_is_polled_until_it_changes():
    cap, responses = flame_part("compute-bound")
    ready = [r for r in responses if "on_cpu" in r[0] and r[2]["endTimestamp"] > 0]
    clock = FakeClock(ready[-1][2]["endTimestamp"] / 1000 + 600)  # ten minutes later
    vid = ready[-1][0].split("/")[4]
    source = source_for([ready[-1]] + [r for r in responses if "off_cpu" in r[0]])
    got = fetch_flamegraphs(source, cap.job_id, vid, timeout_s=2.0, poll_s=0.5,
                            clock=clock, sleep=clock.sleep)
    assert got.stale  # Flink never refreshed it: returned, but marked stale


def test_thread_dumps_stop_at_the_sample_count():
    cap = load("off-cpu")
    dumps = [r for r in cap.profile if r[0].endswith("/thread-dump")]
    tms = sorted({unquote(r[0].split("/")[2]) for r in dumps})
    clock = FakeClock(dumps[0][3])
    source = source_for(dumps)
    got = sample_thread_dumps(source, tms, samples=5, delay_s=0.2, clock=clock,
                              sleep=clock.sleep)
    assert len(got.rounds) == 5 and got.stopped_by == "samples"
    assert got.requests == 5 * len(tms) == source.requests
    assert clock.slept == pytest.approx(4 * 0.2)


def test_thread_dumps_stop_at_the_deadline():
    cap = load("off-cpu")
    dumps = [r for r in cap.profile if r[0].endswith("/thread-dump")]
    tms = sorted({unquote(r[0].split("/")[2]) for r in dumps})
    clock = FakeClock(dumps[0][3], per_call=0.5)  # every clock read costs half a second
    got = sample_thread_dumps(source_for(dumps), tms, samples=100, delay_s=1.0,
                              max_duration_s=5.0, clock=clock, sleep=clock.sleep)
    assert got.stopped_by == "deadline"
    assert 1 <= len(got.rounds) < 5
    assert got.duration_s <= 5.0 + 1.0


@pytest.mark.parametrize("samples", [0, 101])
def test_thread_dump_count_is_bounded(samples):
    with pytest.raises(ValueError):
        sample_thread_dumps(source_for([]), ["tm"], samples=samples)


def test_checkpoint_details_are_fetched_for_every_vertex():
    cap = load("compute-bound")
    responses = [r for r in cap.profile if "/checkpoints" in r[0]]
    vids = sorted({p.rsplit("/", 1)[1] for p, *_ in responses if "/subtasks/" in p})
    # The overview is polled by the diagnosis too: start from the profile's own request.
    last_overview = max(i for i, r in enumerate(responses) if r[0].endswith("/checkpoints"))
    source = source_for(responses[last_overview:])
    got = fetch_checkpoints(source, cap.job_id, vids)
    assert got.details and all(set(got.subtasks[cp]) == set(vids) for cp in got.details)
    assert source.requests == 1 + len(got.details) * (1 + len(vids))


def test_disabled_flame_graphs_give_a_hint():
    cap = load("flamegraph-disabled")
    assert cap.meta["rest.flamegraph.enabled"] is False
    path = cap.paths("/flamegraph")[0]
    source = source_for(cap.responses)
    with pytest.raises(ProfilingUnavailable, match=r"rest\.flamegraph\.enabled: true"):
        fetch_flamegraphs(source, cap.job_id, path.split("/")[4])
    assert source.requests == 1  # no polling when the feature is off
