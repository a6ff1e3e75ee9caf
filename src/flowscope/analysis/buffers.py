"""The 2019 post's buffer tables per subtask, and throughput facts per task.

Table 1 reads a subtask's own inPoolUsage with its outPoolUsage; table 2 reads its floating and
exclusive input-buffer usage with its upstream tasks' outPoolUsage. inPoolUsage covers remote
input channels only, so a subtask whose inputs are all local (or FORWARD) reads 0 and is not
judged. Pure.
"""

from __future__ import annotations

from flowscope.analysis.findings import (
    Action,
    ActionKind,
    BufferMeaning,
    BufferReading,
    Cause,
    Evidence,
    Fact,
    Finding,
    TaskState,
    ThroughputFacts,
    Why,
)
from flowscope.analysis.window import SubtaskWindow
from flowscope.model import JobGraph

# The gauges are instantaneous and swing (0.3 to 1.0 between snapshots at low parallelism);
# a pool whose mean over the window is at least this full counts as high.
HIGH = 0.5
SEGMENT_BYTES = 32 * 1024  # taskmanager.memory.segment-size default
LOW_FILL = 0.25  # network buffers under this share full are "low fill"
MANY_BUFFERS_PER_S = 500.0  # ... and only matter at this many buffers per second


def _high(v: float | None) -> bool:
    return v is not None and v >= HIGH


def pool_table(in_pool: float | None, out_pool: float | None,
               upstream_high: bool) -> tuple[str, BufferMeaning]:
    """The first table: (sign, meaning)."""
    if _high(in_pool) and _high(out_pool):
        return "error", BufferMeaning.FORWARDING
    if _high(in_pool):
        if upstream_high:
            return "error", BufferMeaning.MAY_BE_SOURCE
        return "warning", BufferMeaning.MAY_CAUSE
    if _high(out_pool):
        return "warning", BufferMeaning.TEMPORARY
    return "ok", BufferMeaning.NONE


def channel_table(floating: float | None, exclusive: float | None,
                  upstream_high: bool) -> tuple[str, BufferMeaning] | None:
    """The second table: (sign, meaning), or None without the Flink 1.9+ metrics."""
    if floating is None or exclusive is None:
        return None
    if not _high(floating):
        if _high(exclusive):
            return "warning", BufferMeaning.UNEXPECTED
        if upstream_high:
            return "error", BufferMeaning.NETWORK
        return "ok", BufferMeaning.NONE
    if upstream_high:
        return "error", (BufferMeaning.MOST_CHANNELS if _high(exclusive)
                         else BufferMeaning.SOME_CHANNELS)
    return "warning", (BufferMeaning.MOST_CHANNELS_LATER if _high(exclusive)
                       else BufferMeaning.SOME_CHANNELS_LATER)


def buffer_readings(graph: JobGraph, windows: dict[str, list[SubtaskWindow]]
                    ) -> list[BufferReading]:
    """Both tables for every subtask that receives data over remote channels."""
    out = []
    for v in graph.topological():
        ups = graph.upstream(v.id)
        if not ups:
            continue
        upstream_high = any(_high(s.out_pool_usage) for u in ups for s in windows.get(u, []))
        for s in windows.get(v.id, []):
            if not s.bytes_in_remote_per_s and not s.in_pool_usage:
                continue  # only local inputs: inPoolUsage says nothing here
            sign, meaning = pool_table(s.in_pool_usage, s.out_pool_usage, upstream_high)
            channels = channel_table(s.in_floating_usage, s.in_exclusive_usage, upstream_high)
            out.append(BufferReading(
                vertex=v.name, subtask=s.index, in_pool_usage=s.in_pool_usage,
                out_pool_usage=s.out_pool_usage, floating_usage=s.in_floating_usage,
                exclusive_usage=s.in_exclusive_usage, upstream_out_pool_high=upstream_high,
                pool_sign=sign, pool_meaning=meaning,
                channels_sign=channels[0] if channels else None,
                channels_meaning=channels[1] if channels else None,
            ))
    return out


def low_fill_findings(facts: list[ThroughputFacts], window_s: float) -> list[Finding]:
    """Many nearly empty network buffers: the output flusher (execution.buffer-timeout) sends
    them before they fill. Cheap at low rates (it buys latency); at high rates each buffer
    costs a network round of its own. Informational: the job may still keep up."""
    out = []
    for t in facts:
        if (t.buffer_fill is None or t.remote_buffers_per_s is None
                or t.buffer_fill >= LOW_FILL or t.remote_buffers_per_s < MANY_BUFFERS_PER_S):
            continue
        out.append(Finding(
            Cause.LOW_BUFFER_FILL, None, t.vertex, is_bottleneck=False,
            facts={Fact.REMOTE_BUFFERS_PER_S: t.remote_buffers_per_s,
                   Fact.BYTES_PER_BUFFER: t.bytes_per_remote_buffer or 0.0,
                   Fact.BUFFER_FILL: t.buffer_fill, Fact.SEGMENT_KIB: SEGMENT_BYTES // 1024},
            evidence=[
                Evidence(t.vertex, "bytes_per_remote_buffer", round(t.bytes_per_remote_buffer
                                                                      or 0, 1), "bytes",
                         window_s, Why.BYTES_PER_BUFFER),
                Evidence(t.vertex, "remote_buffers_per_s", round(t.remote_buffers_per_s, 1),
                         "buffers/s", window_s, Why.BUFFER_ROUNDS),
                Evidence(t.vertex, "record_bytes_in", round(t.record_bytes_in or 0, 1),
                         "bytes", window_s, Why.RECORD_SIZE),
            ],
            actions=[Action(ActionKind.BUFFER_TIMEOUT,
                            config={"execution.buffer-timeout": "100 ms"})],
        ))
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def throughput_facts(graph: JobGraph, tasks: dict[str, TaskState],
                     windows: dict[str, list[SubtaskWindow]]) -> list[ThroughputFacts]:
    out = []
    for v in graph.topological():
        subs = windows.get(v.id, [])

        def total(attr: str, subs: list[SubtaskWindow] = subs) -> float | None:
            vals = [x for s in subs if (x := getattr(s, attr)) is not None]
            return sum(vals) if vals else None

        remote = total("bytes_in_remote_per_s")
        local = total("bytes_in_local_per_s")
        buffers = total("buffers_in_remote_per_s")
        per_buffer = _ratio(remote, buffers)
        out.append(ThroughputFacts(
            vertex=v.name,
            record_bytes_in=_ratio(total("bytes_in_per_s"), total("records_in_per_s")),
            record_bytes_out=_ratio(total("bytes_out_per_s"), total("records_out_per_s")),
            remote_share_in=_ratio(remote, (remote or 0.0) + (local or 0.0)),
            bytes_per_remote_buffer=per_buffer,
            buffer_fill=per_buffer / SEGMENT_BYTES if per_buffer is not None else None,
            remote_buffers_per_s=buffers,
            true_rate_per_subtask=tasks[v.id].true_rate_per_subtask,
        ))
    return out
