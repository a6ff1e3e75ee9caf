"""The judgement: one table of small rules over the evidence, whatever filled it. Pure.

`judge(evidence)` runs `RULES` in order on one `Judgement` that each rule reads and extends:
the located bottlenecks and their causes (analysis.causes' table), the head of the job, the
bottlenecks that move or come and go, the network, GC, the sources, the plans, the verdict and
how far it can be trusted. A REST window, a Prometheus range and a fleet's aggregates all come
here (analysis.evidence), so the same rule decides the same thing for each; a rule whose
evidence is missing says so in a note rather than decide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flowscope.analysis import buffers, capacity, causes, network, sources, temporal
from flowscope.analysis.cpu import work_of
from flowscope.analysis.evidence import JobEvidence, Restarts, TaskEvidence
from flowscope.analysis.findings import (
    BUSY_HOT,
    LOW_THRESHOLD,
    Action,
    ActionKind,
    Cause,
    Confidence,
    CpuSplit,
    Diagnosis,
    Evidence,
    Fact,
    Finding,
    Level,
    Note,
    NoteKind,
    Value,
    Verdict,
    Why,
    Work,
    WorkBasis,
)
from flowscope.analysis.gc import gc_finding
from flowscope.analysis.locate import locate
from flowscope.analysis.numbers import rounded

# Younger jobs report start-up artefacts and averages over too little time.
MIN_UPTIME_S = 20.0
MIN_WINDOW_S = 8.0
# Until the buffers before a bottleneck fill, its input is not backpressured: a younger job
# with a busy task is not called healthy with confidence.
YOUNG_JOB_S = 60.0
NEAR_CAPACITY = 0.9  # a task this busy with nothing backpressured yet runs at capacity
# A job that restarted this many times within the history keeps restarting; one restart
# counts when the newest attempt is younger than RECENT_RESTART_S.
RESTART_LOOP = 2
RECENT_RESTART_S = 60.0
# Checkpoint barriers aligned this long behind a backpressured input (ms).
SLOW_ALIGNMENT_MS = 1000.0
# Checkpointed state this many times bigger over the history, and at least this big (bytes).
STATE_GROWTH = 2.0
STATE_GROWTH_BYTES = 10 * 1024 * 1024


@dataclass
class Judgement:
    """What the rules have decided so far."""

    target_rate: float | None
    confidence: Confidence = Confidence.HIGH
    findings: list[Finding] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)  # located sources of backpressure
    heads: list[str] = field(default_factory=list)  # first tasks at their limit
    moving: Finding | None = None
    restarting: Finding | None = None  # the job keeps failing and restarting
    verdict: Verdict = Verdict.UNKNOWN
    done: bool = False  # nothing more to judge (the job is not running)

    def cap(self, confidence: Confidence) -> None:
        self.confidence = self.confidence.at_most(confidence)


Rule = Callable[[JobEvidence, Judgement], None]


# -- the data -------------------------------------------------------------------------------

def restarts(ev: JobEvidence, j: Judgement) -> None:
    """A job that failed and restarted within the history is judged first as a job that
    restarts: the headline, with its newest failure; what its tasks did between restarts is
    not a steady state."""
    r = ev.restarts
    if r is None or not keeps_restarting(r, ev.uptime_s):
        return
    root = r.root
    cp = ev.checkpointing
    facts: dict[Fact, Value] = {Fact.RESTARTS: r.count, Fact.SPAN_S: r.span_s,
                                Fact.ATTEMPT: r.attempt, Fact.FAILED: cp.failed if cp else None}
    evidence = [Evidence("job", "restarts", r.count, "count", r.span_s, Why.RESTARTS)]
    if root is not None:
        facts.update({Fact.EXCEPTION: root.name, Fact.MESSAGE: root.message,
                      Fact.ROOT_CAUSE: root.root_cause, Fact.TASK: root.task})
        evidence.append(Evidence(root.task or "job", "exception", root.name, "",
                                 r.span_s, Why.NEWEST_FAILURE, {Fact.MESSAGE: root.message}))
    name = _task_named(ev, root.task) if root is not None else None
    j.restarting = Finding(Cause.RESTART_LOOP, name.vertex_id if name else None,
                           name.name if name else None, is_bottleneck=False,
                           evidence=evidence, facts=facts,
                           actions=[Action(ActionKind.ROOT_FAILURE, dict(facts))])
    if cp is not None and cp.failed and root is not None and "checkpoint" in root.message.lower():
        j.restarting.actions.append(Action(
            ActionKind.CHECKPOINT_STORAGE, {Fact.STORAGE: ev.storage},
            config={"state.checkpoint-storage": "filesystem",
                    "execution.checkpointing.incremental": "true"}))
    j.findings.append(j.restarting)


def keeps_restarting(r: Restarts | None, uptime_s: float | None) -> bool:
    """RESTART_LOOP restarts, or one with the newest attempt younger than RECENT_RESTART_S."""
    return r is not None and (r.count >= RESTART_LOOP or (
        uptime_s is not None and uptime_s < RECENT_RESTART_S))


def _task_named(ev: JobEvidence, flink_task: str) -> TaskEvidence | None:
    """The task an exception names (Flink writes `name (i/p)#attempt`)."""
    base = flink_task.split(" (")[0].strip()
    return next((t for t in ev.tasks.values() if base and t.name == base), None)


def running(ev: JobEvidence, j: Judgement) -> None:
    """A job that is not RUNNING has nothing to diagnose (one that restarts is said so)."""
    if ev.job_state == "RUNNING":
        return
    j.done = True
    if j.restarting is not None:
        # Caught between two attempts (RESTARTING, INITIALIZING...): the restarts are what
        # is judged, not the tasks.
        j.verdict, j.confidence = Verdict.RESTARTING, _restart_confidence(ev)
    else:
        j.notes.append(Note(NoteKind.NOT_RUNNING, {Fact.STATE: ev.job_state}))
        j.confidence = Confidence.LOW


def _restart_confidence(ev: JobEvidence) -> Confidence:
    """High when the job restarted again and again and its failure was read."""
    r = ev.restarts
    return Confidence.HIGH if r and r.root and r.count >= RESTART_LOOP else Confidence.MEDIUM


def data_quality(ev: JobEvidence, j: Judgement) -> None:
    """Start-up values, a young job, a short window, mixed bases, incomplete I/O counters,
    a restart: said, and the confidence lowered where they make the verdict uncertain."""
    q = ev.quality
    if j.restarting is not None:
        # Each restart starts the job afresh: young attempts and start-up values are what a
        # restarting job shows, said by the restart finding.
        j.notes.extend(ev.notes)
        return
    if q.startup:
        j.cap(Confidence.LOW)
        j.notes.append(Note(NoteKind.STARTUP_VALUES))
    if ev.uptime_s is not None and ev.uptime_s < MIN_UPTIME_S:
        j.cap(Confidence.LOW)
        j.notes.append(Note(NoteKind.TOO_YOUNG, {Fact.UPTIME_S: ev.uptime_s}))
    elif ev.window_s < MIN_WINDOW_S:
        j.cap(Confidence.LOW if ev.window_s == 0 else Confidence.MEDIUM)
        j.notes.append(Note(NoteKind.GAUGES_ONLY if ev.window_s == 0
                            else NoteKind.SHORT_COUNTERS, {Fact.SPAN_S: ev.window_s}))
    if q.mixed_basis:
        j.notes.append(Note(NoteKind.MIXED_BASIS))
    if q.io_incomplete:
        j.notes.append(Note(NoteKind.IO_INCOMPLETE, {Fact.SUBJECTS: q.io_incomplete}))
        j.cap(Confidence.MEDIUM)
    j.notes.extend(ev.notes)
    if q.attempt > 0:
        j.notes.append(Note(NoteKind.RESTARTED, {Fact.ATTEMPT: q.attempt}))


# -- where the limit is ---------------------------------------------------------------------

def moving_bottleneck(ev: JobEvidence, j: Judgement) -> None:
    """Tasks that take turns as the bottleneck are one finding, not one each."""
    j.roots = locate(ev.graph, ev.states)
    if ev.history is None:
        return
    j.moving = temporal.moving_finding(ev.history, {vid: t.name for vid, t in ev.tasks.items()})
    if j.moving is not None:
        alternating = temporal.alternating(ev.history)
        if any(causes.stalls(ev, ev.tasks[v]) for v in alternating if v in ev.tasks):
            # Turns that follow the checkpoints: one task stalls once per interval, the one
            # that leads in between is the steady one. Not a moving bottleneck.
            j.moving = None
            return
        j.roots = [r for r in j.roots if r not in alternating]
        j.findings.append(j.moving)


def bottlenecks(ev: JobEvidence, j: Judgement) -> None:
    """Each located source of backpressure, with its cause (analysis.causes' table). A task
    whose synchronous checkpoint phase stalls it holds its input back in bursts, one per
    checkpoint: it is one, busy or not over the window."""
    held = any((t.state.backpressured or 0.0) > LOW_THRESHOLD for t in ev.tasks.values())
    j.roots += [vid for vid, t in ev.tasks.items() if held and vid not in j.roots
                and causes.stalls(ev, t) and _input_held(ev, vid)]
    j.findings.extend(causes.classify(ev, ev.tasks[r]) for r in j.roots)
    if j.restarting is not None and j.roots:
        j.notes.append(Note(NoteKind.BETWEEN_RESTARTS,
                            {Fact.RESTARTS: ev.restarts.count if ev.restarts else 0}))
        j.cap(Confidence.LOW)


def _input_held(ev: JobEvidence, vid: str) -> bool:
    """Some input of the task is backpressured (any task, without the graph's edges)."""
    ups = ev.graph.upstream(vid) if ev.graph is not None else list(ev.tasks)
    return any((ev.tasks[u].state.backpressured or 0.0) > LOW_THRESHOLD for u in ups
               if u in ev.tasks)


def head_of_job(ev: JobEvidence, j: Judgement) -> None:
    """Nothing backpressured but a first task at its limit: the limit is the head of the job."""
    if j.roots or j.moving is not None:
        return
    j.heads = sources.head_limits(ev)
    j.findings.extend(causes.classify(ev, ev.tasks[h], at_head=True) for h in j.heads)


def persistence(ev: JobEvidence, j: Judgement) -> None:
    """How long each bottleneck has held; one seen in few intervals is transient."""
    if ev.history is not None:
        temporal.annotate(j.findings, ev.history)


def settled(ev: JobEvidence, j: Judgement) -> None:
    """A window that may average over an alternation (a timer that fires, a bottleneck busy
    well below 100%), or a bottleneck that changed within the history, is not settled."""
    if ev.history is None:
        return
    if j.moving is None:
        timers = {vid for vid, t in ev.tasks.items() if t.fires_timers}
        # GC pauses and stalling snapshots take the busy time they take: below 100% by nature.
        busy = {f.vertex_id: ev.tasks[f.vertex_id].state.busy or 0.0 for f in j.findings
                if f.is_bottleneck and f.vertex_id in ev.tasks and not f.at_head
                and f.cause not in (Cause.GC_PRESSURE, Cause.CHECKPOINT_STALL)}
        doubts = temporal.unsettled(ev.history, timers, busy)
        if doubts:
            j.notes.append(Note(NoteKind.NOT_SETTLED, {Fact.SWINGS: doubts.swings,
                                                       Fact.AVERAGED: doubts.averaged}))
            j.cap(Confidence.MEDIUM)
    leaders = [v for v, share in ev.history.root_share.items() if share > 0]
    if j.moving is None and len(leaders) >= 2:
        j.notes.append(Note(NoteKind.BOTTLENECK_CHANGED, {
            Fact.NAMES: tuple(sorted(ev.tasks[v].name for v in leaders if v in ev.tasks)),
            Fact.SPAN_S: ev.history.span_s}))
        j.cap(Confidence.MEDIUM)


def record_rates(ev: JobEvidence, j: Judgement) -> None:
    """A bottleneck whose subtasks' record rates are not known yet may change cause."""
    for r in j.roots:
        missing = ev.tasks[r].rates_missing
        if missing:
            j.notes.append(Note(NoteKind.RATES_UNKNOWN, {Fact.SUBJECTS: (ev.tasks[r].name,),
                                                         Fact.INDICES: missing}))
            j.cap(Confidence.MEDIUM)


def exchanges(ev: JobEvidence, j: Judgement) -> None:
    """Senders held back by the network, or by barrier alignment behind a slow input.

    A sender held back by a task that limited the job in some interval of the history (the
    tasks that take turns, a burst) is explained by that task, not by the network: over the
    window its receiver's busy time only averages below the bar."""
    led = {r for _, _, rs in ev.history.sequence for r in rs} if ev.history else set()
    limits = j.roots + sorted(led - set(j.roots))
    j.findings.extend(network.network_findings(ev, limits))
    unread = network.unread_exchanges(ev, limits)
    if unread:
        j.notes.append(Note(NoteKind.NETWORK_UNKNOWN, {Fact.SUBJECTS: tuple(unread)}))


def not_bottlenecks(ev: JobEvidence, j: Judgement) -> None:
    """Busy time Flink cannot measure, and a task at capacity before backpressure shows (a
    job still starting reports NaN for a moment, so NaN says nothing yet)."""
    young = ev.uptime_s is not None and ev.uptime_s < MIN_UPTIME_S
    any_bp = any((t.state.backpressured or 0) > LOW_THRESHOLD for t in ev.tasks.values())
    for t in ev.tasks.values():
        s = t.state
        if t.busy_unmeasured and not young:
            j.findings.append(Finding(
                Cause.UNMEASURABLE, t.vertex_id, t.name, is_bottleneck=False,
                facts={Fact.ANY_BACKPRESSURE: any_bp},
                evidence=[Evidence(t.name, "busyTimeMsPerSecond", "NaN", "ms/s", ev.window_s,
                                   Why.NO_BUSY_TIME),
                          Evidence(t.name, "backpressured_ratio", rounded(s.backpressured),
                                   "ratio", ev.window_s, Why.BLOCKED_DOWNSTREAM)]))
        if (t.takes_input and t.vertex_id not in j.roots and (s.busy or 0) >= NEAR_CAPACITY
                and not any_bp):
            j.findings.append(Finding(
                Cause.NEAR_CAPACITY, t.vertex_id, t.name, is_bottleneck=False,
                facts={Fact.BUSY: s.busy},
                evidence=[Evidence(t.name, "busy_ratio", rounded(s.busy), "ratio",
                                   ev.window_s, Why.MAX_OVER_SUBTASKS)],
                actions=[Action(ActionKind.HEADROOM)]))


def inputs(ev: JobEvidence, j: Judgement) -> None:
    """Whether the sources keep up with their input, and splits that hold event time back;
    whether the job keeps up only matters where something limits it."""
    found, notes = sources.input_findings(ev)
    j.findings.extend(found)
    if j.roots or j.heads:
        j.notes.extend(notes)
    j.findings.extend(sources.idle_source_findings(ev))


def checkpoints(ev: JobEvidence, j: Judgement) -> None:
    """Checkpoints that fail or expire, barriers aligned for seconds behind a backpressured
    input, and checkpointed state that keeps growing."""
    cp = ev.checkpointing
    if cp is None:
        return
    if cp.failed >= 2 and cp.failed >= cp.completed:
        j.findings.append(Finding(
            Cause.CHECKPOINTS_FAILING, None, None, is_bottleneck=False,
            facts={Fact.FAILED: cp.failed, Fact.CHECKPOINTS: cp.completed + cp.failed,
                   Fact.EXPIRED: cp.expired, Fact.MESSAGE: cp.failure,
                   Fact.TIMEOUT_MS: cp.timeout_ms},
            evidence=[Evidence("job", "failed_checkpoints", cp.failed, "count", ev.window_s,
                               Why.FAILED_CHECKPOINTS, {Fact.MESSAGE: cp.failure})],
            actions=[Action(ActionKind.CHECKPOINT_TIMEOUT,
                            {Fact.EXPIRED: cp.expired, Fact.TIMEOUT_MS: cp.timeout_ms},
                            config=_checkpoint_config(cp.expired > 0))]))
    for vid, t in ev.tasks.items():
        align = t.checkpoints.alignment_ms if t.checkpoints else None
        if align is not None and align >= SLOW_ALIGNMENT_MS and _input_held(ev, vid) \
                and not cp.unaligned:
            j.findings.append(Finding(
                Cause.SLOW_ALIGNMENT, vid, t.name, is_bottleneck=False,
                facts={Fact.ALIGNMENT_MS: align, Fact.INTERVAL_MS: cp.interval_ms},
                evidence=[Evidence(t.name, "checkpoint_alignment_ms", round(align), "ms",
                                   ev.window_s, Why.ALIGNMENT)],
                actions=[Action(ActionKind.UNALIGNED, config={
                    "execution.checkpointing.unaligned.enabled": "true",
                    "taskmanager.network.memory.buffer-debloat.enabled": "true"})]))
    if (cp.growth is not None and cp.growth >= STATE_GROWTH
            and (cp.state_bytes or 0.0) >= STATE_GROWTH_BYTES):
        j.findings.append(Finding(
            Cause.STATE_GROWTH, None, None, is_bottleneck=False,
            facts={Fact.GROWTH: cp.growth, Fact.STATE_BYTES: cp.state_bytes,
                   Fact.SPAN_S: ev.history.span_s if ev.history else ev.window_s},
            evidence=[Evidence("job", "checkpointed_state_bytes", round(cp.state_bytes or 0),
                               "bytes", ev.window_s, Why.STATE_SIZE, {Fact.GROWTH: cp.growth})],
            actions=[Action(ActionKind.STATE_TTL,
                            config={"execution.checkpointing.incremental": "true"})]))


def _checkpoint_config(expired: bool) -> dict[str, str]:
    if expired:
        return {"execution.checkpointing.timeout": "longer than today",
                "execution.checkpointing.unaligned.enabled": "true"}
    return {"state.checkpoint-storage": "filesystem",
            "execution.checkpointing.tolerable-failed-checkpoints": "3"}


def garbage_collection(ev: JobEvidence, j: Judgement) -> None:
    """GC that stalls a TaskManager, when no bottleneck explains the job already."""
    if not any(f.is_bottleneck for f in j.findings):
        gc = gc_finding(ev)
        if gc is not None:
            j.findings.append(gc)


def plans(ev: JobEvidence, j: Judgement) -> None:
    """The parallelism each bottleneck (and the next ones) needs for the goal rate."""
    capacity.recommend(ev, j.findings, j.target_rate)
    arriving = {t.vertex_id: sources.arriving_per_s(t.source) for t in ev.tasks.values()
                if t.source is not None and sources.behind(t.source)}
    for f in j.findings:
        if f.at_head and f.vertex_id in ev.tasks:
            sources.head_capacity(f, ev.tasks[f.vertex_id], j.target_rate,
                                  arriving.get(f.vertex_id), ev.window_s)


# -- the verdict ----------------------------------------------------------------------------

def verdict(ev: JobEvidence, j: Judgement) -> None:
    """Healthy, backpressured, limited at the head, or unknown."""
    levels = [t.state.level for t in ev.tasks.values()]
    backpressured = any(level in (Level.LOW, Level.HIGH) for level in levels)
    if j.restarting is not None:
        j.verdict, j.confidence = Verdict.RESTARTING, _restart_confidence(ev)
    elif j.confidence == Confidence.LOW and not j.roots:
        j.verdict = Verdict.UNKNOWN
    elif j.heads and not j.roots:
        j.verdict = Verdict.LIMITED
    elif j.roots or any(f.is_bottleneck for f in j.findings):
        j.verdict = Verdict.BACKPRESSURED
    elif backpressured:
        j.verdict = Verdict.BACKPRESSURED
        gauges = any(t.exchange is not None and t.exchange.out_pool is not None
                     for t in ev.tasks.values())
        j.findings.append(Finding(
            Cause.TRANSIENT, None, None, is_bottleneck=False,
            facts={Fact.GAUGES_READ: gauges},
            evidence=[Evidence(t.name, "backpressured_ratio",
                               round(t.state.backpressured or 0, 3), "ratio", ev.window_s,
                               Why.BP_WITHOUT_BUSY)
                      for t in ev.tasks.values() if t.state.level in (Level.LOW, Level.HIGH)]))
        j.cap(Confidence.MEDIUM)
    else:
        j.verdict = Verdict.HEALTHY
        _provisional(ev, j)


def _provisional(ev: JobEvidence, j: Judgement) -> None:
    """A healthy verdict on a job younger than a minute holds until windows and timers have
    fired and buffers before a busy task have had time to fill."""
    if ev.uptime_s is None or ev.uptime_s >= YOUNG_JOB_S:
        return
    busiest = max(ev.tasks.values(), key=lambda t: t.state.busy or 0.0, default=None)
    if busiest and (busiest.state.busy or 0.0) >= BUSY_HOT:
        j.notes.append(Note(NoteKind.PROVISIONAL_BUSY, {
            Fact.UPTIME_S: ev.uptime_s, Fact.SUBJECTS: (busiest.name,),
            Fact.BUSY: busiest.state.busy}))
    else:
        j.notes.append(Note(NoteKind.PROVISIONAL, {Fact.UPTIME_S: ev.uptime_s}))
    j.cap(Confidence.MEDIUM)


def work_basis(ev: JobEvidence, j: Judgement) -> None:
    """On- or off-CPU told from JVM CPU time only (a shared host blurs it), or not told at
    all: the verdict is not high."""
    for f in j.findings:
        if not f.is_bottleneck:
            continue
        way = f.facts.get(Fact.WAY)
        if way == WorkBasis.JVM_CPU and not (
                isinstance(f.cpu, CpuSplit) and work_of(f.cpu) != Work.WAITING):
            j.notes.append(Note(NoteKind.JVM_CPU_ONLY, {Fact.SUBJECTS: (f.vertex_name,)}))
            j.cap(Confidence.MEDIUM)
        elif way == WorkBasis.UNKNOWN:
            j.notes.append(Note(NoteKind.WORK_UNKNOWN, {
                Fact.SUBJECTS: (f.vertex_name,), Fact.JOB_ID: ev.job_id,
                Fact.CORES_USED: f.facts.get(Fact.CORES_USED),
                Fact.BUSY_CORES: f.facts.get(Fact.BUSY_CORES)}))
            j.cap(Confidence.MEDIUM)


def buffer_fill(ev: JobEvidence, j: Judgement) -> None:
    """Network buffers flushed long before they fill."""
    j.findings.extend(buffers.low_fill_findings(ev.throughput, ev.window_s))


def where_from(ev: JobEvidence, j: Judgement) -> None:
    """Without the job graph's edges, the bottleneck was located as on a dashboard."""
    if ev.graph is None:
        j.notes.append(Note(NoteKind.WITHOUT_EDGES))
        if j.roots or j.heads:
            j.cap(Confidence.MEDIUM)


RULES: tuple[Rule, ...] = (
    restarts, running, data_quality,
    moving_bottleneck, bottlenecks, head_of_job, persistence, settled, record_rates,
    exchanges, not_bottlenecks, inputs, checkpoints, garbage_collection, plans,
    verdict, work_basis, buffer_fill, where_from,
)


def judge(ev: JobEvidence, *, target_rate: float | None = None) -> Diagnosis:
    """The diagnosis of the evidence: every rule of RULES, in order."""
    j = Judgement(target_rate)
    for rule in RULES:
        rule(ev, j)
        if j.done:
            break
    return Diagnosis(
        job_id=ev.job_id, job_name=ev.job_name, job_state=ev.job_state, t=ev.t,
        window_s=ev.window_s, uptime_s=ev.uptime_s, verdict=j.verdict,
        confidence=j.confidence, tasks=[t.state for t in ev.tasks.values()],
        findings=j.findings, notes=j.notes,
        buffers=[] if j.done else ev.readings, throughput=[] if j.done else ev.throughput)
