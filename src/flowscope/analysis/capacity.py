"""How much parallelism each vertex needs: true processing rates, as in DS2 and Flink's autoscaler.

A subtask's true processing rate is the records it takes in per second of *busy* time. A vertex
needs `ceil(input_rate / (TARGET_UTILISATION * true_rate))` subtasks. The input rate of each
vertex is the source rate times the vertex's selectivity (its records in per source record).
"""

from __future__ import annotations

import math

from flowscope.analysis.findings import Action, Cause, Evidence, Finding, TaskState
from flowscope.analysis.window import SubtaskWindow
from flowscope.model import JobGraph

TARGET_UTILISATION = 0.8
# A source blocked more than this share of the time is paced by the backpressure itself: what
# it would emit unthrottled cannot be read from its own rate (a rate limiter or a backlog
# would tell, and Flink does not expose either for every source).
MAX_SOURCE_BP_FOR_ESTIMATE = 0.5


def offered_source_rate(
    graph: JobGraph, tasks: dict[str, TaskState], windows: dict[str, list[SubtaskWindow]]
) -> tuple[float | None, float | None]:
    """(records/s the sources emit now, records/s they would emit unthrottled or None)."""
    now = 0.0
    offered: float | None = 0.0
    for v in graph.sources():
        t = tasks[v.id]
        rate = t.records_out_per_s
        if rate is None:
            return None, None
        now += rate
        bps = [s.backpressured for s in windows.get(v.id, []) if s.backpressured is not None]
        bp = sum(bps) / len(bps) if bps else None
        if bp is None or bp > MAX_SOURCE_BP_FOR_ESTIMATE or offered is None:
            offered = None
        else:
            offered += rate / (1.0 - bp)
    return now, offered


def input_rates_at(graph: JobGraph, tasks: dict[str, TaskState], source_rate: float,
                   now: float) -> dict[str, float]:
    """Each vertex's input rate if the sources emitted `source_rate` records/s in total.

    Propagates through each vertex's own output/input ratio (as DS2 does) rather than
    comparing a vertex's input with the sources' output: while buffers fill, the sources emit
    more than downstream consumes, but a vertex's own ratio holds from the start.
    """
    out_rate: dict[str, float] = {}
    in_rate: dict[str, float] = {}
    scale = source_rate / now if now else 0.0
    for v in graph.topological():
        t = tasks[v.id]
        ups = graph.upstream(v.id)
        if not ups:
            in_rate[v.id] = 0.0
            out_rate[v.id] = (t.records_out_per_s or 0.0) * scale
            continue
        in_rate[v.id] = sum(out_rate.get(u, 0.0) for u in ups)
        ratio = ((t.records_out_per_s or 0.0) / t.records_in_per_s
                 if t.records_in_per_s else 1.0)
        out_rate[v.id] = in_rate[v.id] * ratio
    return in_rate


def needed_parallelism(input_rate: float, true_rate: float, max_parallelism: int) -> int:
    p = max(1, math.ceil(input_rate / (TARGET_UTILISATION * true_rate)))
    return min(p, max_parallelism) if max_parallelism > 0 else p


def recommend(
    graph: JobGraph,
    tasks: dict[str, TaskState],
    windows: dict[str, list[SubtaskWindow]],
    findings: list[Finding],
    target_rate: float | None,
    window_s: float,
) -> None:
    """Attach parallelism recommendations (with the next bottleneck) to bottleneck findings."""
    now, offered = offered_source_rate(graph, tasks, windows)
    goal = target_rate if target_rate else offered
    for f in findings:
        if not f.is_bottleneck or f.vertex_id is None:
            continue
        task = tasks[f.vertex_id]
        if f.cause == Cause.DATA_SKEW:
            _skew_ceiling(f, task, windows[f.vertex_id], window_s)
            continue
        if f.cause not in (Cause.COMPUTE_BOUND, Cause.OFF_CPU, Cause.GC_PRESSURE):
            continue
        r = task.true_rate_per_subtask
        if r is None or not now:
            continue
        f.evidence.append(Evidence(task.name, "true_rate_per_subtask", round(r, 1),
                                   "records per busy second", window_s,
                                   "what one subtask can process when never idle"))
        if goal is None:
            f.actions.append(Action(
                f"Each subtask of {task.name} processes {r:.0f} records/s at full load. The "
                "sources are blocked too much of the time to estimate the rate they could "
                f"offer: for R records/s it needs ceil(R / {TARGET_UTILISATION * r:.0f}) "
                "subtasks; pass --target-rate R to get the whole plan."
            ))
            continue
        basis = "the target rate" if target_rate else "the rate the sources would emit unthrottled"
        plan: dict[str, int] = {}
        lines = []
        rates = input_rates_at(graph, tasks, goal, now)
        for w in graph.topological():
            wt = tasks[w.id]
            if w.id != task.vertex_id and (
                not graph.inputs(w.id) or wt.true_rate_per_subtask is None
            ):
                continue
            need_in = rates.get(w.id, 0.0)
            rw = wt.true_rate_per_subtask
            if rw is None or need_in <= 0:
                continue
            # With uneven input the busiest subtask saturates first: size for its share.
            uneven = (f.imbalance or 1.0) if w.id == task.vertex_id else 1.0
            if need_in > TARGET_UTILISATION * rw * w.parallelism or w.id == task.vertex_id:
                p = needed_parallelism(need_in * uneven, rw, w.max_parallelism)
                if p != w.parallelism or w.id == task.vertex_id:
                    plan[w.name] = p
                    capped = " (capped by max parallelism)" if p == w.max_parallelism else ""
                    lines.append(f"{w.name}: {w.parallelism} -> {p}{capped} "
                                 f"(needs {need_in:.0f} records/s at {rw:.0f} per subtask"
                                 + (f", x{uneven:.1f} for the uneven input" if uneven > 1 else "")
                                 + ")")
        if not plan:
            continue
        nxt = [n for n in plan if n != task.name]
        text = (
            f"To carry {goal:.0f} records/s from the sources ({basis}; today {now:.0f}), "
            f"at {TARGET_UTILISATION:.0%} utilisation: " + "; ".join(lines)
        )
        if nxt:
            text += f". After {task.name}, {', '.join(nxt)} would be the next bottleneck."
        f.actions.insert(0, Action(text, parallelism=plan))


def _skew_ceiling(f: Finding, task: TaskState, subs: list[SubtaskWindow], window_s: float) -> None:
    total = sum(s.records_in_per_s or 0.0 for s in subs)
    hot = [s for s in subs if s.index in f.subtasks]
    if not hot or total <= 0:
        return
    share = sum(s.records_in_per_s or 0.0 for s in hot) / total
    rates = [s.true_rate for s in hot if s.true_rate is not None]
    if not rates or share <= 0:
        return
    ceiling = min(rates) / share
    f.evidence.append(Evidence(task.name, "hot_subtask_share", round(share, 3), "ratio",
                               window_s, "share of the vertex's input the hot subtask(s) get"))
    f.actions.append(Action(
        f"While {share:.0%} of records go to subtask(s) {', '.join(map(str, f.subtasks))}, "
        f"{task.name} tops out near {ceiling:.0f} records/s at any parallelism "
        f"(the hot subtask processes {min(rates):.0f} records/s at full load)."
    ))
