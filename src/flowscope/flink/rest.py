"""Reads a job's state from Flink's REST API: the job graph, per-subtask metrics, TaskManagers.

Requests per poll are O(vertices + TaskManagers), not O(subtasks):
  - `GET /jobs/:jid`                          state, vertices, start time
  - `GET /jobs/:jid/vertices/:vid`            every subtask's accumulated busy/idle/backpressured
                                              time, records and bytes, attempt and TaskManager
  - `GET /jobs/:jid/vertices/:vid/metrics?get=<subtask>.<name>,...`
                                              every subtask's gauges in one request per vertex
                                              (split when the URL would pass Netty's ~4 KiB limit)
  - `GET /jobs/:jid/checkpoints`              checkpoint counts and the latest checkpoint
  - `GET /taskmanagers/:tm/metrics?get=...`   CPU, GC and heap of each TaskManager the job uses
Metric names are listed once per vertex (and again every `relist_s`) and resolved through
`metric_names`, because Flink answers a request that names a missing metric with less than asked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from flowscope.errors import FlinkApiError, FlinkUnreachable, JobNotFound
from flowscope.flink import metric_names as names
from flowscope.flink.stacks import failed_flamegraph, parse_flamegraph, parse_thread_dump
from flowscope.model import (
    CheckpointStats,
    Edge,
    FlameGraph,
    JobGraph,
    Quantity,
    Sample,
    SubtaskSample,
    TaskManagerSample,
    ThreadSample,
    Vertex,
)

# Requests in flight at once while polling: enough to hide round trips, few enough to be kind
# to a busy JobManager.
MAX_CONCURRENT = 4
# Netty's HttpObjectDecoder rejects request lines over 4096 bytes; keep the query below that.
MAX_QUERY_CHARS = 3000
LATENCY_QUANTILES = ("latency_median", "latency_p95", "latency_p99")
SKIP_OPERATOR_GROUPS = ("Shuffle.", "buffers.", "latency.")


@dataclass(frozen=True)
class JobSummary:
    id: str
    name: str
    state: str
    start_time_ms: int


@dataclass
class _VertexNames:
    """What a vertex's metric list holds, resolved to flowscope quantities."""

    task: dict[str, str]  # quantity -> Flink name
    operators: tuple[str, ...]
    # Latency metric names with their subtask prefix: each subtask reports only its own
    # `operator_subtask_index`, so names are kept per subtask.
    latency: tuple[str, ...]
    listed_at: float
    complete: bool

    @property
    def by_name(self) -> dict[str, str]:
        return {name: q for q, name in self.task.items()}


