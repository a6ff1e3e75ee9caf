"""Reads the on-demand endpoints of a profile: flame graphs, thread dumps, checkpoint details,
the cluster's configuration.

Every wait is bounded (a deadline and a sample cap) and every request goes through
`FlinkRestSource.get`, so errors are one-line FlowscopeErrors and `source.requests` counts them.
`clock` and `sleep` are seams for tests. Nothing here changes the cluster: the flame graph
endpoint only starts Flink's own stack sampling (Flink caches the result for
`rest.flamegraph.refresh-interval`, 60 s by default), and thread dumps are read-only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flowscope.errors import FlinkApiError, FlowscopeError, JobNotFound
from flowscope.flink.rest import FlinkRestSource
from flowscope.flink.stacks import parse_flamegraph, parse_thread_dump
from flowscope.model import FlameGraph, ThreadSample

MAX_THREAD_DUMP_SAMPLES = 100
MAX_THREAD_DUMP_SECONDS = 120.0
DISABLED_HINT = (
    "flame graphs are disabled on this cluster: set `rest.flamegraph.enabled: true` in the "
    "JobManager's config.yaml and restart it (sampling then costs the task threads "
    "`rest.flamegraph.num-samples` stack traces, 100 by default, per request and minute)"
)


class ProfilingUnavailable(FlowscopeError):
    """The cluster cannot give what a profile asked for (disabled, too old, job ended)."""


@dataclass
class FlameGraphs:
    """The views of one stack sample of a vertex, and how long it took to get them."""

    views: dict[str, FlameGraph]
    waited_s: float
    requests: int
    stale: bool = False  # Flink kept answering with an old sample until the deadline


def fetch_flamegraphs(
    source: FlinkRestSource,
    job_id: str,
    vertex_id: str,
    kinds: Sequence[str] = ("on_cpu", "off_cpu"),
    *,
    timeout_s: float = 20.0,
    poll_s: float = 0.5,
    max_age_s: float = 60.0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> FlameGraphs:
    """Fetch a vertex's flame graph views, waiting (at most `timeout_s` seconds) for a sample
    younger than `max_age_s` seconds.

    The first request starts Flink's sampling; Flink answers with `endTimestamp` -3 (no
    sample yet) or with its cached older sample until the new one is ready, so this polls
    every `poll_s` seconds until `endTimestamp` changes. Raises ProfilingUnavailable when
    flame graphs are disabled, the endpoint does not exist, or the vertex has finished.
    """
    start = clock()
    deadline = start + timeout_s
    before = source.requests
    path = f"/jobs/{job_id}/vertices/{vertex_id}/flamegraph?type="

    def get(kind: str) -> FlameGraph:
        try:
            return parse_flamegraph(source.get(path + kind), kind)
        except JobNotFound:
            raise ProfilingUnavailable(
                f"{source.url} has no flame graph endpoint for vertex {vertex_id} of job "
                f"{job_id} (Flink before 1.13, or the job is gone)"
            ) from None

    first = get(kinds[0])
    if first.status == "disabled":
        raise ProfilingUnavailable(DISABLED_HINT)
    if first.status == "terminated":
        raise ProfilingUnavailable(f"vertex {vertex_id} has finished: nothing to sample")
    graph, initial, stale = first, first.end_timestamp_ms, False
    fresh = graph.status == "ready" and clock() * 1000 - graph.end_timestamp_ms <= max_age_s * 1e3
    while not fresh:
        if clock() >= deadline:
            if graph.status != "ready":
                raise ProfilingUnavailable(
                    f"no flame graph of vertex {vertex_id} within {timeout_s:g} s "
                    "(Flink samples every subtask num-samples times; try a longer timeout)"
                )
            stale = True
            break
        sleep(poll_s)
        graph = get(kinds[0])
        if graph.status == "disabled":
            raise ProfilingUnavailable(DISABLED_HINT)
        fresh = graph.status == "ready" and graph.end_timestamp_ms != initial
    views = {kinds[0]: graph}
    for kind in kinds[1:]:
        views[kind] = get(kind)
    return FlameGraphs(views, clock() - start, source.requests - before, stale)


@dataclass
class ThreadDumps:
    """Thread dumps: per round, (TaskManager id, its task threads)."""

    rounds: list[list[tuple[str, list[ThreadSample]]]]
    times: list[float]  # epoch seconds at the start of each round
    requests: int
    duration_s: float
    stopped_by: str  # "samples" | "deadline"
    failed: list[str] = field(default_factory=list)


def sample_thread_dumps(
    source: FlinkRestSource,
    taskmanagers: Sequence[str],
    *,
    samples: int = 20,
    delay_s: float = 0.1,
    max_duration_s: float = 30.0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> ThreadDumps:
    """Take up to `samples` rounds (<= 100) of thread dumps of `taskmanagers`, `delay_s`
    seconds apart, stopping at `max_duration_s` seconds (<= 120) whatever the count.

    A TaskManager that fails to answer is skipped for the rest of the run and named in
    `failed`; the other TaskManagers' rounds still count.
    """
    if not 1 <= samples <= MAX_THREAD_DUMP_SAMPLES:
        raise ValueError(f"samples must be 1..{MAX_THREAD_DUMP_SAMPLES}, not {samples}")
    if delay_s < 0:
        raise ValueError("delay_s must be >= 0")
    max_duration_s = min(max_duration_s, MAX_THREAD_DUMP_SECONDS)
    start = clock()
    deadline = start + max_duration_s
    before = source.requests
    live = list(dict.fromkeys(taskmanagers))
    failed: list[str] = []
    rounds: list[list[tuple[str, list[ThreadSample]]]] = []
    times: list[float] = []
    stopped_by = "samples"
    for i in range(samples):
        if i and clock() + delay_s >= deadline:
            stopped_by = "deadline"
            break
        if i and delay_s:
            sleep(delay_s)
        times.append(clock())
        this: list[tuple[str, list[ThreadSample]]] = []
        for tm in list(live):
            try:
                body = source.get(f"/taskmanagers/{quote(tm, safe='')}/thread-dump")
                this.append((tm, parse_thread_dump(body, tm)))
            except FlinkApiError:
                live.remove(tm)
                failed.append(tm)
        rounds.append(this)
        if not live:
            break
    return ThreadDumps(rounds, times, source.requests - before, clock() - start, stopped_by,
                       failed)


@dataclass
class CheckpointData:
    """Raw checkpoint responses: the overview and, per checkpoint id, details and subtasks."""

    overview: dict[str, Any]
    details: dict[int, dict[str, Any]]
    subtasks: dict[int, dict[str, dict[str, Any]]]  # checkpoint id -> vertex id -> response


def fetch_checkpoints(
    source: FlinkRestSource, job_id: str, vertex_ids: Sequence[str], max_checkpoints: int = 2
) -> CheckpointData:
    """The checkpoint overview and the per-subtask details of the newest checkpoints: the
    latest completed one and, when newer, the one in progress (under heavy backpressure a
    checkpoint may run for minutes). At most 2 + 2 x vertices requests besides the overview."""
    overview = source.get(f"/jobs/{job_id}/checkpoints")
    overview = overview if isinstance(overview, dict) else {}
    history = overview.get("history") or []
    chosen: list[int] = []
    for status in ("COMPLETED", "IN_PROGRESS"):
        for h in history:
            if h.get("status") == status and "id" in h:
                chosen.append(int(h["id"]))
                break
    chosen = sorted(set(chosen), reverse=True)[:max_checkpoints]
    details: dict[int, dict[str, Any]] = {}
    subtasks: dict[int, dict[str, dict[str, Any]]] = {}
    for cp in chosen:
        try:
            details[cp] = source.get(f"/jobs/{job_id}/checkpoints/details/{cp}")
            for vid in vertex_ids:
                subtasks.setdefault(cp, {})[vid] = source.get(
                    f"/jobs/{job_id}/checkpoints/details/{cp}/subtasks/{vid}"
                )
        except (FlinkApiError, JobNotFound):
            # Flink keeps a bounded history; a checkpoint can drop out between requests.
            continue
    return CheckpointData(overview, details, subtasks)


def fetch_cluster_config(source: FlinkRestSource) -> dict[str, str]:
    """The JobManager's configuration as key -> value (only keys set explicitly appear)."""
    body = source.get("/jobmanager/config")
    if not isinstance(body, list):
        return {}
    return {str(i.get("key")): str(i.get("value")) for i in body if isinstance(i, dict)}


def fetch_job_config(source: FlinkRestSource, job_id: str) -> dict[str, Any]:
    body = source.get(f"/jobs/{job_id}/config")
    return body if isinstance(body, dict) else {}
