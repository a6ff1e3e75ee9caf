"""Flink's REST answers, read into the model: the edge where JSON becomes typed data.

Every function takes an answer as it came (`Any`: a JobManager under load, a proxy or a
different Flink version can send anything) and returns model types. Missing, null, wrongly
typed or out-of-range parts become "unknown" (absent values, empty lists) for that subtask or
vertex; nothing past this module sees raw JSON. Only the answers that identify a Flink REST
API at all (the job overview) raise, with a one-line FlinkApiError.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flowscope.errors import FlinkApiError
from flowscope.flink import metric_names as names
from flowscope.model import CheckpointStats, Edge, JobGraph, Quantity, SubtaskSample, Vertex

LATENCY_QUANTILES = ("latency_median", "latency_p95", "latency_p99")
SKIP_OPERATOR_GROUPS = ("Shuffle.", "buffers.", "latency.")
# Parallelism beyond Flink's own limit (32768) is not a parallelism.
MAX_PARALLELISM = 1 << 15


@dataclass(frozen=True)
class JobSummary:
    id: str
    name: str
    state: str
    start_time_ms: int


@dataclass
class VertexNames:
    """What a vertex's metric list holds, resolved to flowscope quantities."""

    task: dict[str, str]  # quantity -> Flink name
    operators: tuple[str, ...]
    # Latency metric names with their subtask prefix: each subtask reports only its own
    # `operator_subtask_index`, so names are kept per subtask.
    latency: tuple[str, ...]
    listed_at: float
    complete: bool
    # The source operator's metrics: quantity -> `<operator>.<name>` (source vertices only).
    source: dict[str, str] = field(default_factory=dict)
    # Per-split metric names with their subtask prefix (each subtask reports its own splits).
    splits: tuple[str, ...] = ()

    @property
    def by_name(self) -> dict[str, str]:
        return {name: q for q, name in (*self.task.items(), *self.source.items())}


# -- tolerant accessors ---------------------------------------------------------------------

def as_dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def as_text(v: Any, default: str = "") -> str:
    """A name or id: strings as they are, numbers spelled out, anything else the default."""
    if isinstance(v, str):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    return default


def as_int(v: Any, default: int, lo: int = -(1 << 62), hi: int = 1 << 62) -> int:
    """A whole number within [lo, hi], or `default` (strings of digits count; NaN does not)."""
    if isinstance(v, bool):
        return default
    try:
        f = float(v)
    except (TypeError, ValueError):
        return default
    if not math.isfinite(f) or f != int(f) or not lo <= f <= hi:
        return default
    return int(f)


def as_number(v: Any) -> float | None:
    """A metric value as Flink sends it (a string, a number, NaN, a boolean) or None."""
    return names.parse_value(v) if isinstance(v, str | int | float | bool) else None


# -- jobs and the graph ---------------------------------------------------------------------

def job_summaries(body: Any, url: str) -> list[JobSummary]:
    """`/jobs/overview`: every job, running first, newest first."""
    if not isinstance(body, dict) or not isinstance(body.get("jobs"), list):
        raise FlinkApiError(f"{url}/jobs/overview is not Flink's job overview")
    jobs = [
        JobSummary(as_text(j.get("jid")), as_text(j.get("name")), as_text(j.get("state")),
                   as_int(j.get("start-time"), 0))
        for j in body["jobs"] if isinstance(j, dict) and as_text(j.get("jid"))
    ]
    return sorted(jobs, key=lambda j: (j.state != "RUNNING", -j.start_time_ms))


def job_vertices(job: Any) -> list[dict[str, Any]]:
    """The vertices of `/jobs/:jid` that have an id."""
    return [v for v in as_list(as_dict(job).get("vertices"))
            if isinstance(v, dict) and as_text(v.get("id"))]


def graph_key(job: Any) -> tuple[tuple[str, int], ...]:
    """What identifies a job's graph: its vertices and their parallelism (a rescale changes
    it)."""
    return tuple((as_text(v.get("id")), as_int(v.get("parallelism"), 1))
                 for v in job_vertices(job))


def network_needs(plan: Any) -> dict[str, frozenset[str]]:
    """Per vertex id of a `/jobs/:jid/plan`, the network gauges its listing must hold: input
    buffers where it has inputs, output buffers where it has outputs."""
    ins: set[str] = set()
    outs: set[str] = set()
    for node in as_list(as_dict(as_dict(plan).get("plan")).get("nodes")):
        node = as_dict(node)
        for inp in as_list(node.get("inputs")):
            if as_text(as_dict(inp).get("id")) and as_text(node.get("id")):
                ins.add(as_text(node.get("id")))
                outs.add(as_text(as_dict(inp).get("id")))
    return {v: frozenset({Quantity.IN_POOL_USAGE.value} if v in ins else set())
            | frozenset({Quantity.OUT_POOL_USAGE.value} if v in outs else set())
            for v in ins | outs}


