"""Profile runs captured from a real cluster by scripts/capture_profiling_fixtures.py.

Each fixture holds every REST request of one `flowscope profile` run and its raw response, in
order. `Capture.transport()` replays them to a FlinkRestSource: each path answers with its
recorded responses in turn (the last one again once they run out), so the same collector and
analysis code runs offline on real data.
"""

from __future__ import annotations

import json
import lzma
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "profiling"


@dataclass
class Capture:
    meta: dict[str, Any]
    responses: list[tuple[str, int, Any, float]]  # path, status, body, epoch seconds

    @property
    def job_id(self) -> str:
        return str(self.meta["job_id"])

    @property
    def captured_at(self) -> float:
        return float(self.meta["captured_at"])

    @property
    def profile(self) -> list[tuple[str, int, Any, float]]:
        """The responses of the profile phase (after the diagnosis polls)."""
        return self.responses[int(self.meta.get("profile_from", 0)):]

    def bodies(self, contains: str) -> list[Any]:
        """Every body of the profile phase whose request path contains `contains`, in order."""
        return [body for path, _, body, _ in self.profile if contains in path]

    def paths(self, contains: str) -> list[str]:
        return [path for path, _, _, _ in self.profile if contains in path]

    def transport(self) -> ReplayTransport:
        return ReplayTransport(self.responses)

    def thread_dump_rounds(self) -> Iterator[list[tuple[str, Any]]]:
        """The profile's thread dumps grouped in rounds (one dump per TaskManager each)."""
        current: list[tuple[str, Any]] = []
        for path, _, body, _ in self.profile:
            if not path.endswith("/thread-dump"):
                continue
            tm = unquote(path.split("/")[2])
            if any(t == tm for t, _ in current):
                yield current
                current = []
            current.append((tm, body))
        if current:
            yield current


class ReplayTransport(httpx.BaseTransport):
    """Answers each path with its recorded responses in order, repeating the last."""

    def __init__(self, responses: list[tuple[str, int, Any, float]]) -> None:
        self.switch(responses)
        self.requests = 0

    def switch(self, responses: list[tuple[str, int, Any, float]]) -> None:
        """Answer from these responses from now on (the next phase of the run)."""
        self.queues: dict[str, list[tuple[int, Any]]] = {}
        for path, status, body, _ in responses:
            self.queues.setdefault(path, []).append((status, body))
        self.served: dict[str, int] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        path = request.url.raw_path.decode()
        queue = self.queues.get(path)
        if not queue and "?get=" in path:
            return self._by_name(path)
        if not queue:
            return httpx.Response(404, json={"errors": [f"not captured: {path}"]})
        i = self.served.get(path, 0)
        self.served[path] = i + 1
        status, body = queue[min(i, len(queue) - 1)]
        return httpx.Response(status, json=body)

    def _by_name(self, path: str) -> httpx.Response:
        """A metric request in another grouping than the captured ones: Flink answers with
        the named metrics that exist, so answer from the newest captured answers of the path
        (as flowscope.recording.RecordedTransport does for recordings)."""
        base, _, query = path.partition("?get=")
        wanted = set(unquote(query).split(","))
        items: dict[str, Any] = {}
        for captured, queue in self.queues.items():
            if captured.startswith(base + "?get="):
                i = self.served.get(captured, 0)
                status, body = queue[min(max(i - 1, 0), len(queue) - 1)]
                for item in body if status == 200 and isinstance(body, list) else []:
                    items[item.get("id")] = item
        return httpx.Response(200, json=[v for k, v in items.items() if k in wanted])


@cache
def load(name: str) -> Capture:
    path = FIXTURES / f"{name}.json.xz"
    if not path.exists():
        pytest.fail(f"missing fixture {path}: run scripts/capture_profiling_fixtures.py {name}")
    data = json.loads(lzma.decompress(path.read_bytes()))
    return Capture(data["meta"], [(p, s, b, t) for p, s, b, t in data["responses"]])


@dataclass
class Replayed:
    """A captured run replayed: the diagnosis polls done, the profile's requests to come."""

    source: Any  # the FlinkRestSource of the polls, now answering the profile's requests
    transport: ReplayTransport  # ... through this transport (it counts them from here)
    graph: Any
    samples: list[Any]


def replay_polls(capture: Capture) -> Replayed:
    """The diagnosis polls of a captured run, through the real collector (each poll asks for
    the same thread dumps and flame graphs as the live one did), and a source for the profile
    requests that followed them."""
    from flowscope.flink.rest import FlinkRestSource

    cut = int(capture.meta["profile_from"])
    polls, profile = capture.responses[:cut], capture.responses[cut:]
    now = [capture.captured_at]
    transport = ReplayTransport(polls)
    source = FlinkRestSource("http://replay", transport=transport, clock=lambda: now[0])
    job_path = f"/jobs/{capture.job_id}"
    starts = [i for i, (path, *_) in enumerate(polls) if path == job_path] + [len(polls)]
    graph, samples = None, []
    for a, b in pairwise(starts):
        paths = [path for path, *_ in polls[a:b]]
        dumps = list(dict.fromkeys(unquote(p.split("/")[2]) for p in paths
                                   if p.endswith("/thread-dump")))
        flames = list(dict.fromkeys(p.split("/")[4] for p in paths if "/flamegraph?" in p))
        now[0] = polls[a][3]
        graph, sample = source.poll(capture.job_id, thread_dumps=dumps, flamegraphs=flames)
        samples.append(sample)
    # The same source goes on (its cached graph and metric names, as in the live run).
    transport.switch(profile)
    transport.requests = 0
    return Replayed(source, transport, graph, samples)


def replay_profile(name: str, **options: Any) -> tuple[Capture, Any]:
    """A captured `flowscope profile` run replayed whole: its diagnosis polls, then the
    profile itself on a clock that moves only when the profiler sleeps. Returns the capture
    and the ProfileReport."""
    from flowscope.analysis.engine import diagnose
    from flowscope.profiler import ProfileOptions, profile_job

    cap = load(name)
    r = replay_polls(cap)
    d = diagnose(r.graph, r.samples)
    now = [cap.profile[0][3]]

    def clock() -> float:
        return now[0]

    def sleep(s: float) -> None:
        now[0] += s

    opts = ProfileOptions(thread_samples=cap.meta["thread_dump_rounds"], **options)
    return cap, profile_job(r.source, r.graph, r.samples, d, options=opts, clock=clock,
                            sleep=sleep)
