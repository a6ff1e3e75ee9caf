"""What the dashboard shows: every job of every source, each with a bounded history of samples.

A source is a recording (`--from`, read once at start) or a live cluster (`--url`). Each live
cluster gets one poller thread that discovers its running jobs, polls each of them through a
`LiveSession` every `interval_s` seconds (GET requests only) and keeps the last `history`
samples per job in memory. The web app reads feeds from request threads, so a feed hands out
copies taken under its lock. With a `Deadline` (serve --duration), no poll or request outlives
it, and `failures()` says which jobs (or job lists) were never read.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from flowscope import journal
from flowscope.analysis.engine import DEFAULT_WINDOW_S, diagnose
from flowscope.analysis.findings import Diagnosis
from flowscope.analysis.timeline import TimelineStep, task_timeline
from flowscope.budget import history_samples
from flowscope.deadline import Deadline
from flowscope.errors import FlowscopeError, PollsFailed, RecordingError
from flowscope.flink.rest import FlinkRestSource, JobSummary
from flowscope.model import JobGraph, Sample
from flowscope.recording import Recording
from flowscope.sampling import LiveSession, load_recording

# Jobs of a live cluster are looked up again this often (seconds), to follow new submissions.
REDISCOVER_S = 15.0
# Jobs of one cluster polled at the same time: each poll is mostly round trips to the
# JobManager (and a big job's poll takes seconds), so one slow job no longer delays the rest.
MAX_PARALLEL_POLLS = 4
TICK_S = 0.2  # how often the poller looks for finished polls and jobs that are due
ACTIVE_STATES = ("RUNNING", "CREATED", "INITIALIZING", "RESTARTING")


class JobFeed:
    """One job's graph, samples (oldest first, at most `history`) and current diagnosis."""

    def __init__(self, key: str, source: SourceInfo, job_id: str, name: str,
                 history: int | None, window_s: float) -> None:
        self.key = key
        self.source = source
        self.job_id = job_id
        self.name = name
        self.window_s = window_s
        self.version = 0  # bumped on every new sample
        self.error: str | None = None
        self.polling = source.kind == "live"
        self.polls_ok = self.polls_failed = 0  # live polls of the job
        self._lock = threading.Lock()
        self._graph: JobGraph | None = None
        self._samples: deque[Sample] = deque(maxlen=history)
        self._history = history
        self._latest: Diagnosis | None = None
        self._timeline: tuple[int, list[TimelineStep]] | None = None
        # Changes `flowscope tune --apply` journaled for this job, for its timeline.
        self.marks: list[journal.Mark] = []

    def add(self, graph: JobGraph, samples: Sequence[Sample]) -> None:
        """Append samples and re-diagnose the newest window."""
        with self._lock:
            self._graph = graph
            if samples:  # a big job keeps fewer samples (flowscope.budget)
                keep = history_samples(samples[-1], self._history)
                if keep != self._samples.maxlen:
                    self._samples = deque(self._samples, maxlen=keep)
            self._samples.extend(samples)
            self.error = None
            snapshot = list(self._samples)
        d = diagnose(graph, snapshot, window_s=self.window_s)
        with self._lock:
            self._latest = d
            self.version += 1

    def fail(self, message: str) -> None:
        with self._lock:
            self.error = message
            self.version += 1

    def polled(self, error: str | None) -> None:
        """Count one live poll of the job: it failed with `error`, or (None) succeeded."""
        with self._lock:
            if error is None:
                self.polls_ok += 1
            else:
                self.polls_failed += 1
        if error is not None:
            self.fail(error)

    def snapshot(self) -> tuple[JobGraph | None, list[Sample], int]:
        with self._lock:
            return self._graph, list(self._samples), self.version

    @property
    def latest(self) -> Diagnosis | None:
        """The diagnosis over the newest `window_s` seconds (None before the first sample)."""
        with self._lock:
            return self._latest

    def diagnosis_at(self, t: float | None) -> Diagnosis | None:
        """The diagnosis as it stood at epoch second `t` (the newest one for None)."""
        if t is None:
            return self.latest
        graph, samples, _ = self.snapshot()
        upto = [s for s in samples if s.t <= t + 1e-6] or samples[:1]
        if graph is None or not upto:
            return None
        return diagnose(graph, upto, window_s=self.window_s)

    def timeline(self) -> list[TimelineStep]:
        """Per-interval task states over the kept history (cached per version)."""
        graph, samples, version = self.snapshot()
        cached = self._timeline
        if cached is not None and cached[0] == version:
            return cached[1]
        steps = task_timeline(graph, samples) if graph is not None else []
        self._timeline = (version, steps)
        return steps


