"""Latency attribution from Flink's latency markers: which hop adds the most.

With `metrics.latency.interval` > 0 every source emits a marker carrying its wall-clock time
every interval; each operator records `now - marker time` in a histogram per source (and
operator subtask), and forwards the marker. The collector stores the histograms in
`Sample.latency` keyed `<vertex id>|<subtask>|latency.source_id.<vid>[.source_subtask_index.<j>]
.operator_id.<opid>.operator_subtask_index.<i>` with `latency_median` / `_p95` / `_p99` (ms).

A histogram is cumulative from the source, so a hop's share is the difference between the
receiving vertex and its upstream vertex. Markers skip the user functions (they measure time
spent waiting in buffers and queues, not processing), queue behind records at a backpressured
input, and cross each network exchange after waiting for its buffer to fill or for the buffer
timeout: about `execution.buffer-timeout` / 2 per network hop when throughput is low.

Pure: the graph, one sample's latency map and the configuration in; a LatencyReport out,
with what it shows as typed statements (render.words.profile words them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from flowscope.model import JobGraph

QUANTILES = (("p50", "latency_median"), ("p95", "latency_p95"), ("p99", "latency_p99"))
DEFAULT_BUFFER_TIMEOUT_MS = 100.0
BUFFER_TIMEOUT_KEYS = ("execution.buffer-timeout.interval", "execution.buffer-timeout")
# A hop adding this many times the expected buffer wait is queueing behind records.
QUEUEING_FACTOR = 3.0


class EnableHow(StrEnum):
    """Where latency tracking can be switched on."""

    CLUSTER = "cluster"  # metrics.latency.interval in the cluster's configuration
    JOB = "job"  # at submission, or in the program


class Caveat(StrEnum):
    """What latency markers do not tell, or cost."""

    CLOCKS = "clocks"  # markers carry the source host's wall clock
    SUBTASK_GRANULARITY = "subtask-granularity"  # one histogram per subtask pair
    USER_FUNCTIONS = "user-functions"  # markers bypass user functions


class LatencyNote(StrEnum):
    """What the latency markers show."""

    MARKERS_PENDING = "markers-pending"  # tracking is on, no marker has arrived yet
    TRACKING_OFF = "tracking-off"
    NEGATIVE_HOPS = "negative-hops"  # some hops read negative and are clamped to 0
    HOP_ADDS_MOST = "hop-adds-most"


@dataclass(frozen=True)
class MarkersPending:
    kind: ClassVar[LatencyNote] = LatencyNote.MARKERS_PENDING
    interval_ms: float  # metrics.latency.interval


@dataclass(frozen=True)
class TrackingOff:
    kind: ClassVar[LatencyNote] = LatencyNote.TRACKING_OFF


@dataclass(frozen=True)
class NegativeHops:
    """Histograms of different operators hold different markers: their quantiles do not
    subtract exactly."""

    kind: ClassVar[LatencyNote] = LatencyNote.NEGATIVE_HOPS


@dataclass
class VertexLatency:
    """Latency from one source to one vertex (ms, cumulative), averaged over subtasks."""

    source_id: str
    vertex_id: str
    vertex_name: str
    p50: float
    p95: float
    p99: float
    subtasks: int  # histograms averaged
    worst_subtask: int | None  # the operator subtask with the highest p99
    worst_p99: float | None


@dataclass
class Hop:
    """What one exchange adds between an upstream vertex and a downstream one (ms)."""

    source_id: str
    source_name: str
    from_id: str
    from_name: str
    to_id: str
    to_name: str
    ship_strategy: str
    p50: float
    p95: float
    p99: float
    cumulative_p50: float
    cumulative_p99: float
    expected_ms: float | None  # buffer timeout / 2: what the network hop alone should add
    queueing: bool  # adds far more than the buffer timeout explains: waiting behind records


@dataclass(frozen=True)
class HopAddsMost:
    """The hop that adds the most, next to the buffer timeout's share of a network hop."""

    kind: ClassVar[LatencyNote] = LatencyNote.HOP_ADDS_MOST
    hop: Hop
    buffer_timeout_ms: float | None  # None: no flush on time, or unknown
    buffer_timeout_from: str  # "cluster config" | "default"


