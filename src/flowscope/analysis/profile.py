"""A profile of one job as data: its parts, the conclusions drawn from them, and what it cost.

`conclude()` is pure: it reads the parts and states what they show together (where the time
of the profiled vertex goes, on or off CPU, which operator of a chain, Python UDFs). Renderers
print the statements; they never decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from flowscope.analysis.checkpoints import CheckpointEvidence
from flowscope.analysis.cpu import WorkSplit, is_mixed, jvm_cpu_is_off_cpu, split_work
from flowscope.analysis.findings import Diagnosis, Work
from flowscope.analysis.flame import FlameSummary, HotFrame, class_of, operator_for_class
from flowscope.analysis.latency import LatencyReport
from flowscope.analysis.taskmanagers import TaskManagerLoad
from flowscope.analysis.threads import ThreadDumpReport
from flowscope.analysis.window import distinct_snapshots, subtask_windows
from flowscope.model import JobGraph, Sample


class TargetNotFound(ValueError):
    """`--vertex` matches no vertex, or several."""


@dataclass
class ProfileTarget:
    vertex_id: str
    vertex_name: str
    chosen_by: str  # "--vertex" | "bottleneck" | "busiest task"
    cause: str | None = None  # the diagnosis's cause when it is the bottleneck


@dataclass
class FlameProfile:
    on_cpu: FlameSummary
    off_cpu: FlameSummary
    work: WorkSplit
    waited_s: float
    stale: bool = False


@dataclass
class ProfileStats:
    """What the profile cost: requests to the REST API and wall time (s)."""

    requests: int = 0  # all of them, the diagnosis's included
    wall_s: float = 0.0
    diagnose_polls: int = 0
    diagnose_requests: int = 0
    diagnose_s: float = 0.0
    flame_requests: int = 0
    flame_wait_s: float = 0.0
    thread_dump_rounds: int = 0
    thread_dumps: int = 0
    thread_dump_s: float = 0.0
    thread_samples: int = 0  # task-thread samples analysed


@dataclass
class ProfileReport:
    job_id: str
    job_name: str
    t: float  # epoch seconds at the end of the profile
    verdict: str  # the quick diagnosis's verdict
    bottlenecks: list[str]  # "enrich (compute-bound)"
    target: ProfileTarget | None
    flame: FlameProfile | None = None
    threads: ThreadDumpReport | None = None
    taskmanagers: list[TaskManagerLoad] = field(default_factory=list)
    latency: LatencyReport | None = None
    checkpoints: list[CheckpointEvidence] = field(default_factory=list)
    conclusions: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # part -> why it is missing
    stats: ProfileStats = field(default_factory=ProfileStats)


def flame_profile(on: FlameSummary, off: FlameSummary, waited_s: float = 0.0,
                  stale: bool = False) -> FlameProfile:
    return FlameProfile(on, off, split_work(on, off), waited_s, stale)


def conclude(report: ProfileReport) -> list[str]:
    """What the parts show together, as sentences with their numbers."""
    out: list[str] = []
    f, target = report.flame, report.target
    if f is not None and target is not None:
        name = target.vertex_name
        main = f.on_cpu if f.work.kind != Work.OFF_CPU else f.off_cpu
        both = f.on_cpu.samples + f.off_cpu.samples
        if f.work.kind == Work.WAITING:
            out.append(
                f"{name} ran next to no code of its own while sampled "
                f"({f.work.mailbox_samples} of {both} samples wait in the task mailbox: idle "
                "or backpressured)"
            )
        elif main.hot_frames:
            hot = _work_frame(main)
            cpu = ("on CPU" if f.work.kind == Work.ON_CPU else
                   "off CPU (blocked: I/O, sleeps, locks)")
            if is_mixed(f.work.split):
                cpu = (f"mostly {cpu.split(' (')[0]} ({1 - f.work.split.off_share:.0%} of the "
                       "work samples on CPU)")
            out.append(
                f"{name}: {hot.share:.0%} of its {main.kind.replace('_', '-')} samples are in "
                f"{hot.method}" + (f" (operator {hot.operator})" if hot.operator else "")
                + f", {cpu}"
            )
        ops = [o for o in main.operators if o.samples]
        if len(_chain(name)) > 1 and ops:
            top = ops[0]
            rest = ", ".join(f"{o.operator} {o.share:.0%}" for o in ops[1:3] if o.share >= 0.01)
            out.append(
                f"inside the chain {name} the time belongs to {top.operator} "
                f"({top.share:.0%} of samples"
                + (f", in {top.top_method}" if top.top_method else "")
                + (f"; {rest}" if rest else "") + f"; matched by {top.matched_by})"
            )
        py = f.on_cpu.python or f.off_cpu.python
        if py is not None:
            samples = (f.on_cpu.python.samples if f.on_cpu.python else 0) + (
                f.off_cpu.python.samples if f.off_cpu.python else 0)
            if py.mode == "process":
                out.append(
                    f"{samples} of {both} samples of {name} wait for the Python worker "
                    "(PyFlink process mode, Beam Fn API): the time is spent in the Python UDF; "
                    "profile the worker in Python (e.g. py-spy) or try thread mode"
                )
            else:
                out.append(
                    f"{samples} of {both} samples of {name} run CPython inside the JVM "
                    "(PyFlink thread mode, pemja): the time is spent in the Python UDF"
                )
        tms = [t for t in report.taskmanagers if any(
            s.rpartition("[")[0] == name for s in t.busy_subtasks)]
        if py is not None and py.mode == "process":
            tms = []  # the UDF burns the Python worker's CPU, which the JVM's does not include
        for t in tms:
            if t.cores_used is None:
                continue
            on_cpu = not jvm_cpu_is_off_cpu(t.cores_used, max(t.busy_sum, 1e-9))
            said = (f"TaskManager {t.id}: JVM CPU {t.cores_used:.2f} cores for "
                    f"{t.busy_sum:.1f} cores' worth of busy subtasks")
            if f.work.kind == Work.ON_CPU and not on_cpu:
                # Java reports a thread waiting for a core as RUNNABLE.
                out.append(said + ": the threads are RUNNABLE but get little CPU, so the "
                           "host's cores are oversubscribed (other processes, container CPU "
                           "limits or throttling)")
            elif f.work.kind in (Work.ON_CPU, Work.OFF_CPU):
                agree = "agrees" if (f.work.kind == Work.ON_CPU) == on_cpu else "disagrees"
                out.append(said + f" ({agree} with the flame graph: {f.work.kind})")
    th = report.threads
    if th is not None and th.tasks:
        levels = ", ".join(f"{t.vertex_name} {t.level}" for t in th.tasks)
        off = th.disagreements
        out.append(
            f"thread dumps ({th.rounds} rounds): {levels}; "
            + ("agree with Flink's time metrics on every task" if not off else
               "disagree with the time metrics on " + ", ".join(
                   f"{t.vertex_name} (sampled {t.level}, metrics {t.metric_level})" for t in off))
        )
    for t in report.taskmanagers:
        out.extend(f"TaskManager {t.id}: {s}" for s in t.statements if "garbage" in s or
                   "heap" in s)
    if report.latency is not None and report.latency.slowest is not None:
        s = report.latency.slowest
        out.append(f"latency: {s.from_name} -> {s.to_name} adds the most "
                   f"(p50 {s.p50:.0f} ms, p99 {s.p99:.0f} ms)")
    telling = max(report.checkpoints, default=None,
                  key=lambda c: (c.slowed, c.end_to_end_ms or 0.0))
    if telling is not None:
        out.extend(telling.statements[:1])
    return out


def _work_frame(summary: FlameSummary) -> HotFrame:
    """The hot frame that names the work: the innermost of the frames tied at the top that
    belongs to an operator's class, else the top frame."""
    top = summary.hot_frames[0]
    tied = [h for h in summary.hot_frames if h.samples >= 0.9 * top.samples]
    named = [h for h in tied
             if h.operator and operator_for_class(class_of(h.method), [h.operator])]
    return named[-1] if named else tied[-1]


