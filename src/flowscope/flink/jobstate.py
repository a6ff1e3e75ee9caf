"""Reads what a job's checkpoints and failures say, a few requests per poll.

Besides `/jobs/:jid/checkpoints` (counts and history, every poll), a poll may ask for:
  - `GET /jobs/:jid/checkpoints/config`      the interval, timeout, tolerated failures, the
                                            state backend and checkpoint storage: once per
                                            job (again every CONFIG_RETRY_POLLS polls while
                                            it cannot be read: checkpointing off, an error)
  - `GET /jobs/:jid/checkpoints/details/:id` and `.../details/:id/subtasks/:vid`
                                            per-vertex and per-subtask sync, async, alignment
                                            and start delay of the newest completed and the
                                            newest failed checkpoint, read once per checkpoint
                                            id and at most CHECKPOINT_REQUESTS_PER_POLL
                                            requests per poll (a checkpoint's details take a
                                            few polls; the subtasks of CHECKPOINT_VERTICES
                                            vertices, those that tell most, are read)
  - `GET /jobs/:jid/exceptions?maxExceptions=N`  the exception history, when a subtask's
                                            attempt number rises or the job restarted, and
                                            every EXCEPTIONS_EVERY_POLLS polls otherwise

Every decision follows the answers and the count of polls, never the wall clock, so that a
replay of a recording makes the requests the live polls made. A request that fails leaves the
sample without that part (the poll stands); the details of a checkpoint are asked again on
the next polls, up to CHECKPOINT_ATTEMPTS times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from flowscope.errors import FlowscopeError
from flowscope.flink import answers
from flowscope.model import (
    Checkpoint,
    CheckpointConfig,
    CheckpointStats,
    CheckpointVertex,
    Failures,
)

CHECKPOINT_REQUESTS_PER_POLL = 3
CHECKPOINT_VERTICES = 4
CHECKPOINT_ATTEMPTS = 3
CONFIG_RETRY_POLLS = 60
EXCEPTIONS_EVERY_POLLS = 30
EXCEPTIONS_MAX = 10
# Checkpoints whose details are kept (newest ids): enough for the newest completed and failed.
KEEP_DETAILS = 6
# Statuses after which a checkpoint never changes (its details can be cached by id).
TERMINAL = frozenset({"COMPLETED", "FAILED"})

Get = Callable[[str], Any]


@dataclass
class _Reading:
    """A checkpoint whose details are being read, over one or more polls."""

    cp_id: int
    details: Checkpoint | None = None
    todo: list[str] = field(default_factory=list)
    got: dict[str, CheckpointVertex] = field(default_factory=dict)
    failures: int = 0


@dataclass
class _Job:
    polls: int = 0
    config: CheckpointConfig | None = None
    config_asked: int | None = None  # poll number of the last attempt
    details: dict[int, Checkpoint] = field(default_factory=dict)
    reading: _Reading | None = None
    seen: dict[int, Checkpoint] = field(default_factory=dict)  # shared between polls
    failures: Failures | None = None
    failures_asked: int | None = None
    failures_attempt: int = -1
    failures_restart: float | None = None


class JobStateReader:
    """The checkpoint and failure reads of one source's jobs (see the module docstring)."""

    def __init__(self) -> None:
        self._jobs: dict[str, _Job] = {}

    def begin(self, job_id: str) -> None:
        """Count a poll of the job: called once by every poll that reaches the checkpoint
        read (after it the poll completes, whatever its requests answer), so that a replay of
        the recorded polls counts the same."""
        self._jobs.setdefault(job_id, _Job()).polls += 1

    def checkpoints(self, job_id: str, get: Get, overview: Any) -> CheckpointStats:
        """`overview` (`/jobs/:jid/checkpoints`) read into stats, with the config and the
        details read so far; makes this poll's share of the config and details requests."""
        job = self._jobs.setdefault(job_id, _Job())
        stats = answers.checkpoint_stats(overview)
        self._read_config(job, job_id, get)
        if stats.history:
            self._read_details(job, job_id, get, stats.history)
        history = tuple(self._shared(job, c) for c in stats.history)
        return replace(stats, history=history, config=job.config)

    def failures(self, job_id: str, get: Get, t: float, attempt: int,
                 restarted_at: float | None) -> Failures | None:
        """The exception history as last read, read again now when the highest attempt
        number rose, the job restarted, or EXCEPTIONS_EVERY_POLLS polls passed."""
        job = self._jobs.setdefault(job_id, _Job())
        due = (job.failures_asked is None or attempt > job.failures_attempt
               or restarted_at != job.failures_restart
               or job.polls - job.failures_asked >= EXCEPTIONS_EVERY_POLLS)
        if due:
            job.failures_asked, job.failures_attempt = job.polls, attempt
            job.failures_restart = restarted_at
            try:
                body = get(f"/jobs/{job_id}/exceptions?maxExceptions={EXCEPTIONS_MAX}")
                job.failures = answers.job_exceptions(body, t, EXCEPTIONS_MAX)
            except FlowscopeError:
                pass  # the history read last stands; asked again when due
        return job.failures

    def _read_config(self, job: _Job, job_id: str, get: Get) -> None:
        if job.config is not None or (job.config_asked is not None
                                      and job.polls - job.config_asked < CONFIG_RETRY_POLLS):
            return
        job.config_asked = job.polls
        try:
            job.config = answers.checkpoint_config(get(f"/jobs/{job_id}/checkpoints/config"))
        except FlowscopeError:
            job.config = None  # checkpointing is off (Flink answers 404), or an error

    def _read_details(self, job: _Job, job_id: str, get: Get,
                      history: tuple[Checkpoint, ...]) -> None:
        budget = CHECKPOINT_REQUESTS_PER_POLL
        while budget > 0:
            if job.reading is None:
                wanted = [c.id for c in (_newest(history, "COMPLETED"), _newest(history, "FAILED"))
                          if c is not None and c.id not in job.details]
                if not wanted:
                    return
                job.reading = _Reading(max(wanted))
            reading = job.reading
            base = f"/jobs/{job_id}/checkpoints/details/{reading.cp_id}"
            try:
                budget -= 1
                if reading.details is None:
                    details = answers.checkpoint_entry(get(base))
                    if details is None:
                        raise FlowscopeError(f"{base} is not a checkpoint's details")
                    reading.details = details
                    reading.todo = answers.checkpoint_vertex_order(details)[:CHECKPOINT_VERTICES]
                elif reading.todo:
                    vid = reading.todo[0]
                    body = get(f"{base}/subtasks/{vid}")
                    reading.got[vid] = answers.checkpoint_vertex(
                        vid, body, answers.checkpoint_subtasks(body))
                    reading.todo.pop(0)
            except FlowscopeError:
                reading.failures += 1
                if reading.failures >= CHECKPOINT_ATTEMPTS:
                    self._finish(job, reading)
                return  # asked again with the next poll
            if reading.details is not None and not reading.todo:
                self._finish(job, reading)

    def _finish(self, job: _Job, reading: _Reading) -> None:
        """Keep a checkpoint's details (what could be read of them) and move on."""
        job.reading = None
        if reading.details is None:
            job.details[reading.cp_id] = Checkpoint(reading.cp_id, "")  # unreadable: done
        else:
            vertices = tuple(reading.got.get(v.vertex_id, v) for v in reading.details.vertices)
            job.details[reading.cp_id] = replace(reading.details, vertices=vertices)
        for old in sorted(job.details)[:-KEEP_DETAILS]:
            del job.details[old]

    def _shared(self, job: _Job, cp: Checkpoint) -> Checkpoint:
        """The history entry with its details when they were read; an entry equal to the
        one the poll before saw is that object (a long history holds one copy)."""
        detailed = job.details.get(cp.id)
        if detailed is not None and detailed.status == cp.status:
            return detailed
        if cp.status not in TERMINAL:
            return cp
        known = job.seen.get(cp.id)
        if known == cp:
            return known
        job.seen[cp.id] = cp
        for old in sorted(job.seen)[:-2 * KEEP_DETAILS]:
            del job.seen[old]
        return cp


def _newest(history: tuple[Checkpoint, ...], status: str) -> Checkpoint | None:
    return next((c for c in history if c.status == status), None)
