"""Rates through a job: what its sources emit, what they would emit unthrottled, what each
vertex takes in at a given source rate (DS2's selectivities), and what the job carries
through to its sinks. Pure."""

from __future__ import annotations

from flowscope.analysis.findings import Diagnosis
from flowscope.analysis.numbers import finite_mean

# A source blocked more than this share of the time is paced by the backpressure: what it
# would emit unthrottled cannot be read from its own rate (as capacity.py decides).
MAX_SOURCE_BP_FOR_ESTIMATE = 0.5


def source_rates(d: Diagnosis) -> tuple[float | None, float | None]:
    """(records/s the sources emit now, records/s they would emit unthrottled or None)."""
    now = 0.0
    offered: float | None = 0.0
    for t in d.tasks:
        if t.upstream:
            continue
        if t.records_out_per_s is None:
            return None, None
        now += t.records_out_per_s
        bp = finite_mean(s.backpressured for s in t.subtasks)
        if bp is None or bp > MAX_SOURCE_BP_FOR_ESTIMATE or offered is None:
            offered = None
        else:
            offered += t.records_out_per_s / (1.0 - bp)
    return now, offered


def needs_at(d: Diagnosis, target: float, now: float) -> dict[str, float]:
    """Records/s into each vertex (out of each source) with the sources at `target` records/s
    in total, `now` being what they emit in `d`: through each vertex's own output / input
    ratio (DS2's selectivity), which holds while buffers fill, when a vertex's input does not
    yet match the sources' output."""
    scale = target / now
    out: dict[str, float] = {}
    need: dict[str, float] = {}
    for t in d.tasks:
        if not t.upstream:
            need[t.vertex_id] = out[t.vertex_id] = (t.records_out_per_s or 0.0) * scale
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
    now, _ = source_rates(d)
    if not now:
        return now
    needs = needs_at(d, now, now)
    sinks = [t for t in d.tasks if not t.downstream and t.upstream]
    want = sum(needs.get(t.vertex_id, 0.0) for t in sinks)
    got = [t.records_in_per_s for t in sinks]
    if not sinks or not want or any(g is None for g in got):
        return now
    return now * sum(g for g in got if g is not None) / want