LatencyStatement = MarkersPending | TrackingOff | NegativeHops | HopAddsMost


@dataclass
class LatencyReport:
    enabled: bool
    interval_ms: float | None
    granularity: str | None
    buffer_timeout_ms: float | None  # None: -1 (flush only when full) or unknown
    buffer_timeout_from: str  # "cluster config" | "default"
    vertices: list[VertexLatency]
    hops: list[Hop]
    slowest: Hop | None
    notes: list[LatencyStatement] = field(default_factory=list)
    how_to_enable: list[EnableHow] = field(default_factory=list)
    caveats: list[Caveat] = field(default_factory=list)


@dataclass
class _Entry:
    vertex_id: str
    subtask: int
    source_id: str
    operator_id: str
    values: dict[str, float]


def parse_key(key: str) -> tuple[str, int, dict[str, str]] | None:
    """`<vid>|<sub>|latency.source_id.X.operator_id.Y.operator_subtask_index.0` ->
    (vid, sub, {"source_id": X, "operator_id": Y, "operator_subtask_index": "0"})."""
    parts = key.split("|", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].startswith("latency."):
        return None
    tokens = parts[2].split(".")[1:]
    if len(tokens) % 2:
        return None
    return parts[0], int(parts[1]), dict(zip(tokens[::2], tokens[1::2], strict=True))


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f else None


def buffer_timeout(cluster_config: Mapping[str, str] | None) -> tuple[float | None, str]:
    """The buffer timeout in ms and where it came from. -1 (never flush on time) -> None."""
    config = cluster_config or {}
    if config.get("execution.buffer-timeout.enabled", "").lower() == "false":
        return None, "cluster config"
    for key in BUFFER_TIMEOUT_KEYS:
        if key in config:
            ms = _duration_ms(config[key])
            if ms is not None:
                return (None if ms < 0 else ms), "cluster config"
    return DEFAULT_BUFFER_TIMEOUT_MS, "default"


def _duration_ms(text: str) -> float | None:
    t = text.strip().lower().replace(" ", "")
    for suffix, scale in (("ms", 1.0), ("milli", 1.0), ("s", 1000.0), ("sec", 1000.0),
                          ("min", 60000.0)):
        if t.endswith(suffix) and _num(t[: -len(suffix)]) is not None:
            return float(t[: -len(suffix)]) * scale
    return _num(t)


def analyse_latency(
    graph: JobGraph,
    latency: Mapping[str, Mapping[str, float]],
    cluster_config: Mapping[str, str] | None = None,
) -> LatencyReport:
    """Per source and vertex the cumulative p50/p95/p99, per hop what it adds, the slowest
    hop, and the buffer-timeout share expected on each network hop."""
    config = cluster_config or {}
    interval = _duration_ms(config["metrics.latency.interval"]) if (
        "metrics.latency.interval" in config) else None
    timeout, timeout_from = buffer_timeout(config)
    entries = _entries(latency)
    report = LatencyReport(
        enabled=bool(entries) or bool(interval and interval > 0), interval_ms=interval,
        granularity=config.get("metrics.latency.granularity"), buffer_timeout_ms=timeout,
        buffer_timeout_from=timeout_from, vertices=[], hops=[], slowest=None,
        caveats=list(Caveat),
    )
    if not entries:
        if interval and interval > 0:
            report.notes.append(MarkersPending(interval))
        else:
            report.notes.append(TrackingOff())
            report.how_to_enable = list(EnableHow)
        return report
    by_source = _vertex_latencies(graph, entries)
    negative = False
    for src, per_vertex in by_source.items():
        report.vertices.extend(per_vertex.values())
        hops, clamped = _hops(graph, src, per_vertex, timeout)
        report.hops.extend(hops)
        negative = negative or clamped
    report.hops.sort(key=lambda h: -h.p50)
    report.slowest = report.hops[0] if report.hops else None
    if negative:
        report.notes.append(NegativeHops())
    if report.slowest is not None:
        report.notes.append(HopAddsMost(report.slowest, timeout, timeout_from))
    return report


