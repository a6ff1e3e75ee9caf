"""Where backpressure starts: per-task states (as Flink's UI folds subtasks) and the located
sources of backpressure. Pure."""

from __future__ import annotations

from flowscope.analysis import columnar
from flowscope.analysis.findings import (
    BUSY_HOT,
    LOW_THRESHOLD,
    RELATIVE_HOT,
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


def held_back(t: TaskState) -> bool:
    """The task's hottest subtask is backpressured more than LOW and at least as much as it
    is busy: it waits on its output, it is not what limits the job (a slow subtask's peers may
    wait on their shared downstream meanwhile, so the hottest one tells)."""
    hottest = columnar.hottest(t.subtasks)
    if hottest is None:
        return True
    bp = hottest.backpressured or 0.0
    return bp > LOW_THRESHOLD and bp >= (hottest.busy or 0.0)


def locate(graph: JobGraph | None, tasks: dict[str, TaskState]) -> list[str]:
    """The sources of backpressure: busy tasks with a backpressured input whose own output is
    not what holds them back. Several on branches and joins; none when healthy. Without
    `graph` (no edges known) from the time metrics alone: `locate_without_edges`."""
    if graph is None:
        return locate_without_edges(tasks)
    roots = []
    for v in graph.vertices:
        t = tasks[v.id]
        if t.busy is None or t.busy < BUSY_HOT:
            continue
        pressured_inputs = [
            u for u in graph.upstream(v.id)
            if (tasks[u].backpressured or 0.0) > LOW_THRESHOLD
        ]
        if not pressured_inputs or held_back(t):
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


def locate_without_edges(tasks: dict[str, TaskState]) -> list[str]:
    """The sources of backpressure as a person reads a dashboard without the graph: in a job
    with backpressured tasks, the busiest task that is not itself held back, and any other
    that is as busy (RELATIVE_HOT of it) and not backpressured at all (twin branches)."""
    if not any((t.backpressured or 0.0) > LOW_THRESHOLD for t in tasks.values()):
        return []
    free = [t for t in tasks.values() if (t.busy or 0.0) >= BUSY_HOT and not held_back(t)]
    if not free:
        return []
    best = max(free, key=lambda t: ((t.backpressured or 0.0) <= LOW_THRESHOLD, t.busy or 0.0,
                                    t.name))
    twins = [t.vertex_id for t in free if t is not best
             and (t.backpressured or 0.0) <= LOW_THRESHOLD
             and (best.backpressured or 0.0) <= LOW_THRESHOLD
             and (t.busy or 0.0) >= RELATIVE_HOT * (best.busy or 0.0)]
    return [t.vertex_id for t in tasks.values() if t.vertex_id in {best.vertex_id, *twins}]