class SourceHealth:
    """Whether flowscope could read a source, for the exporter's `flowscope_source_*` series.

    A live source is read once per poll round (a discovery when due, then one poll per job);
    a recording once, when it is loaded.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the poller writes, scrapes read
        self.up = False
        self.reads = 0  # reads (a discovery or one job's poll) since start
        self.errors = 0  # failed reads since start
        self.last_success_t: float | None = None  # epoch seconds of the last clean round

    def record(self, reads: int, failures: int) -> None:
        """One round of `reads` requests, `failures` of which failed (a round that read
        nothing, e.g. no job followed and no discovery due, changes nothing)."""
        if reads == 0:
            return
        with self._lock:
            self.reads += reads
            self.errors += failures
            self.up = failures == 0
            if self.up:
                self.last_success_t = time.time()

    def state(self) -> tuple[bool, int, float | None]:
        with self._lock:
            return self.up, self.errors, self.last_success_t


@dataclass(frozen=True)
class SourceInfo:
    """Where jobs come from: `kind` is "live" (a cluster URL) or "recording" (a file)."""

    id: str
    kind: str
    label: str
    # Mutable on purpose (the dataclass freezes the reference only); not part of identity.
    health: SourceHealth = field(default_factory=SourceHealth, compare=False, repr=False)


class LivePoller:
    """Polls the running jobs of one cluster from a background thread."""

    def __init__(self, info: SourceInfo, url: str, job: str | None,
                 headers: Mapping[str, str], hub: Hub, interval_s: float,
                 transport: httpx.BaseTransport | None = None,
                 past: tuple[str, float] | None = None,
                 deadline: Deadline | None = None) -> None:
        self.info = info
        self.deadline = deadline or Deadline()
        # (Prometheus URL, epoch seconds): each job found starts with its history since then.
        self.past = past
        self.transport = transport  # a seam: tests replay recorded answers through it
        self.url = url
        self.job = job
        self.headers = dict(headers)
        self.hub = hub
        self.interval_s = interval_s
        self.error: str | None = None
        self._sessions: dict[str, LiveSession] = {}
        self._inflight: dict[str, Future[JobPoll]] = {}
        self._pool = ThreadPoolExecutor(MAX_PARALLEL_POLLS, thread_name_prefix=f"poll {url}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poll {url}", daemon=True)
        self._overview = FlinkRestSource(url, headers=self.headers, transport=transport)
        self._overview.http.until = self.deadline
        self._discovered_at = -REDISCOVER_S
        # Reads of the job list: how many answered, how many failed, and the last error.
        self.lists_ok = self.lists_failed = 0
        self.list_error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)
        self._pool.shutdown(wait=True, cancel_futures=True)
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
        self._overview.close()

    def wanted(self, jobs: list[JobSummary]) -> list[JobSummary]:
        """The running jobs this source follows: all of them, or those `--job` selects (by id
        or by a case-insensitive part of the name)."""
        running = [j for j in jobs if j.state in ACTIVE_STATES]
        if self.job is None:
            return running
        sel = self.job.lower()
        return [j for j in running if j.id == self.job or sel in j.name.lower()]

    def discover(self) -> None:
        """Start following jobs that appeared since the last look."""
        self._discovered_at = time.monotonic()
        try:
            listed = self._overview.jobs()
        except FlowscopeError as exc:
            self.lists_failed += 1
            self.list_error = str(exc)
            raise
        self.lists_ok += 1
        jobs = self.wanted(listed)
        self.error = None if jobs else (
            f"no running job matches {self.job!r}" if self.job else "no running job"
        )
        for j in jobs:
            key = f"{self.info.id}-{j.id}"
            if key in self._sessions or self.hub.feed(key) is not None:
                continue  # followed already, or a job that ended (ids are never reused)
            self._sessions[key] = LiveSession(self.url, j, headers=self.headers,
                                              transport=self.transport,
                                              interval_s=self.interval_s,
                                              deadline=self.deadline)
            feed = JobFeed(key, self.info, j.id, j.name, self.hub.history, self.hub.window_s)
            if self.past is not None:
                self._seed(feed, j.id)
            self.hub.add_feed(feed)

    def _seed(self, feed: JobFeed, job_id: str) -> None:
        """The job's history since `past` from Prometheus, before its first poll."""
        from flowscope.postmortem import read_past

        prometheus, since = self.past or ("", 0.0)
        try:
            past = read_past(prometheus, job_id, since, time.time(), graph_url=self.url,
                             headers=self.headers)
        except FlowscopeError as exc:
            feed.fail(f"no history from Prometheus: {exc}")
            return
        feed.add(past.graph, past.samples)

    def poll_once(self) -> None:
        """One round: a discovery when due, then every followed job polled once (several at
        a time), waiting for them all."""
        reads, failures = self._discover_if_due()
        futures = [self._submit(key, session) for key, session in list(self._sessions.items())]
        r, f = self._settle([x for x in futures if x is not None], wait=True)
        self.info.health.record(reads + r, failures + f)

    def _discover_if_due(self) -> tuple[int, int]:
        if time.monotonic() - self._discovered_at < REDISCOVER_S:
            return 0, 0
        try:
            self.discover()
        except FlowscopeError as exc:
            self.error = str(exc)
            return 1, 1
        return 1, 0

    def _submit(self, key: str, session: LiveSession) -> Future[JobPoll] | None:
        feed = self.hub.feed(key)
        if feed is None or key in self._inflight or self.deadline.passed():
            return None
        future = self._pool.submit(self._poll_job, key, session, feed)
        self._inflight[key] = future
        return future

    @staticmethod
    def _poll_job(key: str, session: LiveSession, feed: JobFeed) -> JobPoll:
        """One job's poll and diagnosis (in a pool thread); what the next poll reads in detail
        follows from the diagnosis, as in `diagnose` and `watch`."""
        try:
            graph, sample = session.poll()
        except FlowscopeError as exc:
            feed.polled(str(exc))
            return JobPoll(key, ok=False, ended=False)
        feed.polled(None)
        feed.add(graph, [sample])
        latest = feed.latest
        if latest is not None:
            session.steer(latest)
        return JobPoll(key, ok=True, ended=sample.job_state not in ACTIVE_STATES)

    def _settle(self, futures: list[Future[JobPoll]], *, wait: bool) -> tuple[int, int]:
        """The finished polls' outcome (all of `futures` when `wait`): reads and failures; a
        job that ended stops being polled."""
        done = list(futures) if wait else [x for x in futures if x.done()]
        reads = failures = 0
        for future in done:
            result = future.result()
            self._inflight.pop(result.key, None)
            reads += 1
            failures += 0 if result.ok else 1
            if result.ended:
                feed = self.hub.feed(result.key)
                if feed is not None:
                    feed.polling = False
                session = self._sessions.pop(result.key, None)
                if session is not None:
                    session.close()
                # A job that ended may have been resubmitted (a new id): look at once.
                self._discovered_at = -REDISCOVER_S
        return reads, failures

    def _run(self) -> None:
        """Each job on its own interval: a slow job's poll does not hold the others back
        (at most MAX_PARALLEL_POLLS polls at a time)."""
        due: dict[str, float] = {}
        while not self._stop.is_set() and not self.deadline.passed():
            now = time.monotonic()
            try:
                reads, failures = self._discover_if_due()
                for key, session in list(self._sessions.items()):
                    if due.get(key, 0.0) <= now and self._submit(key, session) is not None:
                        due[key] = now + self.interval_s
                r, f = self._settle(list(self._inflight.values()), wait=False)
                self.info.health.record(reads + r, failures + f)
            except Exception:  # a bug must not silently stop the live view
                self.error = "internal error while polling (see the server's log)"
                self.info.health.record(1, 1)
                traceback.print_exc(file=sys.stderr)
                self._inflight.clear()
            for key in [k for k in due if k not in self._sessions]:
                del due[key]
            soonest = min((t for k, t in due.items() if k not in self._inflight),
                          default=now + self.interval_s)
            self._stop.wait(min(max(0.0, soonest - time.monotonic()), TICK_S))