def job_graph(job_id: str, job: Any, plan: Any, operators: dict[str, tuple[str, ...]]
              ) -> JobGraph:
    """`/jobs/:jid` and `/jobs/:jid/plan` -> the job graph (`operators`: per vertex id, the
    chained operators its metric list names)."""
    nodes = as_list(as_dict(as_dict(plan).get("plan")).get("nodes"))
    edges = []
    for node in nodes:
        if not isinstance(node, dict) or not as_text(node.get("id")):
            continue
        for inp in as_list(node.get("inputs")):
            if isinstance(inp, dict) and as_text(inp.get("id")):
                edges.append(Edge(
                    source=as_text(inp.get("id")), target=as_text(node.get("id")),
                    ship_strategy=as_text(inp.get("ship_strategy")),
                    exchange=as_text(inp.get("exchange")),
                ))
    vertices = []
    for v in job_vertices(job):
        vid = as_text(v.get("id"))
        vertices.append(Vertex(
            id=vid, name=as_text(v.get("name"), vid),
            parallelism=as_int(v.get("parallelism"), 1, 1, MAX_PARALLELISM),
            max_parallelism=as_int(v.get("maxParallelism"), -1, -1, MAX_PARALLELISM) or -1,
            operators=operators.get(vid, ()),
        ))
    known = {v.id for v in vertices}
    edges = [e for e in edges if e.source in known and e.target in known]
    return JobGraph(job_id, as_text(as_dict(job).get("name")), tuple(vertices), tuple(edges))


def job_answer_problem(job: Any) -> str | None:
    """Why a `/jobs/:jid` answer cannot drive a poll (None: it can): it must name the job's
    state and list its vertices."""
    if not isinstance(job, dict):
        return "with something that is not a job"
    if not as_text(job.get("state")):
        return "without the job's state"
    if not job_vertices(job):
        return "without the job's vertices"
    return None


def job_state(job: Any) -> str:
    return as_text(as_dict(job).get("state"))


def job_start_s(job: Any) -> float | None:
    """When the job last started RUNNING (epoch seconds), None when unknown."""
    job = as_dict(job)
    running_ms = as_int(as_dict(job.get("timestamps")).get("RUNNING"), 0) or as_int(
        job.get("start-time"), 0)
    return running_ms / 1000.0 if running_ms > 0 else None


# -- metric names and values ----------------------------------------------------------------

def vertex_names(listed: Any, now: float, needs: frozenset[str] = frozenset()) -> VertexNames:
    """A vertex's `/metrics` listing, resolved (see flowscope.flink.metric_names). The
    listing is complete once it holds every quantity in `needs` (the network gauges of the
    vertex's inputs and outputs, which a task registers a moment after its other metrics)."""
    bare: set[str] = set()
    operators: dict[str, None] = {}
    latency: list[str] = []
    splits: list[str] = []
    source_ops: dict[str, None] = {}
    for item in as_list(listed):
        full = as_text(as_dict(item).get("id"))
        sub, _, rest = full.partition(".")
        if not sub.isdigit() or not rest:
            continue
        if names.LATENCY_MARKER[1:] in rest and rest.startswith("latency."):
            if rest.rsplit(".", 1)[-1] in LATENCY_QUANTILES:
                latency.append(full)
            continue
        if ".split." in rest and ".watermark." in rest:
            if rest.rsplit(".", 1)[-1] in names.SPLIT_METRICS:
                splits.append(full)
            continue
        bare.add(rest)
        op, _, metric = rest.rpartition(".")
        if op and metric in names.SOURCE_MARKERS:
            source_ops[op] = None
        for counter in names.OPERATOR_COUNTERS:
            suffix = "." + counter
            if rest.endswith(suffix) and not rest.startswith(SKIP_OPERATOR_GROUPS):
                operators[rest[: -len(suffix)]] = None
    task = names.resolve(bare, names.TASK_METRICS)
    source: dict[str, str] = {}
    for op in source_ops:
        found = names.resolve((n[len(op) + 1:] for n in bare if n.startswith(op + ".")),
                              names.SOURCE_METRICS)
        source.update({q: f"{op}.{n}" for q, n in found.items() if q not in source})
    return VertexNames(task=task, operators=tuple(operators), latency=tuple(sorted(latency)),
                       listed_at=now, complete=bool(task) and needs <= set(task), source=source,
                       splits=tuple(sorted(splits)))


def listed_ids(listed: Any) -> list[str]:
    """The metric names of a `/metrics` listing."""
    return [i for i in (as_text(as_dict(item).get("id")) for item in as_list(listed)) if i]


