"""The tune plan: every vertex's parallelism in one step, the throughput the change should
reach, the next bottleneck, and where more parallelism cannot help. Pure.

The sizing is DS2's and the Kubernetes operator autoscaler's: a subtask's true processing rate
is the records it takes in per second of busy time; the rate each vertex must sustain follows
from the target rate at the sources through each vertex's own output / input ratio; a vertex
needs `ceil(need * uneven / (TARGET_UTILISATION * true_rate))` subtasks, where `uneven` is
its busiest subtask's input over a fair share (1 for an even input). Unlike the autoscaler,
the plan never lowers a parallelism: it is there to remove backpressure, and a true rate
measured at low busy time is too noisy to shrink a vertex on.

It refuses, with the numbers, where more parallelism cannot help or cannot be had:

    DATA_SKEW            the hot subtask's rate caps the vertex at any parallelism
    SPLIT_CAP            a source already runs one subtask per split / partition
    MAX_PARALLELISM      a vertex already runs at its max parallelism
    SATURATED_CPU        the TaskManagers' cores would be busier than CPU_SATURATED
    MISSING_SLOTS        the cluster lacks the slots the new parallelism takes
    RESTARTING           the job is restarting (or restarted within the window)
    FAILING_CHECKPOINTS  checkpoints fail: a rescale restarts from the latest one

`--force` overrides the first four (the change is then sized as if the refusal were wrong,
which is what the verification then tests); never the last three.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

from flowscope.analysis.capacity import TARGET_UTILISATION
from flowscope.analysis.findings import (
    Cause,
    Confidence,
    CpuSplit,
    Diagnosis,
    Finding,
    TaskState,
    Verdict,
)
from flowscope.analysis.flow import Flow, needs_at, source_rates, sustained_rate
from flowscope.analysis.numbers import finite_sum
from flowscope.analysis.resources import ClusterFacts

# Too little busy time to extrapolate a true rate from.
MIN_BUSY_FOR_RATE = 0.05
# The TaskManagers' hosts may be this busy after the change (JVM CPU time over their cores):
# beyond it, subtasks that compute share cores that are already taken.
CPU_SATURATED = 0.9
# Job states in which a rescale would land on a job that is not running steadily.
RESTARTING_STATES = frozenset({"RESTARTING", "FAILING", "CREATED", "INITIALIZING",
                               "RECONCILING"})


class PlanStatus(StrEnum):
    CHANGE = "change"  # a change to apply
    NOTHING = "nothing"  # every vertex carries the target at the target utilisation
    REFUSED = "refused"  # see `refusals`
    UNKNOWN = "unknown"  # cannot size: see `unknown`


class Unknown(StrEnum):
    """Why a plan cannot be sized."""

    NOT_RUNNING = "not-running"
    NOT_JUDGED = "not-judged"  # the diagnosis could not tell (too young, too little data)
    NO_TARGET = "no-target"  # the sources are blocked too much to estimate their rate
    NO_RATE = "no-rate"  # no vertex has a true processing rate yet


class TargetBasis(StrEnum):
    GIVEN = "given"  # --target-rate
    UNTHROTTLED = "unthrottled"  # what the sources would emit if nothing held them back
    NONE = "none"


class RefusalReason(StrEnum):
    DATA_SKEW = "data-skew"
    SPLIT_CAP = "split-cap"
    MAX_PARALLELISM = "max-parallelism"
    SATURATED_CPU = "saturated-cpu"
    MISSING_SLOTS = "missing-slots"
    RESTARTING = "restarting"
    FAILING_CHECKPOINTS = "failing-checkpoints"

    @property
    def forceable(self) -> bool:
        """Whether `--force` may apply a change despite this refusal: only where the
        measurement may be wrong, never where the change cannot be carried out safely."""
        return self in FORCEABLE


FORCEABLE = frozenset({RefusalReason.DATA_SKEW, RefusalReason.SPLIT_CAP,
                       RefusalReason.MAX_PARALLELISM, RefusalReason.SATURATED_CPU})


@dataclass(frozen=True)
class Refusal:
    """Why the plan will not (or, forced, should not) help, with its numbers. Units by reason:

    DATA_SKEW            share (0..1) of the vertex's input on `subtasks`, `rate_per_s` what
                         the hot subtask processes per busy second
    SPLIT_CAP            `needed` parallelism, `available` splits, `now` parallelism
    MAX_PARALLELISM      `needed` parallelism, `available` max parallelism, `now` parallelism
    SATURATED_CPU        `needed` cores after the change, `available` cores, `now` cores
                         taken now (JVM CPU time, or on-CPU busy time where more)
    MISSING_SLOTS        `needed` more slots, `available` free slots (`missing` = the gap)
    RESTARTING           `now` the latest attempt number; `state` the job state
    FAILING_CHECKPOINTS  `needed` checkpoints failed, `available` completed in the window

    `ceiling_per_s`: records/s at the sources the job tops out at because of this (None where
    the reason has no ceiling)."""

    reason: RefusalReason
    vertex_name: str | None = None
    ceiling_per_s: float | None = None
    needed: float | None = None
    available: float | None = None
    now: float | None = None
    share: float | None = None
    rate_per_s: float | None = None
    subtasks: tuple[int, ...] = ()
    state: str | None = None

    @property
    def missing(self) -> float | None:
        if self.needed is None or self.available is None:
            return None
        return max(0.0, self.needed - self.available)


@dataclass(frozen=True)
class VertexPlan:
    """One vertex: its parallelism before and after, and what it must sustain."""

    vertex_id: str
    name: str
    old: int
    new: int
    max_parallelism: int
    need_per_s: float | None  # records/s into the vertex at the target (out, for a source)
    true_rate_per_subtask: float | None  # records per busy second
    uneven: float  # the busiest subtask's share over a fair one (1: even input)
    utilisation: float | None  # expected busy share at the target, with `new` subtasks
    ceiling_per_s: float | None  # records/s at the sources at which it is busy 100%
    capped: RefusalReason | None = None  # the need passes max parallelism or the splits
    cap: int | None = None  # that max parallelism, or the source's splits

    @property
    def changed(self) -> bool:
        return self.new != self.old


@dataclass(frozen=True)
class TunePlan:
    job_id: str
    job_name: str
    status: PlanStatus
    target_per_s: float | None
    target_basis: TargetBasis
    current_per_s: float | None  # records/s at the sources the job carries now
    emitted_per_s: float | None  # records/s the sources emit now (more while buffers fill)
    vertices: tuple[VertexPlan, ...]  # every vertex, sources first
    bottlenecks: tuple[str, ...]  # the diagnosis's, by vertex name
    predicted_per_s: float | None = None  # records/s at the sources after the change
    next_bottleneck: str | None = None  # the vertex that limits the job after the change
    next_ceiling_per_s: float | None = None  # the source rate at which it is busy 100%
    refusals: tuple[Refusal, ...] = ()
    slots_needed: int = 0  # slots the change takes beyond what the job holds now
    slots_free: int | None = None
    unknown: Unknown | None = None
    forced: bool = False
    utilisation_target: float = TARGET_UTILISATION

    @property
    def changes(self) -> list[VertexPlan]:
        return [v for v in self.vertices if v.changed]

    @property
    def applicable(self) -> bool:
        """Whether `tune --apply` may write this plan."""
        return self.status == PlanStatus.CHANGE and bool(self.changes)


def plan(d: Diagnosis, facts: ClusterFacts, *, target_rate: float | None = None,
         force: bool = False) -> TunePlan:
    """The plan for `d`'s job: per vertex old -> new parallelism for the sources to sustain
    `target_rate` records/s (default: what they would emit unthrottled), the predicted
    records/s at the sources, the next bottleneck and the refusals."""
    now, offered = source_rates(Flow.of(d))
    target = target_rate or offered
    basis = (TargetBasis.GIVEN if target_rate else
             TargetBasis.UNTHROTTLED if offered else TargetBasis.NONE)
    base = TunePlan(
        job_id=d.job_id, job_name=d.job_name, status=PlanStatus.UNKNOWN, target_per_s=target,
        target_basis=basis, current_per_s=sustained_rate(d), emitted_per_s=now,
        vertices=tuple(_unchanged(t) for t in d.tasks),
        bottlenecks=tuple(f.vertex_name or "" for f in d.bottlenecks),
        slots_free=facts.free_slots, forced=force)
    refusals = _job_refusals(d, facts)
    if d.job_state not in RESTARTING_STATES and d.job_state != "RUNNING":
        return replace(base, unknown=Unknown.NOT_RUNNING)
    refusals += [r for f in d.bottlenecks if f.cause == Cause.DATA_SKEW
                 if (r := _skew_refusal(d, f, now)) is not None]
    if refusals and not all(r.reason.forceable for r in refusals):
        return replace(base, status=PlanStatus.REFUSED, refusals=tuple(refusals))
    unknown = None
    if d.verdict == Verdict.UNKNOWN or d.confidence == Confidence.LOW:
        unknown = Unknown.NOT_JUDGED
    elif not target or not now:
        unknown = Unknown.NO_TARGET
    if unknown is not None:
        return replace(base, status=PlanStatus.REFUSED if refusals else PlanStatus.UNKNOWN,
                       unknown=unknown, refusals=tuple(refusals))
    assert target is not None and now
    vertices = _size(d, facts, target, now)
    if all(v.true_rate_per_subtask is None for v in vertices):
        return replace(base, unknown=Unknown.NO_RATE, refusals=tuple(refusals))
    refusals += _cap_refusals(vertices)
    ceilings = [(v.ceiling_per_s, v.name) for v in vertices if v.ceiling_per_s is not None]
    nxt = min(ceilings, default=None)
    slots_needed = max(0, max(v.new for v in vertices) - max(v.old for v in vertices))
    if facts.free_slots is not None and slots_needed > facts.free_slots:
        refusals.append(Refusal(RefusalReason.MISSING_SLOTS, needed=slots_needed,
                                available=facts.free_slots))
    changed = any(v.changed for v in vertices)
    cpu = _cpu_refusal(d, facts, vertices, now, target) if changed else None
    refusals += [cpu] if cpu is not None else []
    if refusals and (not force or not all(r.reason.forceable for r in refusals)):
        status = PlanStatus.REFUSED
    else:
        status = PlanStatus.CHANGE if changed else PlanStatus.NOTHING
    return replace(base, status=status, vertices=tuple(vertices), refusals=tuple(refusals),
                   predicted_per_s=min([target] + [c for c, _ in ceilings]),
                   next_bottleneck=nxt[1] if nxt else None,
                   next_ceiling_per_s=nxt[0] if nxt else None, slots_needed=slots_needed)


def _unchanged(t: TaskState) -> VertexPlan:
    return VertexPlan(t.vertex_id, t.name, t.parallelism, t.parallelism, t.max_parallelism,
                      None, t.true_rate_per_subtask, 1.0, None, None)


def _job_refusals(d: Diagnosis, facts: ClusterFacts) -> list[Refusal]:
    out = []
    if (d.job_state in RESTARTING_STATES or facts.restarted_in_window
            or not facts.all_running):
        out.append(Refusal(RefusalReason.RESTARTING, now=facts.attempt, state=d.job_state))
    if facts.failed_checkpoints and facts.failed_checkpoints >= facts.completed_checkpoints:
        out.append(Refusal(RefusalReason.FAILING_CHECKPOINTS, needed=facts.failed_checkpoints,
                           available=facts.completed_checkpoints))
    return out


def _hot_share(t: TaskState, hot: list[int]) -> float | None:
    total = finite_sum(s.records_in_per_s for s in t.subtasks)
    mine = finite_sum(s.records_in_per_s for s in t.subtasks if s.index in hot)
    if not total or mine is None:
        return None
    return mine / total


def _skew_refusal(d: Diagnosis, f: Finding, now: float | None) -> Refusal | None:
    t = next((t for t in d.tasks if t.vertex_id == f.vertex_id), None)
    if t is None or not f.subtasks:
        return None
    share = _hot_share(t, f.subtasks)
    rates = [s.records_in_per_s / s.busy for s in t.subtasks
             if s.index in f.subtasks and s.records_in_per_s and s.busy
             and s.busy >= MIN_BUSY_FOR_RATE]
    if not share or not rates:
        return Refusal(RefusalReason.DATA_SKEW, t.name, subtasks=tuple(f.subtasks))
    ceiling_in = min(rates) / share
    # At the sources: the vertex's input per source record (its selectivity from them).
    per_source = needs_at(Flow.of(d), now, now).get(t.vertex_id, 0.0) / now if now else None
    ceiling = ceiling_in / per_source if per_source else None
    return Refusal(RefusalReason.DATA_SKEW, t.name, ceiling_per_s=ceiling, share=share,
                   rate_per_s=min(rates), subtasks=tuple(f.subtasks))


def _uneven(d: Diagnosis, t: TaskState) -> float:
    """The busiest subtask's input over a fair share, for the vertices whose uneven input is
    known: a bottleneck with uneven input, or data skew sized as if the hot keys spread."""
    for f in d.bottlenecks:
        if f.vertex_id != t.vertex_id:
            continue
        if f.cause == Cause.DATA_SKEW and f.subtasks:
            share = _hot_share(t, f.subtasks)
            if share:
                return max(1.0, share * t.parallelism / len(f.subtasks))
        if f.imbalance:
            return max(1.0, f.imbalance)
    return 1.0


def _true_rate(t: TaskState) -> float | None:
    """Records per busy second per subtask: in, or out for a source."""
    if t.upstream:
        return t.true_rate_per_subtask
    rates = [s.records_out_per_s / s.busy for s in t.subtasks
             if s.busy and s.busy >= MIN_BUSY_FOR_RATE and s.records_out_per_s]
    return sum(rates) / len(rates) if rates else None


def _size(d: Diagnosis, facts: ClusterFacts, target: float, now: float) -> list[VertexPlan]:
    needs = needs_at(Flow.of(d), target, now)
    located = {f.vertex_id for f in d.bottlenecks}
    out = []
    for t in d.tasks:
        r = _true_rate(t)
        need = needs.get(t.vertex_id)
        uneven = _uneven(d, t)
        if r is None or not need:
            out.append(VertexPlan(t.vertex_id, t.name, t.parallelism, t.parallelism,
                                  t.max_parallelism, need, r, uneven, None, None))
            continue
        new = t.parallelism
        if need * uneven > TARGET_UTILISATION * r * t.parallelism or t.vertex_id in located:
            new = max(t.parallelism, math.ceil(need * uneven / (TARGET_UTILISATION * r)))
        capped: RefusalReason | None = None
        cap: int | None = t.max_parallelism if t.max_parallelism > 0 else None
        splits = facts.splits.get(t.vertex_id) if not t.upstream else None
        if splits and (cap is None or splits < cap):
            cap = splits
            if new > splits:
                capped, new = RefusalReason.SPLIT_CAP, max(t.parallelism, splits)
        elif cap is not None and new > cap:
            capped, new = RefusalReason.MAX_PARALLELISM, max(t.parallelism, cap)
        capacity_in = new * r / uneven
        out.append(VertexPlan(
            t.vertex_id, t.name, t.parallelism, new, t.max_parallelism, need, r, uneven,
            utilisation=need * uneven / (new * r), ceiling_per_s=capacity_in * target / need,
            capped=capped, cap=cap if capped else None))
    return out


def _cap_refusals(vertices: list[VertexPlan]) -> list[Refusal]:
    """A vertex whose need passes its max parallelism or its splits, and which runs at that
    cap already: more subtasks cannot be had."""
    out = []
    for v in vertices:
        if v.capped is None or v.changed or v.true_rate_per_subtask is None:
            continue
        wanted = math.ceil((v.need_per_s or 0.0) * v.uneven
                           / (TARGET_UTILISATION * v.true_rate_per_subtask))
        out.append(Refusal(v.capped, v.name, ceiling_per_s=v.ceiling_per_s, needed=wanted,
                           available=v.cap, now=v.old, rate_per_s=v.true_rate_per_subtask))
    return out


def _known_on_cpu_share(d: Diagnosis, t: TaskState) -> float | None:
    """The share of a task's busy time spent on a CPU, where its bottleneck finding tells:
    from its stack samples, else from its cause (None: not known)."""
    for f in d.bottlenecks:
        if f.vertex_id != t.vertex_id:
            continue
        if isinstance(f.cpu, CpuSplit) and f.cpu.samples:
            return f.cpu.on_cpu / f.cpu.samples
        if f.cause == Cause.COMPUTE_BOUND:
            return 1.0
        if f.cause == Cause.OFF_CPU:
            return 0.0
    return None


def _cpu_refusal(d: Diagnosis, facts: ClusterFacts, vertices: list[VertexPlan],
                 now: float, target: float) -> Refusal | None:
    """A vertex given more subtasks takes more records, and its busy time grows with them:
    the busy seconds per second the changed vertices add (their on-CPU share: waiting needs
    no core; all of it where not known) on top of the cores the job's work takes now,
    against their hosts' cores. The cores taken now are the TaskManagers' JVM CPU time, or
    the busy time known to run on a CPU where that is more: threads that compute but get
    less CPU time than that wait for cores that are taken already (by the job, or by other
    processes on the hosts, which Flink does not see)."""
    cores = [h.cores for h in facts.hosts]
    used = [h.cores_used for h in facts.hosts]
    if not facts.hosts or any(c is None for c in cores) or any(u is None for u in used):
        return None
    total = float(sum(c for c in cores if c is not None))
    using = float(sum(u for u in used if u is not None))
    computing = 0.0
    for task in d.tasks:
        known = _known_on_cpu_share(d, task)
        if known:
            computing += known * sum(s.busy or 0.0 for s in task.subtasks)
    taken = max(using, computing)
    tasks = {t.vertex_id: t for t in d.tasks}
    added = 0.0
    for v in vertices:
        t = tasks.get(v.vertex_id)
        if (t is None or not v.changed or v.true_rate_per_subtask is None
                or v.need_per_s is None):
            continue
        in_now = (t.records_in_per_s if t.upstream else t.records_out_per_s) or 0.0
        more = max(0.0, v.need_per_s - in_now) / v.true_rate_per_subtask
        share = _known_on_cpu_share(d, t)
        added += more * (1.0 if share is None else share)
    if total <= 0 or taken + added <= CPU_SATURATED * total:
        return None
    # The source rate at which the cores run out, if the added CPU grows linearly with it.
    room = max(0.0, CPU_SATURATED * total - taken)
    ceiling = now + (target - now) * room / added if added else None
    return Refusal(RefusalReason.SATURATED_CPU, needed=taken + added, available=total,
                   now=taken, ceiling_per_s=ceiling)
