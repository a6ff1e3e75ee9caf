"""Rates through a job: what its sources emit, what they would emit unthrottled, what each
vertex takes in at a given source rate (DS2's selectivities), and what the job carries
through to its sinks. Pure; the one place both the diagnosis's plans (analysis.capacity) and
`tune`'s (analysis.plan) read rates from.

A job is read as its task states in topological order (`upstream` says the edges), with which
tasks are sources (they take no input) and each task's backpressured ratio averaged over its
subtasks; `Flow.of(diagnosis)` reads them from a diagnosis, analysis.capacity from the
evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flowscope.analysis.findings import Diagnosis, TaskState
from flowscope.analysis.numbers import finite_mean

# A source blocked more than this share of the time is paced by the backpressure itself: what
# it would emit unthrottled cannot be read from its own rate (a rate limiter or a backlog
# would tell, and Flink does not expose either for every source).
MAX_SOURCE_BP_FOR_ESTIMATE = 0.5


@dataclass(frozen=True)
class Flow:
    """A job's tasks as rates read them. `sources`: vertex ids that take no input;
    `backpressured`: each task's backpressured ratio, the mean over its subtasks (None: not
    measured); `edges`: whether `upstream` holds the job graph's edges (without them each
    task's input scales with the sources')."""

    tasks: Sequence[TaskState]
    sources: frozenset[str]
    backpressured: dict[str, float | None]
    edges: bool = True

    @classmethod
    def of(cls, d: Diagnosis) -> Flow:
        return cls(d.tasks, frozenset(t.vertex_id for t in d.tasks if not t.upstream),
                   {t.vertex_id: finite_mean(s.backpressured for s in t.subtasks)
                    for t in d.tasks})


def source_rates(flow: Flow) -> tuple[float | None, float | None]:
    """(records/s the sources emit now, records/s they would emit unthrottled or None)."""
    now = 0.0
    offered: float | None = 0.0
    for t in flow.tasks:
        if t.vertex_id not in flow.sources:
            continue
        if t.records_out_per_s is None:
            return None, None
        now += t.records_out_per_s
        bp = flow.backpressured.get(t.vertex_id)
        if bp is None or bp > MAX_SOURCE_BP_FOR_ESTIMATE or offered is None:
            offered = None
        else:
            offered += t.records_out_per_s / (1.0 - bp)
    return now, offered


def needs_at(flow: Flow, target: float, now: float) -> dict[str, float]:
    """Records/s into each vertex (out of each source) with the sources at `target` records/s
    in total, `now` being what they emit today: through each vertex's own output / input
    ratio (DS2's selectivity), which holds while buffers fill, when a vertex's input does not
    yet match the sources' output. Without the edges, each task's input today, scaled."""
    scale = target / now if now else 0.0
    out: dict[str, float] = {}
    need: dict[str, float] = {}
    for t in flow.tasks:
        if t.vertex_id in flow.sources:
            need[t.vertex_id] = out[t.vertex_id] = (t.records_out_per_s or 0.0) * scale
            continue
        if not flow.edges:
            need[t.vertex_id] = (t.records_in_per_s or 0.0) * scale
            continue
        need[t.vertex_id] = sum(out.get(u, 0.0) for u in t.upstream)
        ratio = ((t.records_out_per_s or 0.0) / t.records_in_per_s
                 if t.records_in_per_s else 1.0)
        out[t.vertex_id] = need[t.vertex_id] * ratio
    return need


def sustained_rate(d: Diagnosis) -> float | None:
    """Records/s at the sources that the job carries through to its sinks: what the sources
    emit, scaled by what the sinks take in over what they would take in at that rate. Equal
    to the sources' rate in a steady state; lower while the buffers before a bottleneck fill
    (the sources then emit more than the job carries)."""
    flow = Flow.of(d)
    now, _ = source_rates(flow)
    if not now:
        return now
    needs = needs_at(flow, now, now)
    sinks = [t for t in d.tasks if not t.downstream and t.upstream]
    want = sum(needs.get(t.vertex_id, 0.0) for t in sinks)
    got = [t.records_in_per_s for t in sinks]
    if not sinks or not want or any(g is None for g in got):
        return now
    return now * sum(g for g in got if g is not None) / want
