"""A watching session: samples of one job from a live cluster or a recording, in order.

`LiveSession` polls a cluster (recording every poll if asked); `ReplaySession` reads a
recording through the same collector. Both yield `(graph, sample)` pairs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx

from flowscope.errors import FlowscopeError, RecordingError
from flowscope.model import JobGraph, Sample
from flowscope.recording import RecordedTransport, Recorder, Recording, RecordingTransport
from flowscope.sources.rest import FlinkRestSource, JobSummary


class LiveSession:
    """Polls one job of a live cluster every `interval_s` seconds."""

    def __init__(
        self,
        url: str,
        job: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        record_to: str | Path | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.recorder = Recorder(record_to, url) if record_to else None
        inner = transport or httpx.HTTPTransport()
        if self.recorder:
            inner = RecordingTransport(inner, self.recorder)
        self.source = FlinkRestSource(url, headers=headers, timeout_s=timeout_s, transport=inner)
        try:
            self.job: JobSummary = self.source.select_job(job)
        except FlowscopeError:
            self.close()
            raise
        # TaskManagers to take a thread dump of with each poll (set by the diagnosis loop).
        self.thread_dump_tms: list[str] = []
        # Vertex ids whose flame graphs to read with each poll (also set by the diagnosis loop).
        self.flamegraph_vertices: list[str] = []

    def poll(self) -> tuple[JobGraph, Sample]:
        try:
            graph, sample = self.source.poll(
                self.job.id, self.thread_dump_tms, self.flamegraph_vertices
            )
        except FlowscopeError:
            if self.recorder:
                self.recorder.discard_pending()
            raise
        if self.recorder:
            self.recorder.commit_poll(sample.t, self.job.id)
        return graph, sample

    def samples(
        self,
        interval_s: float = 2.0,
        duration_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[tuple[JobGraph, Sample]]:
        start = time.monotonic()
        while True:
            began = time.monotonic()
            yield self.poll()
            if duration_s is not None and time.monotonic() - start >= duration_s:
                return
            sleep(max(0.0, interval_s - (time.monotonic() - began)))

    def close(self) -> None:
        self.source.close()
        if self.recorder:
            self.recorder.close()


class ReplaySession:
    """Replays a recording of one job through the REST collector."""

    def __init__(self, path: str | Path, job: str | None = None) -> None:
        self.recording = Recording(path)
        jobs = self.recording.job_ids()
        if not jobs:
            self.recording.close()
            raise RecordingError(f"{path} holds no polls")
        if job is None:
            self.job_id = jobs[-1]
        else:
            matches = [j for j in jobs if j.startswith(job)]
            if len(matches) != 1:
                self.recording.close()
                raise RecordingError(
                    f"{path} holds jobs {', '.join(j[:8] for j in jobs)}; {job!r} matches "
                    f"{len(matches)}"
                )
            self.job_id = matches[0]
        self.polls = self.recording.polls(self.job_id)
        self._transport = RecordedTransport(self.recording)
        self._t = self.polls[0].t
        self.source = FlinkRestSource(
            self.polls[0].url or "http://recording", transport=self._transport,
            clock=lambda: self._t,
        )

    def samples(self) -> Iterator[tuple[JobGraph, Sample]]:
        for poll in self.polls:
            self._transport.poll_id = poll.id
            self._t = poll.t
            try:
                yield self.source.poll(
                    self.job_id,
                    self.recording.thread_dumps_at(poll.id),
                    self.recording.flamegraphs_at(poll.id),
                )
            except FlowscopeError as exc:
                raise RecordingError(
                    f"{self.recording.path}: poll {poll.id} cannot be replayed: {exc}"
                ) from None

    def close(self) -> None:
        self.source.close()
        self.recording.close()
