"""A profile of one job as data: its parts, the conclusions drawn from them, and what it cost.

`conclude()` is pure: it reads the parts and states what they show together (where the time
of the profiled vertex goes, on or off CPU, which operator of a chain, Python UDFs). Renderers
print the statements; they never decide.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from flowscope.analysis.causes import OFF_CPU_SHARE
from flowscope.analysis.latency import LatencyReport
from flowscope.profiling.checkpoints import CheckpointEvidence
from flowscope.profiling.flamegraph import (
    FlameSummary,
    HotFrame,
    WorkSplit,
    class_of,
    operator_for_class,
    split_work,
)
from flowscope.profiling.taskmanagers import TaskManagerLoad
from flowscope.profiling.threaddump import ThreadDumpReport
from flowscope.render.jsonout import json_safe

SCHEMA = "flowscope.profile/1"


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
        main = f.on_cpu if f.work.kind != "off-cpu" else f.off_cpu
        both = f.on_cpu.samples + f.off_cpu.samples
        if f.work.kind == "waiting":
            out.append(
                f"{name} ran next to no code of its own while sampled "
                f"({f.work.mailbox_samples} of {both} samples wait in the task mailbox: idle "
                "or backpressured)"
            )
        elif main.hot_frames:
            hot = _work_frame(main)
            cpu = ("on CPU" if f.work.kind == "on-cpu" else
                   "off CPU (blocked: I/O, sleeps, locks)" if f.work.kind == "off-cpu" else
                   f"partly on CPU ({(f.work.on_cpu_share or 0):.0%} of user samples)")
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
            on_cpu = t.cores_used >= OFF_CPU_SHARE * max(t.busy_sum, 1e-9)
            said = (f"TaskManager {t.id}: JVM CPU {t.cores_used:.2f} cores for "
                    f"{t.busy_sum:.1f} cores' worth of busy subtasks")
            if f.work.kind == "on-cpu" and not on_cpu:
                # Java reports a thread waiting for a core as RUNNABLE.
                out.append(said + ": the threads are RUNNABLE but get little CPU, so the "
                           "host's cores are oversubscribed (other processes, container CPU "
                           "limits or throttling)")
            elif f.work.kind in ("on-cpu", "off-cpu"):
                agree = "agrees" if (f.work.kind == "on-cpu") == on_cpu else "disagrees"
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


def to_dict(report: ProfileReport) -> dict[str, Any]:
    """The profile as plain JSON-able data (schema flowscope.profile/1)."""
    body = dataclasses.asdict(report)
    if report.flame is not None:
        body["flame"]["work"]["on_cpu_share"] = report.flame.work.on_cpu_share
    if report.threads is not None:
        for t, raw in zip(report.threads.tasks, body["threads"]["tasks"], strict=True):
            raw["agrees"] = t.agrees
        for s, raw in zip(report.threads.subtasks, body["threads"]["subtasks"], strict=True):
            raw["agrees"] = s.agrees
    return {"schema": SCHEMA, **json_safe(body)}


def render_json(report: ProfileReport) -> str:
    return json.dumps(to_dict(report), indent=2, allow_nan=False)