def _entries(latency: Mapping[str, Mapping[str, float]]) -> list[_Entry]:
    """The histograms with all three quantiles, keyed by their operator subtask."""
    entries = []
    for key, values in latency.items():
        parsed = parse_key(key)
        if parsed is None:
            continue
        vid, sub, fields = parsed
        vals = {name: v for name, raw in QUANTILES if (v := _num(values.get(raw))) is not None}
        if len(vals) == len(QUANTILES):
            entries.append(_Entry(vid, int(fields.get("operator_subtask_index", sub)),
                                  fields.get("source_id", ""), fields.get("operator_id", ""),
                                  vals))
    return entries


def _vertex_latencies(
    graph: JobGraph, entries: list[_Entry]
) -> dict[str, dict[str, VertexLatency]]:
    """Per source, per vertex of the graph: the mean quantiles over its subtasks."""
    names = {v.id: v.name for v in graph.vertices}
    by_source: dict[str, dict[str, VertexLatency]] = {}
    grouped: dict[tuple[str, str], list[_Entry]] = {}
    for e in entries:
        if e.vertex_id in names:
            grouped.setdefault((e.source_id, e.vertex_id), []).append(e)
    for (src, vid), group in sorted(grouped.items()):
        # Chained operators see a marker one after another: the head (whose operator id is
        # the vertex id) stands for the vertex; otherwise the latest operator of the chain.
        head = [e for e in group if e.operator_id == vid]
        if not head:
            by_op: dict[str, list[_Entry]] = {}
            for e in group:
                by_op.setdefault(e.operator_id, []).append(e)
            head = max(by_op.values(), key=lambda es: sum(e.values["p50"] for e in es) / len(es))
        worst = max(head, key=lambda e: e.values["p99"])
        mean = {q: sum(e.values[q] for e in head) / len(head) for q, _ in QUANTILES}
        by_source.setdefault(src, {})[vid] = VertexLatency(
            src, vid, names[vid], mean["p50"], mean["p95"], mean["p99"], len(head),
            worst.subtask, worst.values["p99"],
        )
    return by_source


def _hops(
    graph: JobGraph, src: str, per_vertex: Mapping[str, VertexLatency], timeout: float | None
) -> tuple[list[Hop], bool]:
    """What each edge adds for markers of one source, and whether any hop read negative
    (clamped to 0)."""
    names = {v.id: v.name for v in graph.vertices}
    expected = timeout / 2 if timeout is not None else None
    hops, negative = [], False
    for vid, lat in per_vertex.items():
        for edge in graph.inputs(vid):
            base = _nearest(graph, edge.source, per_vertex, src)
            if base is None:
                continue
            add = {q: lat_q - base_q for q, lat_q, base_q in (
                ("p50", lat.p50, base[0]), ("p95", lat.p95, base[1]),
                ("p99", lat.p99, base[2]))}
            negative = negative or any(v < 0 for v in add.values())
            p50 = max(add["p50"], 0.0)
            hops.append(Hop(
                source_id=src, source_name=names.get(src, src), from_id=edge.source,
                from_name=names.get(edge.source, edge.source), to_id=vid,
                to_name=lat.vertex_name, ship_strategy=edge.ship_strategy,
                p50=p50, p95=max(add["p95"], 0.0), p99=max(add["p99"], 0.0),
                cumulative_p50=lat.p50, cumulative_p99=lat.p99, expected_ms=expected,
                queueing=expected is not None and p50 > QUEUEING_FACTOR * max(expected, 1.0),
            ))
    return hops, negative


def _nearest(
    graph: JobGraph, vid: str, per_vertex: Mapping[str, VertexLatency], source: str
) -> tuple[float, float, float] | None:
    """The cumulative latency at `vid`, or at its nearest upstream vertex that reports one;
    0 at the source vertex itself."""
    todo, seen = [vid], set()
    while todo:
        v = todo.pop(0)
        if v in seen:
            continue
        seen.add(v)
        if v in per_vertex:
            lat = per_vertex[v]
            return lat.p50, lat.p95, lat.p99
        if v == source:
            return 0.0, 0.0, 0.0
        todo.extend(graph.upstream(v))
    return None
