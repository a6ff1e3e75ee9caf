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

    def bodies(self, contains: str) -> list[Any]:
        """Every recorded body whose request path contains `contains`, in order."""
        return [body for path, _, body, _ in self.responses if contains in path]

    def paths(self, contains: str) -> list[str]:
        return [path for path, _, _, _ in self.responses if contains in path]

    def transport(self) -> ReplayTransport:
        return ReplayTransport(self.responses)

    def thread_dump_rounds(self) -> Iterator[list[tuple[str, Any]]]:
        """The thread dumps grouped in rounds (one dump per TaskManager each)."""
        current: list[tuple[str, Any]] = []
        for path, _, body, _ in self.responses:
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
        self.queues: dict[str, list[tuple[int, Any]]] = {}
        for path, status, body, _ in responses:
            self.queues.setdefault(path, []).append((status, body))
        self.served: dict[str, int] = {}
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        path = request.url.raw_path.decode()
        queue = self.queues.get(path)
        if not queue:
            return httpx.Response(404, json={"errors": [f"not captured: {path}"]})
        i = self.served.get(path, 0)
        self.served[path] = i + 1
        status, body = queue[min(i, len(queue) - 1)]
        return httpx.Response(status, json=body)


@cache
def load(name: str) -> Capture:
    path = FIXTURES / f"{name}.json.xz"
    if not path.exists():
        pytest.fail(f"missing fixture {path}: run scripts/capture_profiling_fixtures.py {name}")
    data = json.loads(lzma.decompress(path.read_bytes()))
    return Capture(data["meta"], [(p, s, b, t) for p, s, b, t in data["responses"]])


def replay_polls(
    capture: Capture, transport: ReplayTransport | None = None
) -> tuple[Any, Any, list[Any]]:
    """The diagnosis polls of a captured run, through the real collector: returns the
    FlinkRestSource (positioned after the polls, for the profile requests that followed), the
    job graph and the samples."""
    from flowscope.sources.rest import FlinkRestSource

    now = [capture.captured_at]
    source = FlinkRestSource("http://replay", transport=transport or capture.transport(),
                             clock=lambda: now[0])
    times = [t for path, _, _, t in capture.responses if path == f"/jobs/{capture.job_id}"]
    graph, samples = None, []
    for t in times:
        now[0] = t
        graph, sample = source.poll(capture.job_id)
        samples.append(sample)
    return source, graph, samples