class FlinkRestSource:
    """A live Flink cluster, read through its REST API.

    `transport` and `clock` are seams: tests and recordings pass their own.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        relist_s: float = 60.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.clock = clock
        self.relist_s = relist_s
        self.requests = 0
        self._timeout_s = timeout_s
        self._client = httpx.Client(
            base_url=self.url,
            headers=dict(headers or {}),
            timeout=timeout_s,
            transport=transport,
            follow_redirects=True,
        )
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._graphs: dict[str, tuple[tuple[Any, ...], JobGraph]] = {}
        self._names: dict[tuple[str, str], _VertexNames] = {}
        self._tm_names: dict[str, dict[str, str]] = {}
        self._tm_cores: dict[str, float] = {}
        self._tm_hw_seen: set[str] = set()

    # -- HTTP ---------------------------------------------------------------------------------

    def get(self, path: str) -> Any:
        """GET a REST path and return the parsed JSON, or raise a one-line FlowscopeError."""
        with self._lock:
            self.requests += 1
        try:
            resp = self._client.get(path)
        except httpx.ConnectError as exc:
            raise FlinkUnreachable(
                f"cannot reach Flink at {self.url}: {_reason(exc)} (is the cluster running?)"
            ) from None
        except httpx.TimeoutException:
            raise FlinkUnreachable(
                f"Flink at {self.url} did not answer {path.split('?')[0]} within "
                f"{self._timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise FlinkUnreachable(f"request to {self.url} failed: {_reason(exc)}") from None
        if resp.status_code == 404 and path.startswith("/jobs/"):
            job = path.split("/")[2].split("?")[0]
            raise JobNotFound(f"Flink at {self.url} has no job {job} (404 on {path.split('?')[0]})")
        if resp.status_code >= 400:
            detail = _errors_of(resp)
            raise FlinkApiError(
                f"Flink at {self.url} answered {resp.status_code} to {path.split('?')[0]}"
                + (f": {detail}" if detail else "")
            )
        try:
            return resp.json()
        except ValueError:
            raise FlinkApiError(
                f"{self.url}{path.split('?')[0]} did not return JSON: is this Flink's REST API?"
            ) from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._client.close()

    def __enter__(self) -> FlinkRestSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs ---------------------------------------------------------------------------------

    def jobs(self) -> list[JobSummary]:
        """Every job the cluster knows, running first, newest first."""
        body = self.get("/jobs/overview")
        if not isinstance(body, dict) or "jobs" not in body:
            raise FlinkApiError(f"{self.url}/jobs/overview is not Flink's job overview")
        jobs = [
            JobSummary(j["jid"], j.get("name", ""), j.get("state", ""), int(j.get("start-time", 0)))
            for j in body["jobs"]
        ]
        return sorted(jobs, key=lambda j: (j.state != "RUNNING", -j.start_time_ms))

    def select_job(self, selector: str | None = None) -> JobSummary:
        """A job by id, by exact or unique partial name, or the only running job."""
        jobs = self.jobs()
        if selector:
            for j in jobs:
                if j.id == selector:
                    return j
            exact = [j for j in jobs if j.name == selector and j.state == "RUNNING"]
            if len(exact) == 1:
                return exact[0]
            partial = [j for j in jobs if selector.lower() in j.name.lower()]
            running = [j for j in partial if j.state == "RUNNING"] or partial
            if len(running) == 1:
                return running[0]
            if not running:
                raise JobNotFound(f"no job matches {selector!r} on {self.url}")
            listing = ", ".join(f"{j.name} ({j.id[:8]}, {j.state})" for j in running[:5])
            raise JobNotFound(f"{selector!r} matches several jobs: {listing}; give a job id")
        running = [j for j in jobs if j.state == "RUNNING"]
        if len(running) == 1:
            return running[0]
        if not running:
            raise JobNotFound(f"no running job on {self.url}")
        listing = ", ".join(f"{j.name} ({j.id[:8]})" for j in running[:5])
        raise JobNotFound(f"{len(running)} jobs are running ({listing}); choose one with --job")

    # -- graph --------------------------------------------------------------------------------

    def graph(self, job_id: str, job: dict[str, Any] | None = None,
              now: float | None = None) -> JobGraph:
        """The job graph; re-read only when the vertices change (e.g. a rescale)."""
        now = self.clock() if now is None else now
        job = job if job is not None else self.get(f"/jobs/{job_id}")
        key = tuple((v["id"], v.get("parallelism")) for v in job.get("vertices", []))
        cached = self._graphs.get(job_id)
        if cached and cached[0] == key:
            return cached[1]
        plan = self.get(f"/jobs/{job_id}/plan").get("plan", {})
        edges = []
        for node in plan.get("nodes", []):
            for inp in node.get("inputs", []) or []:
                edges.append(
                    Edge(
                        source=inp["id"],
                        target=node["id"],
                        ship_strategy=str(inp.get("ship_strategy", "")),
                        exchange=str(inp.get("exchange", "")),
                    )
                )
        vertices = []
        for v in job.get("vertices", []):
            vnames = self._vertex_names(job_id, v["id"], force=True, now=now)
            vertices.append(
                Vertex(
                    id=v["id"],
                    name=v.get("name", v["id"]),
                    parallelism=int(v.get("parallelism", 1)),
                    max_parallelism=int(v.get("maxParallelism", -1) or -1),
                    operators=vnames.operators,
                )
            )
        graph = JobGraph(job_id, str(job.get("name", "")), tuple(vertices), tuple(edges))
        self._graphs[job_id] = (key, graph)
        return graph

    def _vertex_names(self, job_id: str, vertex_id: str, force: bool = False,
                      now: float | None = None) -> _VertexNames:
        known = self._names.get((job_id, vertex_id))
        # Decisions follow the poll's time, not the wall clock mid-poll, so that a replay of
        # a recording makes exactly the requests the live poll made.
        now = self.clock() if now is None else now
        if known and not force and known.complete and now - known.listed_at < self.relist_s:
            return known
        if known and not force and now - known.listed_at < min(5.0, self.relist_s):
            return known
        listed = self.get(f"/jobs/{job_id}/vertices/{vertex_id}/metrics")
        bare: set[str] = set()
        operators: dict[str, None] = {}
        latency: list[str] = []
        for item in listed if isinstance(listed, list) else []:
            full = str(item.get("id", ""))
            sub, _, rest = full.partition(".")
            if not sub.isdigit() or not rest:
                continue
            if names.LATENCY_MARKER[1:] in rest and rest.startswith("latency."):
                if rest.rsplit(".", 1)[-1] in LATENCY_QUANTILES:
                    latency.append(full)
                continue
            bare.add(rest)
            for counter in names.OPERATOR_COUNTERS:
                suffix = "." + counter
                if rest.endswith(suffix) and not rest.startswith(SKIP_OPERATOR_GROUPS):
                    operators[rest[: -len(suffix)]] = None
        task = names.resolve(bare, names.TASK_METRICS)
        result = _VertexNames(
            task=task,
            operators=tuple(operators),
            latency=tuple(sorted(latency)),
            listed_at=now,
            complete=bool(task),
        )
        self._names[(job_id, vertex_id)] = result
        return result

    # -- polling ------------------------------------------------------------------------------

    def poll(
        self, job_id: str, thread_dumps: Sequence[str] = (), flamegraphs: Sequence[str] = ()
    ) -> tuple[JobGraph, Sample]:
        """Read one sample of every subtask and TaskManager of a job, with a thread dump of each
        TaskManager in `thread_dumps` and the on-/off-CPU flame graphs of each vertex id in
        `flamegraphs` (the first request starts Flink's sampling; later polls collect it)."""
        t = self.clock()
        job = self.get(f"/jobs/{job_id}")
        graph = self.graph(job_id, job, t)
        subtasks: dict[str, list[SubtaskSample]] = {}
        latency: dict[str, dict[str, float]] = {}
        warnings: list[str] = []
        tm_ids: dict[str, str] = {}
        # Vertices are read concurrently (a few at a time): against a remote JobManager the
        # round trips, not the JobManager, bound a poll.
        for vertex, (samples, lat, warn) in zip(
            graph.vertices,
            self._map(lambda v: self._poll_vertex(job_id, v, t), graph.vertices),
            strict=True,
        ):
            subtasks[vertex.id] = samples
            latency.update(lat)
            warnings.extend(warn)
            for st in samples:
                if st.taskmanager_id:
                    tm_ids[st.taskmanager_id] = st.host
        checkpoints = _checkpoints(self.get(f"/jobs/{job_id}/checkpoints"))
        real_tms = {tm: host for tm, host in tm_ids.items() if not tm.startswith("(")}
        if any(tm not in self._tm_hw_seen for tm in real_tms):
            self._tm_hw_seen.update(real_tms)
            self._read_taskmanager_hardware()
        ordered = sorted(real_tms.items())
        taskmanagers = dict(zip(
            (tm for tm, _ in ordered),
            self._map(lambda item: self._poll_taskmanager(*item), ordered),
            strict=True,
        ))
        for tm_id, tm in taskmanagers.items():
            if tm_id in self._tm_cores:
                tm.values["cpu_cores"] = self._tm_cores[tm_id]
        dumps: dict[str, list[ThreadSample]] = {}
        for tm_id in thread_dumps:
            try:
                body = self.get(f"/taskmanagers/{quote(tm_id, safe='')}/thread-dump")
            except FlinkApiError:
                continue  # a TaskManager that left; the sample stands without it
            dumps[tm_id] = parse_thread_dump(body, tm_id)
        flames: dict[str, dict[str, FlameGraph]] = {}
        for vid in flamegraphs:
            views: dict[str, FlameGraph] = {}
            for kind in ("on_cpu", "off_cpu"):
                try:
                    views[kind] = parse_flamegraph(
                        self.get(f"/jobs/{job_id}/vertices/{vid}/flamegraph?type={kind}"), kind)
                except FlinkApiError as exc:
                    views[kind] = failed_flamegraph(kind, str(exc))
            flames[vid] = views
        timestamps = job.get("timestamps") or {}
        running_ms = timestamps.get("RUNNING") or job.get("start-time")
        return graph, Sample(
            t=t,
            job_id=job_id,
            job_state=str(job.get("state", "")),
            subtasks=subtasks,
            taskmanagers=taskmanagers,
            checkpoints=checkpoints,
            job_start=(running_ms / 1000.0) if running_ms and running_ms > 0 else None,
            latency=latency,
            warnings=warnings,
            thread_dumps=dumps,
            flamegraphs=flames,
        )

    def _map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """fn over items, at most MAX_CONCURRENT requests in flight; results in order."""
        if len(items) <= 1:
            return [fn(i) for i in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(MAX_CONCURRENT, thread_name_prefix="flowscope-rest")
        return list(self._pool.map(fn, items))

    def _poll_vertex(
        self, job_id: str, vertex: Vertex, now: float
    ) -> tuple[list[SubtaskSample], dict[str, dict[str, float]], list[str]]:
        """One vertex's subtasks: the detail (counters, attempt, TaskManager) and the gauges."""
        detail = self.get(f"/jobs/{job_id}/vertices/{vertex.id}")
        samples = _subtasks_from_detail(vertex.id, detail)
        vnames = self._vertex_names(job_id, vertex.id, now=now)
        wanted = _wanted_metrics(vnames, samples)
        values = self._get_metrics(f"/jobs/{job_id}/vertices/{vertex.id}/metrics", wanted)
        by_index = {s.index: s for s in samples}
        latency: dict[str, dict[str, float]] = {}
        warnings: list[str] = []
        for full, value in values.items():
            sub, _, bare = full.partition(".")
            if not sub.isdigit():
                continue
            target = by_index.get(int(sub))
            if target is None:
                continue
            if bare.startswith("latency."):
                if value is not None:
                    hop, _, quantile = bare.rpartition(".")
                    latency.setdefault(f"{vertex.id}|{sub}|{hop}", {})[quantile] = value
                continue
            q = vnames.by_name.get(bare)
            if q is not None:
                if value is None:
                    warnings.append(f"{vertex.name}[{sub}] {bare} unparseable")
                else:
                    target.values.setdefault(q, value)
                continue
            op, _, counter = bare.rpartition(".")
            if counter in names.OPERATOR_COUNTERS and value is not None:
                target.operators.setdefault(op, {})[names.OPERATOR_COUNTERS[counter]] = value
        return samples, latency, warnings

    def _get_metrics(self, path: str, wanted: list[str]) -> dict[str, float | None]:
        """Fetch metric values with as few `get=` requests as the URL limit allows."""
        out: dict[str, float | None] = {}
        for chunk in _chunks(wanted, MAX_QUERY_CHARS):
            body = self.get(f"{path}?get={quote(','.join(chunk), safe=',')}")
            for item in body if isinstance(body, list) else []:
                out[str(item.get("id"))] = names.parse_value(item.get("value"))
        return out

    def _read_taskmanager_hardware(self) -> None:
        try:
            body = self.get("/taskmanagers")
        except FlinkApiError:  # optional: hardware only sharpens the CPU evidence
            return
        for tm in body.get("taskmanagers", []) if isinstance(body, dict) else []:
            cores = (tm.get("hardware") or {}).get("cpuCores")
            if tm.get("id") and isinstance(cores, int | float):
                self._tm_cores[str(tm["id"])] = float(cores)

    def _poll_taskmanager(self, tm_id: str, host: str) -> TaskManagerSample:
        path = f"/taskmanagers/{quote(tm_id, safe='')}/metrics"
        resolved = self._tm_names.get(tm_id)
        try:
            if not resolved:
                listed = self.get(path)
                resolved = names.resolve(
                    (str(i.get("id")) for i in listed if isinstance(i, dict)), names.TM_METRICS
                )
                if resolved:
                    self._tm_names[tm_id] = resolved
            values = self._get_metrics(path, sorted(set(resolved.values())))
        except FlinkApiError:
            # A TaskManager that left between two requests: the job's own metrics still count.
            return TaskManagerSample(tm_id, host)
        by_name = {v: k for k, v in resolved.items()}
        return TaskManagerSample(
            tm_id,
            host,
            {by_name[n]: v for n, v in values.items() if n in by_name and v is not None},
        )

    # -- convenience --------------------------------------------------------------------------

    def fresh_latency(self, job_id: str) -> dict[str, dict[str, float]]:
        """One more poll with every vertex's metric names listed again: latency histograms
        appear only once the first markers arrive, after the names were listed (they are
        listed again only every `relist_s`, 60 s). Costs one poll plus one request per
        vertex."""
        relist, self.relist_s = self.relist_s, 0.0
        try:
            return self.poll(job_id)[1].latency
        finally:
            self.relist_s = relist

    def overview(self) -> dict[str, Any]:
        body = self.get("/overview")
        if not isinstance(body, dict) or "flink-version" not in body:
            raise FlinkApiError(f"{self.url}/overview is not Flink's cluster overview")
        return body


def _wanted_metrics(vnames: _VertexNames, samples: list[SubtaskSample]) -> list[str]:
    have = set().union(*(s.values.keys() for s in samples)) if samples else set()
    bare = [
        name
        for q, name in vnames.task.items()
        if names.Quantity(q) in names.ALWAYS_GAUGES or q not in have
    ]
    for op in vnames.operators:
        bare.extend(f"{op}.{counter}" for counter in names.OPERATOR_COUNTERS)
    out = [f"{s.index}.{b}" for s in samples for b in bare]
    indices = {str(s.index) for s in samples}
    out.extend(lat for lat in vnames.latency if lat.partition(".")[0] in indices)
    return out


def _subtasks_from_detail(vertex_id: str, detail: dict[str, Any]) -> list[SubtaskSample]:
    samples: list[SubtaskSample] = []
    for st in detail.get("subtasks", []) or []:
        metrics = st.get("metrics") or {}
        values: dict[str, float] = {}
        for q, fieldname in names.DETAIL_FIELDS.items():
            v = names.parse_value(metrics.get(fieldname))
            if v is not None:
                values[q.value] = v
        flags = [v for k, v in metrics.items() if k.endswith("-complete")]
        if flags:
            values[Quantity.IO_COMPLETE.value] = 1.0 if all(f is True for f in flags) else 0.0
        host = str(st.get("endpoint") or st.get("host") or "")
        samples.append(
            SubtaskSample(
                vertex_id=vertex_id,
                index=int(st.get("subtask", len(samples))),
                attempt=int(st.get("attempt", 0)),
                status=str(st.get("status", "")),
                taskmanager_id=str(st.get("taskmanager-id", "") or ""),
                host=host,
                values=values,
            )
        )
    return samples


def _checkpoints(body: dict[str, Any]) -> CheckpointStats:
    counts = body.get("counts") or {}
    latest = (body.get("latest") or {}).get("completed") or {}
    return CheckpointStats(
        completed=int(counts.get("completed", 0) or 0),
        failed=int(counts.get("failed", 0) or 0),
        in_progress=int(counts.get("in_progress", 0) or 0),
        latest_duration_ms=_num(latest.get("end_to_end_duration")),
        latest_trigger_ts=_num(latest.get("trigger_timestamp")),
        latest_size_bytes=_num(latest.get("checkpointed_size") or latest.get("state_size")),
    )


def _num(v: Any) -> float | None:
    return names.parse_value(v)


def _chunks(items: list[str], limit: int) -> list[list[str]]:
    out: list[list[str]] = []
    current: list[str] = []
    size = 0
    for item in items:
        cost = len(quote(item, safe=",")) + 1
        if current and size + cost > limit:
            out.append(current)
            current, size = [], 0
        current.append(item)
        size += cost
    if current:
        out.append(current)
    return out


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return text.splitlines()[0][:200]


def _errors_of(resp: httpx.Response) -> str:
    try:
        errors = resp.json().get("errors", [])
        return str(errors[0]).splitlines()[0][:200] if errors else ""
    except (ValueError, AttributeError):
        return ""
