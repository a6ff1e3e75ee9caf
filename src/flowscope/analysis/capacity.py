"""How much parallelism each vertex needs: true processing rates, as in DS2 and Flink's autoscaler.

A subtask's true processing rate is the records it takes in per second of *busy* time. A vertex
needs `ceil(input_rate / (TARGET_UTILISATION * true_rate))` subtasks. The input rate of each
vertex is the source rate times the vertex's selectivity (its records in per source record).
"""

from __future__ import annotations

import math

from flowscope.analysis.evidence import JobEvidence, TaskEvidence
from flowscope.analysis.findings import (
    Action,
    ActionKind,
    Cause,
    Evidence,
    Fact,
    Finding,
    PlanStep,
    Why,
)
from flowscope.analysis.flow import Flow, needs_at, source_rates

TARGET_UTILISATION = 0.8
# Causes more subtasks relieve: more cores or more waiting at once, more requests in flight,
# more state backend instances. (Skew, a slow instance, a stalling snapshot: not so.)
SCALES = frozenset({Cause.COMPUTE_BOUND, Cause.OFF_CPU, Cause.GC_PRESSURE, Cause.BUSY,
                    Cause.ASYNC_CAPACITY, Cause.STATE_ACCESS})


def flow_of(ev: JobEvidence) -> Flow:
    """The evidence's tasks as rates read them (analysis.flow)."""
    return Flow([t.state for t in ev.tasks.values()],
                frozenset(vid for vid, t in ev.tasks.items() if not t.takes_input),
                {vid: t.backpressured_avg for vid, t in ev.tasks.items()},
                edges=ev.graph is not None)


def needed_parallelism(input_rate: float, true_rate: float, max_parallelism: int) -> int:
    p = max(1, math.ceil(input_rate / (TARGET_UTILISATION * true_rate)))
    return min(p, max_parallelism) if max_parallelism > 0 else p


def recommend(ev: JobEvidence, findings: list[Finding], target_rate: float | None) -> None:
    """Attach parallelism recommendations (with the next bottleneck) to bottleneck findings."""
    flow = flow_of(ev)
    now, offered = source_rates(flow)
    goal = target_rate if target_rate else offered
    for f in findings:
        if not f.is_bottleneck or f.vertex_id is None or f.vertex_id not in ev.tasks:
            continue
        t = ev.tasks[f.vertex_id]
        if f.cause == Cause.DATA_SKEW:
            _skew_ceiling(f, t, ev.window_s)
            continue
        if f.cause not in SCALES:
            continue
        r = t.state.true_rate_per_subtask
        if r is None or not now:
            continue
        f.evidence.append(Evidence(t.name, "true_rate_per_subtask", round(r, 1),
                                   "records/busy s", ev.window_s, Why.TRUE_RATE))
        if goal is None:
            f.actions.append(Action(ActionKind.PER_SUBTASK_RATE,
                                    {Fact.RATE_PER_SUBTASK: r,
                                     Fact.UTILISATION: TARGET_UTILISATION}))
            continue
        plan = _plan(ev, t, f.imbalance, needs_at(flow, goal, now))
        if not plan:
            continue
        f.actions.insert(0, Action(
            ActionKind.PLAN,
            {Fact.GOAL_PER_S: goal, Fact.GOAL_IS_TARGET: bool(target_rate),
             Fact.SOURCES_NOW_PER_S: now, Fact.UTILISATION: TARGET_UTILISATION,
             Fact.NEXT: tuple(s.vertex for s in plan if s.vertex != t.name)},
            parallelism={s.vertex: s.proposed for s in plan}, plan=plan))


def _plan(ev: JobEvidence, bottleneck: TaskEvidence, imbalance: float | None,
          rates: dict[str, float]) -> list[PlanStep]:
    """Every vertex whose input at the goal would pass its capacity, and the bottleneck."""
    out = []
    for vid, w in ev.tasks.items():
        ws = w.state
        if not w.takes_input or (vid != bottleneck.vertex_id
                                 and ws.true_rate_per_subtask is None):
            continue  # a source's limit is the head's to size (analysis.sources)
        need_in = rates.get(vid, 0.0)
        rw = ws.true_rate_per_subtask
        if rw is None or need_in <= 0:
            continue
        # With uneven input the busiest subtask saturates first: size for its share.
        uneven = (imbalance or 1.0) if vid == bottleneck.vertex_id else 1.0
        if need_in > TARGET_UTILISATION * rw * ws.parallelism or vid == bottleneck.vertex_id:
            p = needed_parallelism(need_in * uneven, rw, ws.max_parallelism)
            if p != ws.parallelism or vid == bottleneck.vertex_id:
                out.append(PlanStep(ws.name, ws.parallelism, p, need_in, rw, uneven,
                                    capped=p == ws.max_parallelism))
    return out


def _skew_ceiling(f: Finding, t: TaskEvidence, window_s: float) -> None:
    """The rate the task tops out at, whatever its parallelism, while its hot subtasks get
    their share of the records."""
    total = t.loads.total if t.loads else 0.0
    hot = [s for s in t.hot_subtasks if s.index in f.subtasks]
    if not hot or total <= 0:
        return
    share = sum(s.load_per_s or 0.0 for s in hot) / total
    rates = [r for s in hot if (r := s.true_rate) is not None]
    if not rates or share <= 0:
        return
    ceiling = min(rates) / share
    f.evidence.append(Evidence(t.name, "hot_subtask_share", round(share, 3), "ratio",
                               window_s, Why.HOT_SHARE))
    f.actions.append(Action(ActionKind.SKEW_CEILING,
                            {Fact.INPUT_SHARE: share, Fact.INDICES: tuple(f.subtasks),
                             Fact.CEILING_PER_S: ceiling, Fact.RATE_PER_SUBTASK: min(rates)}))
