"""Reads a job's state from Flink's REST API: the job graph, per-subtask metrics, TaskManagers.

Requests per poll are O(vertices + TaskManagers), not O(subtasks):
  - `GET /jobs/:jid`                          state, vertices, start time
  - `GET /jobs/:jid/vertices/:vid`            every subtask's accumulated busy/idle/backpressured
                                              time, records and bytes, attempt and TaskManager
  - `GET /jobs/:jid/vertices/:vid/metrics?get=<subtask>.<name>,...`
                                              every subtask's gauges in one request per vertex
                                              (split when the URL would pass Netty's ~4 KiB limit)
  - `GET /jobs/:jid/vertices/:vid/subtasks/metrics?get=<name>,...&agg=min,max,avg,sum,skew`
                                              instead, for the vertices not read in detail (see
                                              `poll(detail=...)`): the gauges aggregated over the
                                              subtasks, one request per vertex at any parallelism
  - `GET /jobs/:jid/checkpoints`              checkpoint counts and history; with it, a few
                                              requests for the checkpoint config, the details
                                              of new checkpoints and the exception history
                                              (`flink.jobstate`)
  - `GET /taskmanagers/:tm/metrics?get=...`   CPU, GC and heap of each TaskManager the job uses
Metric names are listed once per vertex (and again every `relist_s`) and resolved through
`metric_names`, because Flink answers a request that names a missing metric with less than asked.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import httpx

from flowscope.errors import FlinkApiError, FlowscopeError, JobNotFound
from flowscope.flink import answers
from flowscope.flink import metric_names as names
from flowscope.flink.answers import JobSummary, VertexNames
from flowscope.flink.http import RestClient
from flowscope.flink.jobstate import JobStateReader
from flowscope.flink.stacks import failed_flamegraph, parse_flamegraph, parse_thread_dump
from flowscope.flink.tiering import (
    AGGREGATES,
    DETAIL_SUBTASKS,
    TM_DETAIL_ALL_UP_TO,
    TM_GC_LOOK_MS_PER_S,
    TM_PER_VERTEX,
    busiest,
    telling_subtasks,
)
from flowscope.model import (
    FlameGraph,
    JobGraph,
    Quantity,
    Sample,
    SubtaskSample,
    TaskManagerSample,
    ThreadSample,
    TmQuantity,
    Vertex,
)

__all__ = ["FlinkRestSource", "JobSummary"]

# Requests in flight at once while polling: enough to hide round trips, few enough to be kind
# to a busy JobManager.
MAX_CONCURRENT = 4
# Netty's HttpObjectDecoder rejects request lines over 4096 bytes; keep the query below that.
MAX_QUERY_CHARS = 3000
TM_AGGREGATES = "min,max,avg,sum"
# Metric names of a job younger than a minute are listed again after this many seconds.
YOUNG_RELIST_S = 15.0
# A request the poll can do without may take this share of the poll's time left (at least
# SPARE_MIN_S, never past the poll's end).
SPARE_SHARE = 0.25
SPARE_MIN_S = 0.05

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
        self.http = RestClient(url, headers=headers, timeout_s=timeout_s, transport=transport)
        self.url = self.http.url
        self.clock = clock
        self.relist_s = relist_s
        self._pool: ThreadPoolExecutor | None = None
        self._graphs: dict[str, tuple[tuple[Any, ...], JobGraph]] = {}
        self._names: dict[tuple[str, str], VertexNames] = {}
        self._needs: dict[tuple[str, str], frozenset[str]] = {}
        self._job_start: dict[str, float] = {}
        self._tm_names: dict[str, dict[str, str]] = {}
        self._tm_agg_names: dict[str, str] | None = None
        self._all_tms: dict[str, bool] = {}  # job id -> read every TaskManager next poll
        self._tm_cores: dict[str, float] = {}
        self._tm_hw_seen: set[str] = set()
        self._jobstate = JobStateReader()

    # -- HTTP ---------------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        """Requests sent so far."""
        return self.http.requests

    def get(self, path: str) -> Any:
        """GET a REST path and return the parsed JSON, or raise a one-line FlowscopeError."""
        return self.http.get(path)

    def close(self) -> None:
        if self._pool is not None:
            # Do not wait for requests still in flight (a Ctrl-C mid-poll must stop at once):
            # their answers are not needed any more.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self.http.close()

    def __enter__(self) -> FlinkRestSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs ---------------------------------------------------------------------------------

    def jobs(self) -> list[JobSummary]:
        """Every job the cluster knows, running first, newest first."""
        return answers.job_summaries(self.get("/jobs/overview"), self.url)

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

    def graph(self, job_id: str, job: Any = None, now: float | None = None) -> JobGraph:
        """The job graph; re-read only when the vertices change (e.g. a rescale)."""
        now = self.clock() if now is None else now
        job = job if job is not None else self.get(f"/jobs/{job_id}")
        key = answers.graph_key(job)
        cached = self._graphs.get(job_id)
        if cached and cached[0] == key:
            return cached[1]
        plan = self.get(f"/jobs/{job_id}/plan")
        for vid, needs in answers.network_needs(plan).items():
            self._needs[(job_id, vid)] = needs
        operators = {}
        complete = True
        for v in answers.job_vertices(job):
            vid = answers.as_text(v.get("id"))
            try:
                operators[vid] = self._vertex_names(job_id, vid, force=True, now=now).operators
            except FlowscopeError:
                # The graph stands without this vertex's operator names; it is read again
                # with the next poll rather than kept.
                complete = False
                known = self._names.get((job_id, vid))
                operators[vid] = known.operators if known else ()
        graph = answers.job_graph(job_id, job, plan, operators)
        if complete:
            self._graphs[job_id] = (key, graph)
        return graph

    def _vertex_names(self, job_id: str, vertex_id: str, force: bool = False,
                      now: float | None = None) -> VertexNames:
        known = self._names.get((job_id, vertex_id))
        # Decisions follow the poll's time, not the wall clock mid-poll, so that a replay of
        # a recording makes exactly the requests the live poll made.
        now = self.clock() if now is None else now
        # A young job registers metrics for a while (sources' gauges once their readers
        # start, latency histograms once markers arrive): list its vertices again sooner.
        start = self._job_start.get(job_id)
        young = start is not None and known is not None and known.listed_at - start < 60.0
        relist = min(self.relist_s, YOUNG_RELIST_S) if young else self.relist_s
        if known and not force and known.complete and now - known.listed_at < relist:
            return known
        if known and not force and now - known.listed_at < min(5.0, self.relist_s):
            return known
        result = answers.vertex_names(
            self.get(f"/jobs/{job_id}/vertices/{vertex_id}/metrics"), now,
            self._needs.get((job_id, vertex_id), frozenset()))
        self._names[(job_id, vertex_id)] = result
        return result

    # -- polling ------------------------------------------------------------------------------

    def poll(
        self, job_id: str, thread_dumps: Sequence[str] = (), flamegraphs: Sequence[str] = (),
        detail: Collection[str] | None = None,
    ) -> tuple[JobGraph, Sample]:
        """Read one sample of every subtask and TaskManager of a job, with a thread dump of each
        TaskManager in `thread_dumps` and the on-/off-CPU flame graphs of each vertex id in
        `flamegraphs` (the first request starts Flink's sampling; later polls collect it).

        `detail`: the vertex ids whose subtasks' gauges are read one by one; the other
        vertices' gauges are read aggregated over their subtasks (`Sample.aggregates`). None
        reads every vertex in detail. Counters are read for every subtask either way."""
        t = self.clock()
        job = self._job_answer(job_id)
        start = answers.job_start_s(job)
        if start is not None:
            self._job_start[job_id] = start
        graph = self.graph(job_id, job, t)
        subtasks: dict[str, list[SubtaskSample]] = {}
        latency: dict[str, dict[str, float]] = {}
        warnings: list[str] = []
        tm_ids: dict[str, str] = {}
        aggregates: dict[str, dict[str, dict[str, float]]] = {}
        # Vertices are read concurrently (a few at a time): against a remote JobManager the
        # round trips, not the JobManager, bound a poll.
        for vertex, (samples, lat, warn, agg) in zip(
            graph.vertices,
            self._map(lambda v: self._vertex_or_gap(
                job_id, v, t, detail is None or v.id in detail, detail is not None),
                graph.vertices),
            strict=True,
        ):
            subtasks[vertex.id] = samples
            if agg is not None:
                aggregates[vertex.id] = agg
            latency.update(lat)
            warnings.extend(warn)
            for st in samples:
                if st.taskmanager_id:
                    tm_ids[st.taskmanager_id] = st.host
        self._jobstate.begin(job_id)
        try:
            checkpoints = self._jobstate.checkpoints(
                job_id, self._spare_get, self.get(f"/jobs/{job_id}/checkpoints"))
        except FlowscopeError as exc:  # the sample stands without this poll's checkpoints
            checkpoints = answers.checkpoint_stats(None)
            warnings.append(f"checkpoints not read in this poll: {exc}")
        restarted_at = answers.restarted_at_s(job)
        attempt = max((st.attempt for subs in subtasks.values() for st in subs), default=0)
        failures = self._jobstate.failures(job_id, self._spare_get, t, attempt, restarted_at)
        real_tms = {tm: host for tm, host in tm_ids.items() if not tm.startswith("(")}
        if any(tm not in self._tm_hw_seen for tm in real_tms):
            self._tm_hw_seen.update(real_tms)
            self._read_taskmanager_hardware()
        close = self._close_taskmanagers(job_id, real_tms, subtasks, detail)
        tm_aggregates: dict[str, dict[str, float]] = {}
        if len(close) < len(real_tms):
            try:
                tm_aggregates = self._taskmanager_aggregates(sorted(real_tms))
            except FlowscopeError as exc:  # the TaskManagers read one by one still count
                warnings.append(f"TaskManager aggregates not read in this poll: {exc}")
            gc = tm_aggregates.get(str(TmQuantity.GC_MS_PER_S), {}).get("max")
            self._all_tms[job_id] = gc is not None and gc >= TM_GC_LOOK_MS_PER_S
        ordered = sorted(close.items())
        taskmanagers = dict(zip(
            (tm for tm, _ in ordered),
            self._map(lambda item: self._poll_taskmanager(*item), ordered),
            strict=True,
        ))
        for tm_id, tm in taskmanagers.items():
            if tm_id in self._tm_cores:
                tm.values[TmQuantity.CPU_CORES] = self._tm_cores[tm_id]
        dumps: dict[str, list[ThreadSample]] = {}
        for tm_id in thread_dumps:
            try:
                body = self.get(f"/taskmanagers/{quote(tm_id, safe='')}/thread-dump")
            except FlowscopeError:
                continue  # a TaskManager that left; the sample stands without it
            dumps[tm_id] = parse_thread_dump(body, tm_id)
        flames: dict[str, dict[str, FlameGraph]] = {}
        for vid in flamegraphs:
            views: dict[str, FlameGraph] = {}
            for kind in ("on_cpu", "off_cpu"):
                try:
                    views[kind] = parse_flamegraph(
                        self.get(f"/jobs/{job_id}/vertices/{vid}/flamegraph?type={kind}"), kind)
                except FlowscopeError as exc:
                    views[kind] = failed_flamegraph(kind, str(exc))
            flames[vid] = views
        sample = Sample(
            t=t,
            job_id=job_id,
            job_state=answers.job_state(job),
            subtasks=subtasks,
            taskmanagers=taskmanagers,
            checkpoints=checkpoints,
            job_start=answers.job_start_s(job),
            latency=latency,
            warnings=warnings,
            thread_dumps=dumps,
            flamegraphs=flames,
            detail_vertices=None if detail is None else tuple(
                v.id for v in graph.vertices if v.id in detail),
            aggregates=aggregates,
            taskmanagers_of_job=len(real_tms),
            taskmanager_aggregates=tm_aggregates,
            restarted_at=restarted_at,
            failures=failures,
        )
        for vid in subtasks:
            sample.columns(vid)  # the arrays the analysis folds, made once with the poll
        return graph, sample

    def _spare_get(self, path: str) -> Any:
        """A request the poll can do without (checkpoint details, the exception history): one
        attempt, within SPARE_SHARE of the poll's time left, so that a stalled answer costs
        the poll little of its interval."""
        deadline = self.http.deadline
        if deadline is not None:
            now = time.monotonic()
            deadline = now + max(SPARE_MIN_S, SPARE_SHARE * (deadline - now))
        return self.http.get(path, attempts=1, deadline=deadline)

    def _map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """fn over items, at most MAX_CONCURRENT requests in flight; results in order."""
        if len(items) <= 1:
            return [fn(i) for i in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(MAX_CONCURRENT, thread_name_prefix="flowscope-rest")
        return list(self._pool.map(fn, items))

    def _job_answer(self, job_id: str) -> Any:
        """`/jobs/:jid`, which a poll cannot do without: asked once more when it comes back
        without a state or vertices (a JobManager mid-failover), else the poll fails."""
        for attempt in range(2):
            job = self.get(f"/jobs/{job_id}")
            problem = answers.job_answer_problem(job)
            if problem is None:
                return job
            if attempt:
                raise FlinkApiError(f"Flink at {self.url} answered /jobs/{job_id[:8]}... "
                                    f"{problem}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _vertex_or_gap(
        self, job_id: str, vertex: Vertex, now: float, in_detail: bool = True,
        tiered: bool = False,
    ) -> tuple[list[SubtaskSample], dict[str, dict[str, float]], list[str],
               dict[str, dict[str, float]] | None]:
        """A vertex's subtasks, or none with a note when its requests failed: the poll keeps
        the vertices it could read."""
        try:
            return self._poll_vertex(job_id, vertex, now, in_detail, tiered)
        except FlowscopeError as exc:
            return [], {}, [f"{vertex.name} not read in this poll: {exc}"], None

    def _poll_vertex(
        self, job_id: str, vertex: Vertex, now: float, in_detail: bool = True,
        tiered: bool = False,
    ) -> tuple[list[SubtaskSample], dict[str, dict[str, float]], list[str],
               dict[str, dict[str, float]] | None]:
        """One vertex's subtasks: the detail (counters, attempt, TaskManager) and the gauges,
        each subtask's (`in_detail`) or aggregated over the subtasks (the fourth item). In a
        `tiered` poll a vertex in detail of more than DETAIL_SUBTASKS subtasks has the gauges
        of its most telling subtasks read one by one, and all of them aggregated."""
        detail = self.get(f"/jobs/{job_id}/vertices/{vertex.id}")
        samples = answers.subtasks_from_detail(vertex, detail)
        vnames = self._vertex_names(job_id, vertex.id, now=now)
        if not in_detail:
            try:
                return samples, {}, [], self._aggregated(job_id, vertex, vnames, samples)
            except FlowscopeError as exc:  # the counters stand without the gauges
                return samples, {}, [f"{vertex.name} gauges not read in this poll: {exc}"], {}
        agg = None
        picked = samples
        warnings: list[str] = []
        if tiered and len(samples) > DETAIL_SUBTASKS:
            picked = telling_subtasks(samples, DETAIL_SUBTASKS)
            try:
                agg = self._aggregated(job_id, vertex, vnames, samples)
            except FlowscopeError as exc:  # the counters and the gauges read one by one stand
                agg = {}
                warnings.append(f"{vertex.name} aggregated gauges not read in this poll: {exc}")
        wanted = answers.wanted_metrics(vnames, picked)
        values = self._get_metrics(f"/jobs/{job_id}/vertices/{vertex.id}/metrics", wanted)
        by_index = {s.index: s for s in samples}
        latency: dict[str, dict[str, float]] = {}
        split_ids: dict[int, set[str]] = {}
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
            if ".split." in bare and ".watermark." in bare:
                split = bare.split(".split.", 1)[1].split(".watermark.", 1)[0]
                split_ids.setdefault(target.index, set()).add(split)
                field = names.SPLIT_METRICS.get(bare.rsplit(".", 1)[-1])
                if field is not None and value is not None:
                    target.splits.setdefault(split, {})[field] = value
                    summed = names.SPLIT_SUMS.get(field)
                    if summed is not None:
                        target.values[summed] = target.values.get(summed, 0.0) + value
                continue
            state = names.state_metric(bare)
            if state is not None:
                if value is not None and math.isfinite(value):
                    q_state, fold = state
                    known = target.values.get(q_state)
                    target.values[q_state] = value if known is None else (
                        known + value if fold == "sum" else max(known, value))
                continue
            q = vnames.by_name.get(bare)
            if q is not None:
                if value is None:
                    warnings.append(f"{vertex.name}[{sub}] {bare} unparseable")
                else:
                    factor = names.UNIT_FACTORS.get(bare.rsplit(".", 1)[-1], 1.0)
                    target.values.setdefault(q, value * factor)
                continue
            op, _, counter = bare.rpartition(".")
            if counter in names.OPERATOR_COUNTERS and value is not None:
                target.operators.setdefault(op, {})[names.OPERATOR_COUNTERS[counter]] = value
        for index, ids in split_ids.items():
            by_index[index].values[Quantity.SPLITS] = float(len(ids))
        return samples, latency, warnings, agg

    def _aggregated(
        self, job_id: str, vertex: Vertex, vnames: VertexNames, samples: list[SubtaskSample]
    ) -> dict[str, dict[str, float]]:
        """A vertex's gauges aggregated over its subtasks: quantity -> {min, max, avg, sum,
        skew}, in flowscope's units (`sum` and `avg` scaled like the values; skew in %)."""
        bare = sorted({name.partition(".")[2] for name in answers.wanted_metrics(
            vnames, samples[:1]) if name.partition(".")[2] in vnames.by_name})
        out: dict[str, dict[str, float]] = {}
        path = f"/jobs/{job_id}/vertices/{vertex.id}/subtasks/metrics"
        for chunk in answers.chunks(bare, MAX_QUERY_CHARS):
            body = self.get(f"{path}?get={quote(','.join(chunk), safe=',')}"
                            f"&agg={AGGREGATES}")
            for name, stats in answers.aggregated_values(body).items():
                q = vnames.by_name.get(name)
                if q is None:
                    continue
                factor = names.UNIT_FACTORS.get(name.rsplit(".", 1)[-1], 1.0)
                out[str(q)] = {k: v if k == "skew" else v * factor for k, v in stats.items()}
        return out

    def _get_metrics(self, path: str, wanted: list[str]) -> dict[str, float | None]:
        """Fetch metric values with as few `get=` requests as the URL limit allows."""
        out: dict[str, float | None] = {}
        for chunk in answers.chunks(wanted, MAX_QUERY_CHARS):
            out.update(answers.metric_values(
                self.get(f"{path}?get={quote(','.join(chunk), safe=',')}")))
        return out

    def _close_taskmanagers(self, job_id: str, tms: dict[str, str],
                            subtasks: dict[str, list[SubtaskSample]],
                            detail: Collection[str] | None) -> dict[str, str]:
        """The TaskManagers this poll reads one by one: all of them for a job read in detail,
        on few TaskManagers, or when the last aggregate showed GC pressure; else those of the
        busiest subtasks whose gauges were read one by one (TM_PER_VERTEX per vertex read in
        detail: where the analysis looks for GC and CPU behind a bottleneck)."""
        if detail is None or len(tms) <= TM_DETAIL_ALL_UP_TO or self._all_tms.get(job_id):
            return tms
        near: set[str] = set()
        for vid in detail:
            gauged = [st for st in subtasks.get(vid, []) if st.gauged]
            near.update(st.taskmanager_id for st in busiest(gauged, TM_PER_VERTEX))
        return {tm: host for tm, host in tms.items() if tm in near}

    def _taskmanager_aggregates(self, tm_ids: list[str]) -> dict[str, dict[str, float]]:
        """The TaskManagers' metrics aggregated over them: quantity -> {min, max, avg, sum}
        (`/taskmanagers/metrics?get=..&agg=..&taskmanagers=..`, split below the request-line
        limit; the parts' averages weighted by their TaskManagers)."""
        if self._tm_agg_names is None:
            listed = answers.listed_ids(self.get("/taskmanagers/metrics"))
            self._tm_agg_names = names.resolve(listed, names.TM_METRICS)
        by_name = {v: k for k, v in self._tm_agg_names.items()}
        if not by_name:
            return {}
        get = f"/taskmanagers/metrics?get={quote(','.join(sorted(by_name)), safe=',')}&agg="
        get += TM_AGGREGATES
        parts: list[tuple[int, dict[str, dict[str, float]]]] = []
        for chunk in answers.chunks(tm_ids, max(200, MAX_QUERY_CHARS - len(get))):
            body = self.get(f"{get}&taskmanagers={quote(','.join(chunk), safe=',')}")
            parts.append((len(chunk), answers.aggregated_values(body)))
        out: dict[str, dict[str, float]] = {}
        for name, q in by_name.items():
            seen = [(n, part[name]) for n, part in parts if name in part]
            if not seen:
                continue
            stats: dict[str, float] = {}
            for key, fold in (("min", min), ("max", max), ("sum", sum)):
                vals = [x[key] for _, x in seen if key in x]
                if vals:
                    stats[key] = fold(vals)
            weighted = [(n, x["avg"]) for n, x in seen if "avg" in x]
            if weighted:
                stats["avg"] = sum(n * a for n, a in weighted) / sum(n for n, _ in weighted)
            out[str(q)] = stats
        return out

    def _read_taskmanager_hardware(self) -> None:
        try:
            body = self.get("/taskmanagers")
        except FlowscopeError:  # optional: hardware only sharpens the CPU evidence
            return
        self._tm_cores.update(answers.taskmanager_cores(body))

    def _poll_taskmanager(self, tm_id: str, host: str) -> TaskManagerSample:
        path = f"/taskmanagers/{quote(tm_id, safe='')}/metrics"
        resolved = self._tm_names.get(tm_id)
        try:
            if not resolved:
                resolved = names.resolve(answers.listed_ids(self.get(path)), names.TM_METRICS)
                if resolved:
                    self._tm_names[tm_id] = resolved
            values = self._get_metrics(path, sorted(set(resolved.values())))
        except FlowscopeError:
            # A TaskManager that left between two requests, or a request that failed: the
            # job's own metrics still count.
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
