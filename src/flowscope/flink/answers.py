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
from flowscope.model import (
    Checkpoint,
    CheckpointConfig,
    CheckpointStats,
    CheckpointSubtask,
    CheckpointVertex,
    Edge,
    Failures,
    JobException,
    JobGraph,
    Quantity,
    SubtaskSample,
    Vertex,
)

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
    # The state backend's metrics (RocksDB native metrics, state access latencies), bare.
    state: tuple[str, ...] = ()

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
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int past any float
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
    state: set[str] = set()
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
        if names.state_metric(rest) is not None:
            state.add(rest)
            continue
        bare.add(rest)
        op, _, metric = rest.rpartition(".")
        if op and metric in names.SOURCE_MARKERS:
            source_ops[op] = None
        for counter in names.OPERATOR_COUNTERS:
            suffix = "." + counter
            if rest.endswith(suffix) and not rest.startswith(SKIP_OPERATOR_GROUPS):
                operators[rest[: -len(suffix)]] = None
    task = names.resolve(bare, {**names.TASK_METRICS, **names.REST_TASK_METRICS})
    source: dict[str, str] = {}
    for op in source_ops:
        found = names.resolve((n[len(op) + 1:] for n in bare if n.startswith(op + ".")),
                              names.SOURCE_METRICS)
        source.update({q: f"{op}.{n}" for q, n in found.items() if q not in source})
    return VertexNames(task=task, operators=tuple(operators), latency=tuple(sorted(latency)),
                       listed_at=now, complete=bool(task) and needs <= set(task), source=source,
                       splits=tuple(sorted(splits)), state=tuple(sorted(state)))


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
    bare.extend(vnames.state)
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
    """`/jobs/:jid/checkpoints`: counts, the latest completed checkpoint, the latest restore
    and the history (newest first; Flink keeps `web.checkpoints.history` entries)."""
    body = as_dict(body)
    counts = as_dict(body.get("counts"))
    latest = as_dict(as_dict(body.get("latest")).get("completed"))
    restored = as_dict(as_dict(body.get("latest")).get("restored"))
    size = as_number(latest.get("checkpointed_size"))
    history = [c for c in (checkpoint_entry(h) for h in as_list(body.get("history")))
               if c is not None]
    history.sort(key=lambda c: -c.id)
    restored_id = as_int(restored.get("id"), -1, 0)
    return CheckpointStats(
        completed=as_int(counts.get("completed"), 0, 0),
        failed=as_int(counts.get("failed"), 0, 0),
        in_progress=as_int(counts.get("in_progress"), 0, 0),
        latest_duration_ms=as_number(latest.get("end_to_end_duration")),
        latest_trigger_ts=as_number(latest.get("trigger_timestamp")),
        latest_size_bytes=size if size else as_number(latest.get("state_size")),
        restored=as_int(counts.get("restored"), 0, 0),
        restored_id=restored_id if restored_id >= 0 else None,
        restore_ms=_time_ms(restored.get("restore_timestamp")),
        history=tuple(history),
    )


def _duration(v: Any) -> float | None:
    """A duration or size as Flink reports it: -1 (not acknowledged) and NaN are unknown."""
    f = as_number(v)
    return f if f is not None and math.isfinite(f) and f >= 0 else None


def _time_ms(v: Any) -> float | None:
    """An epoch-ms timestamp; 0 and -1 mean "never"."""
    f = as_number(v)
    return f if f is not None and math.isfinite(f) and f > 0 else None


def _first_line(text: str, limit: int = 300) -> str:
    return text.strip().splitlines()[0][:limit] if text.strip() else ""


def checkpoint_entry(entry: Any, vertices: tuple[CheckpointVertex, ...] = ()
                     ) -> Checkpoint | None:
    """One checkpoint of the history, or `/jobs/:jid/checkpoints/details/:id` (its `tasks`
    become `vertices`, each vertex's summary; `vertices` given here replace them). None
    without an id."""
    entry = as_dict(entry)
    cp_id = as_int(entry.get("id"), -1, 0)
    if cp_id < 0:
        return None
    if not vertices:
        vertices = tuple(
            checkpoint_vertex(vid, task) for vid, task in as_dict(entry.get("tasks")).items()
            if isinstance(vid, str) and vid)
    return Checkpoint(
        id=cp_id, status=as_text(entry.get("status")).upper(),
        savepoint=entry.get("is_savepoint") is True,
        trigger_ms=_time_ms(entry.get("trigger_timestamp")),
        end_to_end_ms=_duration(entry.get("end_to_end_duration")),
        checkpointed_bytes=_duration(entry.get("checkpointed_size")),
        state_bytes=_duration(entry.get("state_size")),
        processed_bytes=_duration(entry.get("processed_data")),
        persisted_bytes=_duration(entry.get("persisted_data")),
        acknowledged=as_int(entry.get("num_acknowledged_subtasks"), 0, 0),
        subtasks=as_int(entry.get("num_subtasks"), 0, 0),
        failure_ms=_time_ms(entry.get("failure_timestamp")),
        failure_message=_first_line(as_text(entry.get("failure_message"))),
        vertices=vertices,
    )


def checkpoint_vertex(vertex_id: str, body: Any,
                      subtasks: tuple[CheckpointSubtask, ...] = ()) -> CheckpointVertex:
    """A vertex's part of a checkpoint: a `tasks` entry of the checkpoint's details, or
    `/jobs/:jid/checkpoints/details/:id/subtasks/:vid` (whose subtasks are read with
    `checkpoint_subtasks`)."""
    body = as_dict(body)
    return CheckpointVertex(
        vertex_id=vertex_id,
        acknowledged=as_int(body.get("num_acknowledged_subtasks"), 0, 0),
        parallelism=as_int(body.get("num_subtasks"), 0, 0, MAX_PARALLELISM),
        end_to_end_ms=_duration(body.get("end_to_end_duration")),
        checkpointed_bytes=_duration(body.get("checkpointed_size")),
        state_bytes=_duration(body.get("state_size")),
        subtasks=subtasks,
    )


