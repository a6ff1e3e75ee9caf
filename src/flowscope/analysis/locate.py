"""Where backpressure starts: per-task states (as Flink's UI folds subtasks) and the located
sources of backpressure. Pure."""

from __future__ import annotations

from flowscope.analysis import columnar
from flowscope.analysis.findings import (
    BUSY_HOT,
    LOW_THRESHOLD,
    SubtaskState,
    TaskState,
    level_of,
)
from flowscope.analysis.numbers import finite_max, finite_sum
from flowscope.analysis.window import SubtaskWindow
from flowscope.model import JobGraph


def task_states(graph: JobGraph, windows: dict[str, list[SubtaskWindow]], *,
                given: dict[str, TaskState] | None = None) -> list[TaskState]:
    """Per task the max over subtasks of busy / backpressured / idle, as Flink's UI shows;
    the states in `given` (by vertex id) are taken as they are."""
    out = []
    for v in graph.topological():
        if given and v.id in given:
            out.append(given[v.id])
            continue
        subs = windows.get(v.id, [])
        bp = finite_max([s.backpressured for s in subs])
        rates = [r for s in subs if (r := s.true_rate) is not None]
        out.append(
            TaskState(
                vertex_id=v.id,
                name=v.name,
                parallelism=v.parallelism,
                max_parallelism=v.max_parallelism,
                busy=finite_max([s.busy for s in subs]),
                backpressured=bp,
                idle=finite_max([s.idle for s in subs]),
                level=level_of(bp),
                records_in_per_s=finite_sum([s.records_in_per_s for s in subs]),
                records_out_per_s=finite_sum([s.records_out_per_s for s in subs]),
                true_rate_per_subtask=(sum(rates) / len(rates)) if rates else None,
                subtasks=[  # positional: a big task has thousands
                    SubtaskState(s.index, s.taskmanager_id, s.busy, s.backpressured, s.idle,
                                 s.records_in_per_s, s.records_out_per_s, s.in_pool_usage,
                                 s.out_pool_usage, s.in_floating_usage, s.in_exclusive_usage,
                                 s.basis)
                    for s in subs
                ],
                upstream=graph.upstream(v.id),
                downstream=graph.downstream(v.id),
                ship_strategies=[e.ship_strategy for e in graph.inputs(v.id)],
            )
        )
    return out


def locate(graph: JobGraph, tasks: dict[str, TaskState]) -> list[str]:
    """The sources of backpressure: busy tasks with a backpressured input whose own output is
    not what holds them back. Several on branches and joins; none when healthy."""
    roots = []
    for v in graph.vertices:
        t = tasks[v.id]
        if t.busy is None or t.busy < BUSY_HOT:
            continue
        pressured_inputs = [
            u for u in graph.upstream(v.id)
            if (tasks[u].backpressured or 0.0) > LOW_THRESHOLD
        ]
        if not pressured_inputs:
            continue
        hottest = columnar.hottest(t.subtasks)
        if hottest is None:
            continue
        if (hottest.backpressured or 0.0) > LOW_THRESHOLD and (hottest.backpressured or 0.0) >= (
            hottest.busy or 0.0
        ):
            continue
        roots.append(v.id)
    # A root that is itself backpressured by another root downstream is only a waypoint.
    final = []
    for r in roots:
        if (tasks[r].backpressured or 0.0) > LOW_THRESHOLD and any(
            d in roots for d in graph.descendants(r)
        ):
            continue
        final.append(r)
    return final