def _chain(name: str) -> list[str]:
    return [p for p in name.split(" -> ") if p]


def choose_target(graph: JobGraph, diagnosis: Diagnosis, vertex: str | None) -> ProfileTarget:
    """The vertex to profile: `vertex` (id, exact or unique partial name), else the first
    located bottleneck, else the busiest task."""
    if vertex:
        for v in graph.vertices:
            if vertex in (v.id, v.name):
                return ProfileTarget(v.id, v.name, "--vertex", _cause_of(diagnosis, v.id))
        partial = [v for v in graph.vertices if vertex.lower() in v.name.lower()]
        if len(partial) == 1:
            v = partial[0]
            return ProfileTarget(v.id, v.name, "--vertex", _cause_of(diagnosis, v.id))
        names = ", ".join(repr(v.name) for v in (partial or graph.vertices))
        raise TargetNotFound(
            f"--vertex {vertex!r} matches {len(partial) or 'no'} vertices; choose from {names}"
        )
    for f in diagnosis.bottlenecks:
        if f.vertex_id:
            return ProfileTarget(f.vertex_id, f.vertex_name or f.vertex_id, "bottleneck",
                                 str(f.cause))
    busiest = max(diagnosis.tasks, key=lambda t: t.busy or 0.0, default=None)
    if busiest is None:
        v = graph.vertices[0]
        return ProfileTarget(v.id, v.name, "first vertex")
    return ProfileTarget(busiest.vertex_id, busiest.name, "busiest task")


RECENT_S = 20.0  # time metrics compared with thread dumps: the last ~two metric refreshes


def recent_backpressure(
    samples: Sequence[Sample], diagnosis: Diagnosis
) -> tuple[dict[tuple[str, int], float | None], float]:
    """Per subtask the backpressured ratio (0..1) from counters over the newest RECENT_S
    seconds of distinct metric snapshots: the time metrics closest to the thread dumps that
    follow. A subtask without counter deltas there keeps the diagnosis's value. Returns the
    ratios and the span (s) they cover."""
    distinct = distinct_snapshots(list(samples))
    recent = [s for s in distinct if distinct and s.t >= distinct[-1].t - RECENT_S]
    out: dict[tuple[str, int], float | None] = {
        (t.vertex_id, s.index): s.backpressured for t in diagnosis.tasks for s in t.subtasks}
    spans = []
    if len(recent) >= 2:
        for vid, ws in subtask_windows(recent).items():
            for w in ws:
                if w.basis == "counters":
                    out[(vid, w.index)] = w.backpressured
                    spans.append(w.span_s)
    return out, (max(spans) if spans else diagnosis.window_s)


def _cause_of(diagnosis: Diagnosis, vertex_id: str) -> str | None:
    return next((str(f.cause) for f in diagnosis.bottlenecks if f.vertex_id == vertex_id), None)
