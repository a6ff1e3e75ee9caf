"""Reads what a rescale needs and leaves behind (GET only, through the read-only client):

  - `GET /jobs/:jid/resource-requirements`   each vertex's parallelism bounds; only Flink's
                                             adaptive scheduler answers it (the default one
                                             answers 500, UnsupportedOperationException)
  - `GET /jobs/:jid/rescales/history`         the adaptive scheduler's rescales, where
                                             `web.adaptive-scheduler.rescale-history.size` > 0
  - `GET /jobs/:jid`                          each vertex's parallelism and status now
  - `GET /overview`                           the cluster's free and total slots
  - `GET /jobmanager/config`                  the cluster's `jobmanager.scheduler`

Facts measured on Flink 2.3: ../docs/tune.md and FLINK-LAB.md, "Rescaling a running job".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from flowscope.errors import FlowscopeError
from flowscope.flink import answers
from flowscope.flink.http import RestClient


class Scheduler(StrEnum):
    """Whether the job's scheduler can change its parallelism while it runs."""

    ADAPTIVE = "adaptive"  # answers resource requirements: rescales in place
    DEFAULT = "default"  # does not: a change of parallelism is a savepoint and a restart


# What the resource-requirements endpoint answers when the job's scheduler cannot rescale it:
# 500 (the default scheduler's UnsupportedOperationException, measured on 2.3), 404 / 405 (a
# Flink without the endpoint, or a proxy that hides it).
NOT_ADAPTIVE_STATUS = frozenset({404, 405, 500, 501})


@dataclass(frozen=True)
class Bounds:
    """A vertex's parallelism bounds, as the adaptive scheduler holds them."""

    lower: int
    upper: int


@dataclass(frozen=True)
class Requirements:
    """The job's scheduler, and each vertex's bounds when it is the adaptive one."""

    scheduler: Scheduler
    bounds: dict[str, Bounds]  # vertex id -> bounds (empty for the default scheduler)


@dataclass(frozen=True)
class Rescale:
    """One rescale in the adaptive scheduler's history (times in epoch ms; None: open)."""

    id: str
    trigger: str  # INITIAL_SCHEDULE, UPDATE_REQUIREMENT, ...
    state: str | None  # COMPLETED, FAILED, IGNORED; None while in progress
    reason: str | None  # SUCCEEDED, ...
    start_ms: int | None
    end_ms: int | None

    @property
    def seconds(self) -> float | None:
        if self.start_ms is None or self.end_ms is None:
            return None
        return (self.end_ms - self.start_ms) / 1000.0


@dataclass(frozen=True)
class Slots:
    total: int
    free: int


def requirements(http: RestClient, job_id: str) -> Requirements:
    """The job's resource requirements, or Scheduler.DEFAULT when its scheduler has none."""
    try:
        body = http.get(f"/jobs/{job_id}/resource-requirements")
    except FlowscopeError as exc:
        if exc.status in NOT_ADAPTIVE_STATUS:
            return Requirements(Scheduler.DEFAULT, {})
        raise
    return Requirements(Scheduler.ADAPTIVE, parse_bounds(body))


def parse_bounds(body: object) -> dict[str, Bounds]:
    """`{vertexId: {"parallelism": {"lowerBound": L, "upperBound": U}}}` -> bounds."""
    out: dict[str, Bounds] = {}
    for vid, v in answers.as_dict(body).items():
        p = answers.as_dict(answers.as_dict(v).get("parallelism"))
        upper = answers.as_int(p.get("upperBound"), 0)
        if upper > 0:
            out[str(vid)] = Bounds(max(1, answers.as_int(p.get("lowerBound"), 1)), upper)
    return out


def rescale_history(http: RestClient, job_id: str) -> list[Rescale] | None:
    """The adaptive scheduler's rescales of the job, newest first; None where the history is
    not kept (another scheduler, or `web.adaptive-scheduler.rescale-history.size` 0)."""
    try:
        body = http.get(f"/jobs/{job_id}/rescales/history")
    except FlowscopeError as exc:
        if exc.status in NOT_ADAPTIVE_STATUS:
            return None
        raise
    out = []
    for r in answers.as_list(body):
        r = answers.as_dict(r)
        start = answers.as_int(r.get("startTimestampInMillis"), 0)
        end = answers.as_int(r.get("endTimestampInMillis"), 0)
        out.append(Rescale(
            id=answers.as_text(r.get("rescaleUuid")),
            trigger=answers.as_text(r.get("triggerCause")),
            state=answers.as_text(r.get("terminalState")) or None,
            reason=answers.as_text(r.get("terminatedReason")) or None,
            start_ms=start or None, end_ms=end or None))
    return out


def vertex_states(http: RestClient, job_id: str) -> tuple[str, dict[str, tuple[int, str]]]:
    """(job state, vertex id -> (parallelism, status)) now."""
    job = http.get(f"/jobs/{job_id}")
    return answers.job_state(job), {
        answers.as_text(v.get("id")): (answers.as_int(v.get("parallelism"), 1),
                                       answers.as_text(v.get("status")))
        for v in answers.job_vertices(job)}


def slots(http: RestClient) -> Slots | None:
    """The cluster's slots, from `/overview` (None when it does not say)."""
    body = answers.as_dict(http.get("/overview"))
    total = answers.as_int(body.get("slots-total"), -1)
    free = answers.as_int(body.get("slots-available"), -1)
    if total < 0 or free < 0:
        return None
    return Slots(total, free)


def configured_scheduler(http: RestClient) -> str | None:
    """The cluster's `jobmanager.scheduler` (None when not set: the default scheduler)."""
    for item in answers.as_list(http.get("/jobmanager/config")):
        item = answers.as_dict(item)
        if answers.as_text(item.get("key")) == "jobmanager.scheduler":
            return answers.as_text(item.get("value")) or None
    return None