def checkpoint_subtasks(body: Any) -> tuple[CheckpointSubtask, ...]:
    """`/jobs/:jid/checkpoints/details/:id/subtasks/:vid`: each subtask's sync, async,
    alignment and start delay (ms), sizes (bytes); a subtask not acknowledged has none."""
    out: list[CheckpointSubtask] = []
    seen: set[int] = set()
    for st in as_list(as_dict(body).get("subtasks")):
        st = as_dict(st)
        index = as_int(st.get("index"), -1, 0, MAX_PARALLELISM)
        if index < 0 or index in seen:
            continue
        seen.add(index)
        phases = as_dict(st.get("checkpoint"))
        alignment = as_dict(st.get("alignment"))
        out.append(CheckpointSubtask(
            index=index, acknowledged=as_text(st.get("status")).lower() == "completed",
            end_to_end_ms=_duration(st.get("end_to_end_duration")),
            sync_ms=_duration(phases.get("sync")), async_ms=_duration(phases.get("async")),
            alignment_ms=_duration(alignment.get("duration")),
            start_delay_ms=_duration(st.get("start_delay")),
            checkpointed_bytes=_duration(st.get("checkpointed_size")),
            state_bytes=_duration(st.get("state_size")),
            processed_bytes=_duration(alignment.get("processed")),
            persisted_bytes=_duration(alignment.get("persisted")),
            unaligned=st.get("unaligned_checkpoint") is True,
            aborted=st.get("aborted") is True,
        ))
    return tuple(sorted(out, key=lambda st: st.index))


def checkpoint_config(body: Any) -> CheckpointConfig | None:
    """`/jobs/:jid/checkpoints/config`; None when it is not a checkpoint configuration (a job
    without checkpointing answers an error instead)."""
    body = as_dict(body)
    if "interval" not in body and "mode" not in body:
        return None
    tolerable = as_int(body.get("tolerable_failed_checkpoints"), -1, 0)
    concurrent = as_int(body.get("max_concurrent"), -1, 0)
    unaligned = body.get("unaligned_checkpoints")
    return CheckpointConfig(
        interval_ms=_duration(body.get("interval")),
        timeout_ms=_duration(body.get("timeout")),
        min_pause_ms=_duration(body.get("min_pause")),
        max_concurrent=concurrent if concurrent >= 0 else None,
        mode=as_text(body.get("mode")),
        unaligned=unaligned if isinstance(unaligned, bool) else None,
        aligned_timeout_ms=_duration(body.get("aligned_checkpoint_timeout")),
        tolerable_failures=tolerable if tolerable >= 0 else None,
        state_backend=as_text(body.get("state_backend")),
        storage=as_text(body.get("checkpoint_storage")),
    )


def checkpoint_vertex_order(details: Checkpoint) -> list[str]:
    """The vertices of a checkpoint's details, the ones that tell most first: those whose
    subtasks did not all acknowledge (where a failed or stuck checkpoint stopped), then the
    slowest to acknowledge."""
    def key(v: CheckpointVertex) -> tuple[bool, float, str]:
        return (v.acknowledged >= v.parallelism > 0, -(v.end_to_end_ms or 0.0), v.vertex_id)
    return [v.vertex_id for v in sorted(details.vertices, key=key)]


def job_exceptions(body: Any, t: float, limit: int = 10) -> Failures:
    """`/jobs/:jid/exceptions`: the exception history, newest first (Flink 1.13+'s
    `exceptionHistory`; the older `root-exception` alone where that is all there is)."""
    body = as_dict(body)
    history = as_dict(body.get("exceptionHistory"))
    entries = [e for e in (job_exception(x) for x in as_list(history.get("entries")))
               if e is not None]
    if not entries and as_text(body.get("root-exception")):
        legacy = job_exception({"stacktrace": body.get("root-exception"),
                                "timestamp": body.get("timestamp")})
        entries = [legacy] if legacy is not None else []
    entries.sort(key=lambda e: -e.timestamp_ms)
    truncated = history.get("truncated") is True or body.get("truncated") is True
    return Failures(read_t=t, entries=tuple(entries[:limit]), truncated=truncated)


def job_exception(entry: Any) -> JobException | None:
    """One entry of the exception history; None without a stack trace or a name."""
    entry = as_dict(entry)
    trace = as_text(entry.get("stacktrace"))
    name = as_text(entry.get("exceptionName"))
    first = _first_line(trace)
    if not name:
        name = first.split(":", 1)[0].strip()
    if not name:
        return None
    message = first.split(":", 1)[1].strip() if first.startswith(name + ":") else first
    causes = [line.strip()[len("Caused by:"):].strip() for line in trace.splitlines()
              if line.strip().startswith("Caused by:")]
    location = as_dict(entry.get("taskManagerLocation"))
    return JobException(
        timestamp_ms=_time_ms(entry.get("timestamp")) or 0.0,
        name=name, message=message[:300], root_cause=causes[-1][:300] if causes else "",
        task=as_text(entry.get("taskName")),
        taskmanager_id=as_text(entry.get("taskManagerId")) or as_text(location.get("resourceID")),
        concurrent=len(as_list(entry.get("concurrentExceptions"))),
    )


def restarted_at_s(job: Any) -> float | None:
    """When the job last went RESTARTING (epoch s), from `/jobs/:jid`'s state timestamps."""
    ms = _time_ms(as_dict(as_dict(job).get("timestamps")).get("RESTARTING"))
    return ms / 1000.0 if ms is not None else None


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