def metric_values(body: Any) -> dict[str, float | None]:
    """A `/metrics?get=` answer: name -> value (None where Flink sent something unreadable)."""
    out: dict[str, float | None] = {}
    for item in as_list(body):
        item = as_dict(item)
        name = as_text(item.get("id"))
        if name:
            out[name] = as_number(item.get("value"))
    return out



AGGREGATE_KEYS = ("min", "max", "avg", "sum", "skew")


def aggregated_values(body: Any) -> dict[str, dict[str, float]]:
    """A `/subtasks/metrics?get=..&agg=..` answer: name -> {min, max, avg, sum, skew} (the
    components Flink sent as numbers). Flink answers `[]` when a requested name is missing on
    every subtask."""
    out: dict[str, dict[str, float]] = {}
    for item in as_list(body):
        item = as_dict(item)
        name = as_text(item.get("id"))
        if not name:
            continue
        stats = {k: v for k in AGGREGATE_KEYS if (v := as_number(item.get(k))) is not None}
        if stats:
            out[name] = stats
    return out

def wanted_metrics(vnames: VertexNames, samples: list[SubtaskSample]) -> list[str]:
    """The `<subtask>.<name>` metrics to request for a vertex's subtasks."""
    have = set().union(*(s.values.keys() for s in samples)) if samples else set()
    bare = [
        name
        for q, name in vnames.task.items()
        if names.Quantity(q) in names.ALWAYS_GAUGES or q not in have
    ]
    for op in vnames.operators:
        bare.extend(f"{op}.{counter}" for counter in names.OPERATOR_COUNTERS)
    bare.extend(vnames.source.values())
    out = [f"{s.index}.{b}" for s in samples for b in bare]
    indices = {str(s.index) for s in samples}
    out.extend(lat for lat in vnames.latency if lat.partition(".")[0] in indices)
    out.extend(sp for sp in vnames.splits if sp.partition(".")[0] in indices)
    return out


def chunks(items: Iterable[str], limit: int) -> list[list[str]]:
    """`items` in groups whose comma-joined, URL-quoted length stays within `limit`."""
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


# -- subtasks, checkpoints, TaskManagers ----------------------------------------------------

def subtasks_from_detail(vertex: Vertex, detail: Any) -> list[SubtaskSample]:
    """`/jobs/:jid/vertices/:vid`: every subtask's accumulated times, records and bytes, its
    attempt and TaskManager. Subtasks outside the vertex's parallelism, or listed twice, are
    left out."""
    samples: list[SubtaskSample] = []
    seen: set[int] = set()
    for st in as_list(as_dict(detail).get("subtasks")):
        if not isinstance(st, dict):
            continue
        index = as_int(st.get("subtask"), len(samples), 0, MAX_PARALLELISM)
        if index in seen or index >= max(vertex.parallelism, 1):
            continue
        seen.add(index)
        metrics = as_dict(st.get("metrics"))
        values: dict[str, float] = {}
        for q, fieldname in names.DETAIL_FIELDS.items():
            v = as_number(metrics.get(fieldname))
            if v is not None:
                values[q.value] = v
        flags = [v for k, v in metrics.items() if isinstance(k, str) and k.endswith("-complete")]
        if flags:
            values[Quantity.IO_COMPLETE.value] = 1.0 if all(f is True for f in flags) else 0.0
        samples.append(SubtaskSample(
            vertex_id=vertex.id, index=index, attempt=as_int(st.get("attempt"), 0, 0),
            status=as_text(st.get("status")),
            taskmanager_id=as_text(st.get("taskmanager-id")),
            host=as_text(st.get("endpoint")) or as_text(st.get("host")),
            values=values,
        ))
    return samples


def checkpoint_stats(body: Any) -> CheckpointStats:
    """`/jobs/:jid/checkpoints`: counts and the latest completed checkpoint."""
    body = as_dict(body)
    counts = as_dict(body.get("counts"))
    latest = as_dict(as_dict(body.get("latest")).get("completed"))
    size = as_number(latest.get("checkpointed_size"))
    return CheckpointStats(
        completed=as_int(counts.get("completed"), 0, 0),
        failed=as_int(counts.get("failed"), 0, 0),
        in_progress=as_int(counts.get("in_progress"), 0, 0),
        latest_duration_ms=as_number(latest.get("end_to_end_duration")),
        latest_trigger_ts=as_number(latest.get("trigger_timestamp")),
        latest_size_bytes=size if size else as_number(latest.get("state_size")),
    )


def taskmanager_cores(body: Any) -> dict[str, float]:
    """`/taskmanagers`: each TaskManager's host cores."""
    out: dict[str, float] = {}
    for tm in as_list(as_dict(body).get("taskmanagers")):
        tm = as_dict(tm)
        cores = as_number(as_dict(tm.get("hardware")).get("cpuCores"))
        tm_id = as_text(tm.get("id"))
        if tm_id and cores is not None and math.isfinite(cores) and cores > 0:
            out[tm_id] = cores
    return out
