"""What `watch` draws from: a recording paced by its times, a live job, or a past window
from Prometheus followed by the live job. Each feed yields (graph, sample), either None while
polls fail (the graph too before any poll succeeded), and keeps a one-line `status`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from flowscope.analysis.findings import Diagnosis
from flowscope.deadline import Deadline
from flowscope.errors import PollsFailed
from flowscope.model import JobGraph, Sample
from flowscope.sampling import LiveSession, ReplaySession


class ReplayFeed:
    """A recording's samples, paced by their times / `speed` (0: no delay)."""

    def __init__(self, path: str, job: str | None, speed: float) -> None:
        self.session, self.speed = ReplaySession(path, job), speed
        self.status = f"replay x{speed:g}" if speed else "replay"
        self.name = self.session.job_id

    def items(self, wait: Callable[[float], None]
              ) -> Iterator[tuple[JobGraph | None, Sample | None]]:
        prev_t: float | None = None
        for graph, sample in self.session.samples():
            if prev_t is not None and self.speed > 0:
                wait((sample.t - prev_t) / self.speed)
            prev_t = sample.t
            yield graph, sample
        self.status = "end of recording"

    def steer(self, d: Diagnosis) -> None:
        """A recording was read as it was recorded: nothing to steer."""

    def all_failed(self) -> PollsFailed | None:
        """A recording makes no polls."""
        return None

    def close(self) -> None:
        self.session.close()


class LiveFeed:
    """A live job's samples every `interval` s until `deadline`; a failed poll yields a None
    sample (and a None graph until a poll has succeeded) and says so in `status`."""

    def __init__(self, url: str, job: str | None, headers: dict[str, str],
                 record_to: str | None, interval: float, deadline: Deadline | None = None
                 ) -> None:
        self.session = LiveSession(url, job, headers=headers, record_to=record_to,
                                   interval_s=interval, deadline=deadline)
        self.interval, self.status = interval, ""
        self.name = self.session.job.name

    def items(self, wait: Callable[[float], None]
              ) -> Iterator[tuple[JobGraph | None, Sample | None]]:
        graph: JobGraph | None = None
        said = 0
        for r in self.session.rounds(sleep=wait):  # ends at the deadline, whatever the polls do
            if r.graph is not None:
                graph = r.graph
                self.status = f"live, every {self.interval:g} s"
            else:  # keep watching through a hiccup
                self.status = f"poll failed: {r.error}"
            if len(self.session.switches) > said:
                said = len(self.session.switches)
                self.status = self.session.switches[-1]
            if self.session.failed:
                self.status += (f" · {self.session.failed} of {self.session.polls} poll(s) "
                                "missed")
            yield graph, r.sample

    def steer(self, d: Diagnosis) -> None:
        """Read what the newest diagnosis looks at closely in detail from the next poll on."""
        self.session.steer(d)

    def all_failed(self) -> PollsFailed | None:
        """When every poll failed: the error that says so."""
        return self.session.all_failed()

    def close(self) -> None:
        self.session.close()


class PastThenLiveFeed:
    """A past window's samples (from Prometheus) at once, then the live job's polls: a view
    that starts with the last hour and goes on live."""

    def __init__(self, past: list[Sample], graph: JobGraph, live: LiveFeed, said: str) -> None:
        self.past, self.graph, self.live = past, graph, live
        self.status = said
        self.name = live.name

    def items(self, wait: Callable[[float], None]
              ) -> Iterator[tuple[JobGraph | None, Sample | None]]:
        for past in self.past:
            yield self.graph, past
        for graph, sample in self.live.items(wait):
            self.status = self.live.status
            yield graph or self.graph, sample

    def steer(self, d: Diagnosis) -> None:
        self.live.steer(d)

    def all_failed(self) -> PollsFailed | None:
        """When every live poll failed (the history was read): the error that says so."""
        return self.live.all_failed()

    def close(self) -> None:
        self.live.close()
