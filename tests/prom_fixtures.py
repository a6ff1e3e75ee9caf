"""Prometheus answers about lab runs, recorded by scripts/record_prometheus_fixtures.py.

Each fixture holds every answer flowscope's Prometheus source got from a real Prometheus
scraping a real cluster's PrometheusReporter, the HistoryServer's answers for the job's graph,
and (in `<scenario>.fsrec`) the REST poller's recording of the same run.
"""

from __future__ import annotations

import json
import lzma
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx

from flowscope.flink.historyserver import job_graph
from flowscope.flink.prometheus import History, PrometheusSource
from flowscope.model import JobGraph

FIXTURES = Path(__file__).parent / "fixtures" / "prometheus"
PROM_URL = "http://prometheus.recorded:9090"
HISTORY_URL = "http://historyserver.recorded:8082"


class Capture(httpx.BaseTransport):
    """Passes requests on and keeps each answer by its path and query: what `Replay` serves
    back (the recording scripts write fixtures with it)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.answers: dict[str, list[Any]] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = self.inner.handle_request(request)
        body = resp.read()
        self.answers[request.url.raw_path.decode("ascii")] = [resp.status_code, body.decode()]
        # read() has decoded the body already: a gzip header would have it decoded twice.
        headers = [(k, v) for k, v in resp.headers.items()
                   if k.lower() not in ("content-encoding", "content-length")]
        return httpx.Response(resp.status_code, headers=headers, content=body, request=request)


class Replay(httpx.BaseTransport):
    """Answers each request with the recorded answer to the same path and query."""

    def __init__(self, answers: dict[str, list[Any]]) -> None:
        self.answers = answers
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = request.url.raw_path.decode("ascii")
        self.paths.append(key)
        if key not in self.answers:
            raise LookupError(f"not recorded: {key}")
        status, body = self.answers[key]
        return httpx.Response(status, content=body.encode(), request=request,
                              headers={"content-type": "application/json"})


class PromFixture:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(lzma.decompress(path.read_bytes()))

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self.data["meta"])

    @property
    def job_id(self) -> str:
        return str(self.meta["job_id"])

    def read(self, name: str = "window") -> tuple[float, float]:
        start, end = self.meta["reads"][name]
        return float(start), float(end)

    def transport(self) -> Replay:
        return Replay(self.data["prometheus"])

    def source(self) -> PrometheusSource:
        return PrometheusSource(PROM_URL, transport=self.transport())

    def history(self, read: str = "window") -> History:
        start, end = self.read(read)
        with self.source() as src:
            return src.history(src.select_job(self.job_id, start, end), start, end)

    @cached_property
    def graph(self) -> JobGraph:
        """The job graph as the HistoryServer served it after the job was cancelled."""
        return job_graph(HISTORY_URL, self.job_id, transport=Replay(self.data["history"]))

    @property
    def rest_recording(self) -> Path:
        return self.path.parent / str(self.meta["rest"])


def prom_fixture(name: str) -> PromFixture:
    import pytest

    path = FIXTURES / f"{name}.json.xz"
    if not path.exists():
        pytest.fail(f"missing fixture {path}: run scripts/record_prometheus_fixtures.py")
    return PromFixture(path)
