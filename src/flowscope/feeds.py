"""What `watch` draws from: a recording paced by its times, a live job, or a past window
from Prometheus followed by the live job. Each feed yields (graph, sample or None) and keeps a
one-line `status`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from flowscope.analysis.findings import Diagnosis
from flowscope.errors import FlowscopeError
from flowscope.model import JobGraph, Sample
from flowscope.sampling import LiveSession, ReplaySession


class ReplayFeed:
    """A recording's samples, paced by their times / `speed` (0: no delay)."""

    def __init__(self, path: str, job: str | None, speed: float) -> None:
        self.session, self.speed = ReplaySession(path, job), speed
        self.status = f"replay x{speed:g}" if speed else "replay"

    def items(self, wait: Callable[[float], None]) -> Iterator[tuple[JobGraph, Sample | None]]:
        prev_t: float | None = None
        for graph, sample in self.session.samples():
            if prev_t is not None and self.speed > 0:
                wait((sample.t - prev_t) / self.speed)
            prev_t = sample.t
            yield graph, sample
        self.status = "end of recording"

    def steer(self, d: Diagnosis) -> None:
        """A recording was read as it was recorded: nothing to steer."""

    def close(self) -> None:
        self.session.close()


class LiveFeed:
    """A live job's samples every `interval` s; a failed poll yields None and a status."""

    def __init__(self, url: str, job: str | None, headers: dict[str, str],
                 record_to: str | None, interval: float, duration_s: float | None = None
                 ) -> None:
        started = time.monotonic()
        self.session = LiveSession(
            url, job, headers=headers, record_to=record_to, interval_s=interval,
            deadline=None if duration_s is None else started + duration_s)
        self.interval, self.status = interval, ""

    def items(self, wait: Callable[[float], None]) -> Iterator[tuple[JobGraph, Sample | None]]:
        graph: JobGraph | None = None
        said = 0
        while True:
            began = time.monotonic()
            sample: Sample | None = None
            try:
                graph, sample = self.session.poll()
                self.status = f"live, every {self.interval:g} s"
            except FlowscopeError as exc:  # keep watching through a hiccup
                self.status = f"poll failed: {exc}"
            if len(self.session.switches) > said:
                said = len(self.session.switches)
                self.status = self.session.switches[-1]
            if self.session.failed:
                self.status += f" · {self.session.failed} poll(s) missed"
            if graph is not None:
                yield graph, sample
            wait(max(0.0, self.interval - (time.monotonic() - began)))

    def steer(self, d: Diagnosis) -> None:
        """Read what the newest diagnosis looks at closely in detail from the next poll on."""
        self.session.steer(d)

    def close(self) -> None:
        self.session.close()


class PastThenLiveFeed:
    """A past window's samples (from Prometheus) at once, then the live job's polls: a view
    that starts with the last hour and goes on live."""

    def __init__(self, past: list[Sample], graph: JobGraph, live: LiveFeed, said: str) -> None:
        self.past, self.graph, self.live = past, graph, live
        self.status = said

    def items(self, wait: Callable[[float], None]) -> Iterator[tuple[JobGraph, Sample | None]]:
        for past in self.past:
            yield self.graph, past
        for graph, sample in self.live.items(wait):
            self.status = self.live.status
            yield graph, sample

    def steer(self, d: Diagnosis) -> None:
        self.live.steer(d)

    def close(self) -> None:
        self.live.close()