@dataclass(frozen=True)
class JobPoll:
    """How one job's poll went."""

    key: str
    ok: bool
    ended: bool


class Hub:
    """Every source and job feed the dashboard serves."""

    def __init__(self, *, window_s: float = DEFAULT_WINDOW_S, history: int | None = 900,
                 interval_s: float = 2.0, deadline: Deadline | None = None) -> None:
        self.deadline = deadline or Deadline()  # serve --duration: every poll ends by it
        self.window_s = window_s
        self.history = history
        self.interval_s = interval_s
        self.sources: list[SourceInfo] = []
        self.pollers: dict[str, LivePoller] = {}
        self._feeds: dict[str, JobFeed] = {}
        self._lock = threading.Lock()
        self.journal_marks: list[journal.Mark] = []  # from `serve --journal`

    def add_feed(self, feed: JobFeed) -> None:
        add_marks(feed, self.journal_marks)
        with self._lock:
            self._feeds[feed.key] = feed

    def feed(self, key: str) -> JobFeed | None:
        with self._lock:
            return self._feeds.get(key)

    def feeds(self) -> list[JobFeed]:
        with self._lock:
            return list(self._feeds.values())

    def versions(self) -> tuple[tuple[str, int, str | None], ...]:
        """A cheap fingerprint of everything: changes whenever any feed or source does."""
        feeds = tuple((f.key, f.version, f.error) for f in self.feeds())
        errors = tuple((k, 0, p.error) for k, p in self.pollers.items())
        return feeds + errors

    def add_recording(self, path: str | Path, job: str | None = None) -> SourceInfo:
        """Load every job of a recording (or the one `job` selects)."""
        info = SourceInfo(f"r{len(self.sources)}", "recording", Path(path).name)
        with Recording(path) as rec:
            job_ids = rec.job_ids()
            marks = journal.marks(journal.parse(e for _, e in rec.journal()))
        feeds = []
        for job_id in job_ids:
            graph, samples = load_recording(path, job_id)
            wanted = job is None or job_id.startswith(job) or job.lower() in graph.name.lower()
            if not wanted:
                continue
            feed = JobFeed(f"{info.id}-{job_id}", info, job_id, graph.name, None, self.window_s)
            feed.add(graph, samples)
            add_marks(feed, marks)
            feeds.append(feed)
        if not feeds:
            raise RecordingError(f"{path} holds no job matching {job!r}" if job else
                                 f"{path} holds no polls")
        for feed in feeds:
            self.add_feed(feed)
        info.health.record(1, 0)
        self.sources.append(info)
        return info

    def add_journal(self, path: str | Path) -> None:
        """Mark the changes a tune journal holds on their jobs' timelines (the jobs known
        now, and those discovered later: marks are kept by job id)."""
        self.journal_marks.extend(journal.marks(journal.read(path)))
        for feed in self.feeds():
            add_marks(feed, self.journal_marks)

    def add_live(self, url: str, job: str | None = None,
                 headers: Mapping[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None,
                 past: tuple[str, float] | None = None) -> SourceInfo:
        """Follow a cluster's running jobs. The first look happens here; when the cluster does
        not answer yet, the source is shown as down and the poller keeps trying (a service
        starts before, or during an outage of, what it watches). `past`: (Prometheus URL,
        epoch seconds) to start each job with its history since then."""
        info = SourceInfo(f"c{len(self.sources)}", "live", url.rstrip("/"))
        poller = LivePoller(info, url, job, headers or {}, self, self.interval_s, transport,
                            past, self.deadline)
        try:
            poller.discover()
        except FlowscopeError as exc:
            poller.error = str(exc)
            poller._discovered_at = -REDISCOVER_S  # try again with the first poll round
            info.health.record(1, 1)
        else:
            info.health.record(1, 0)
        self.sources.append(info)
        self.pollers[info.id] = poller
        return info

    def start(self) -> None:
        for poller in self.pollers.values():
            poller.start()

    def failures(self) -> list[PollsFailed]:
        """What was polled and never read: each live source whose job list never answered,
        each live job whose every poll failed."""
        out = []
        for poller in self.pollers.values():
            if poller.lists_failed and not poller.lists_ok:
                out.append(PollsFailed(f"the job list at {poller.url}", poller.lists_failed,
                                       poller.lists_failed, self.deadline.elapsed(),
                                       poller.list_error or ""))
        for feed in self.feeds():
            if feed.polls_failed and not feed.polls_ok:
                out.append(PollsFailed(repr(feed.name), feed.polls_failed, feed.polls_failed,
                                       self.deadline.elapsed(), feed.error or ""))
        return out

    def read_any(self) -> bool:
        """Whether any job has samples (a recording's, or a live poll that succeeded)."""
        return any(feed.snapshot()[1] for feed in self.feeds())

    def stop(self) -> None:
        for poller in self.pollers.values():
            poller.stop()


def add_marks(feed: JobFeed, marks: Sequence[journal.Mark]) -> None:
    """Give a feed the marks of its job that it does not have yet, oldest first."""
    mine = [m for m in marks if m.job_id == feed.job_id and m not in feed.marks]
    if mine:
        feed.marks = sorted(feed.marks + mine, key=lambda m: m.t)
