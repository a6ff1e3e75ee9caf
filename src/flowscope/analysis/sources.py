"""The head of the job: a limit without backpressure, whether the job keeps up with its
input, and event time. Pure.

When the task that limits a job is the first one (a source chained with expensive work, a
one-vertex job, a source that cannot read faster), nothing upstream can be held back: the
web UI shows no backpressure at all while consumer lag grows. The evidence is busy time at
the head, the sources' own metrics (FLIP-33: pendingRecords, fetch / emit lag, idle time;
FLIP-27 splits paused by watermark alignment) and the flame graph of the chain.

Event time: a task's input watermark is the minimum over its inputs, so one source split
that receives nothing (an idle partition) and does not declare idleness holds back every
task downstream; event-time windows then never fire, without any backpressure.
"""

from __future__ import annotations

import math

from flowscope.analysis.evidence import JobEvidence, SourceInput, TaskEvidence
from flowscope.analysis.findings import (
    LOW_THRESHOLD,
    Action,
    ActionKind,
    Cause,
    Evidence,
    Fact,
    Finding,
    Note,
    NoteKind,
    Why,
)

HEAD_BUSY = 0.9  # a first task whose busiest subtask is this busy runs at its limit
TARGET_UTILISATION = 0.8
# Lag that grows by more than this share of the window (and at least MIN_LAG_GROWTH_MS per s)
# means the job falls behind its input.
MIN_PENDING_GROWTH = 0.02  # ... pending records per second of the window, relative to rate
MIN_LAG_GROWTH_MS = 100.0  # ms of emit lag gained per second of the window
ALIGNMENT_PAUSED = 0.1  # splits paused this share of the time by watermark alignment
SOURCE_IDLE_MS = 10_000.0  # a source that received nothing for this long waits for input
# A source subtask whose output watermark trails its peers' by this much holds the job back.
WATERMARK_TRAIL_MS = 10_000.0


def head_limits(ev: JobEvidence) -> list[str]:
    """The first tasks of the job that run at their limit while nothing is backpressured."""
    if any((t.state.backpressured or 0.0) > LOW_THRESHOLD for t in ev.tasks.values()):
        return []
    return [t.vertex_id for t in heads(ev) if (t.state.busy or 0.0) >= HEAD_BUSY]


def heads(ev: JobEvidence) -> list[TaskEvidence]:
    """The first tasks of the job: those that take no input (with the graph, its sources)."""
    return [t for t in ev.tasks.values() if not t.takes_input]


def reported(src: SourceInput) -> bool:
    return src.pending_records is not None or src.emit_lag_ms is not None


def behind(src: SourceInput) -> bool:
    """The backlog or the lag grows: the job does not keep up with its input."""
    return ((src.pending_growth_per_s is not None and src.pending_growth_per_s
             > MIN_PENDING_GROWTH * max(src.records_out_per_s, 1.0))
            or (src.emit_lag_growth is not None and src.emit_lag_growth > MIN_LAG_GROWTH_MS))


def catching_up(src: SourceInput) -> bool:
    return (src.pending_growth_per_s is not None and src.pending_growth_per_s
            < -MIN_PENDING_GROWTH * max(src.records_out_per_s, 1.0))


def arriving_per_s(src: SourceInput) -> float | None:
    """The input rate (records/s): what the source emits plus what the backlog gains."""
    if src.pending_growth_per_s is None:
        return None
    return src.records_out_per_s + max(src.pending_growth_per_s, 0.0)


def input_findings(ev: JobEvidence) -> tuple[list[Finding], list[Note]]:
    """Whether each source keeps up with its input: (findings, notes). The notes say what
    cannot be known where a source reports neither a backlog nor a lag."""
    findings: list[Finding] = []
    notes: list[Note] = []
    for t in heads(ev):
        src = t.source
        if src is None:
            continue
        name, w = t.name, ev.window_s
        if not reported(src):
            notes.append(Note(NoteKind.NO_INPUT_METRICS, {Fact.SUBJECTS: (name,)}))
            continue
        evidence = _input_evidence(name, src, w)
        if behind(src):
            findings.append(Finding(
                Cause.FALLING_BEHIND, t.vertex_id, name, is_bottleneck=False,
                evidence=evidence,
                facts={Fact.RECORDS_OUT_PER_S: src.records_out_per_s,
                       Fact.PENDING_GROWTH_PER_S: src.pending_growth_per_s,
                       Fact.EMIT_LAG_MS: src.emit_lag_ms},
                actions=[Action(ActionKind.REMOVE_LIMIT,
                                {Fact.ARRIVING_PER_S: arriving_per_s(src)})],
            ))
        elif catching_up(src):
            findings.append(Finding(
                Cause.CATCHING_UP, t.vertex_id, name, is_bottleneck=False, evidence=evidence,
                facts={Fact.PENDING_RECORDS: src.pending_records or 0.0,
                       Fact.PENDING_GROWTH_PER_S: src.pending_growth_per_s or 0.0},
            ))
        if src.paused_share is not None and src.paused_share >= ALIGNMENT_PAUSED:
            findings.append(Finding(
                Cause.ALIGNMENT_PAUSED, t.vertex_id, name, is_bottleneck=False,
                facts={Fact.PAUSED_SHARE: src.paused_share},
                evidence=[Evidence(name, "splits_paused_share", round(src.paused_share, 3),
                                   "ratio", w, Why.PAUSED)],
                actions=[Action(ActionKind.ALLOW_DRIFT)],
            ))
        if (not behind(src) and src.idle_ms is not None and src.idle_ms >= SOURCE_IDLE_MS
                and (src.idle_ratio or 0.0) > 0.5):
            notes.append(Note(NoteKind.INPUT_IDLE, {Fact.SUBJECTS: (name,),
                                                    Fact.IDLE_S: src.idle_ms / 1000}))
    return findings, notes


def _input_evidence(name: str, src: SourceInput, w: float) -> list[Evidence]:
    out = []
    if src.pending_records is not None:
        out.append(Evidence(name, "pending_records", round(src.pending_records), "records",
                            w, Why.PENDING))
    if src.pending_growth_per_s is not None:
        out.append(Evidence(name, "pending_growth_per_s", round(src.pending_growth_per_s, 1),
                            "records/s", w, Why.PENDING_GROWTH))
    if src.emit_lag_ms is not None:
        out.append(Evidence(name, "emit_lag_ms", round(src.emit_lag_ms), "ms", w,
                            Why.EMIT_LAG))
    out.append(Evidence(name, "records_out_per_s", round(src.records_out_per_s, 1),
                        "records/s", w, Why.EMITS_NOW))
    return out


def idle_source_findings(ev: JobEvidence) -> list[Finding]:
    """Source subtasks (or splits) whose watermark does not advance while their peers' does:
    they hold back the watermark of every task downstream."""
    out = []
    for t in heads(ev):
        held = _held(t)
        if not held:
            continue
        below = ev.graph.descendants(t.vertex_id) if ev.graph else set()
        lagging = [ev.tasks[d].state for d in ev.tasks if d in below]
        downstream = tuple(s.name for s in lagging
                           if (s.watermark_lag_s or 0.0) * 1000 >= WATERMARK_TRAIL_MS)
        evidence = [Evidence(f"{t.name}[{i}]" + (f" split {sid}" if sid is not None else ""),
                             "watermark_trail_ms", "no watermark" if gap is None else round(gap),
                             "ms", ev.window_s, Why.WATERMARK_TRAIL)
                    for i, sid, gap in held[:4]]
        evidence += [Evidence(s.name, "watermark_lag_s", round(s.watermark_lag_s, 1), "s",
                              ev.window_s, Why.WATERMARK_LAG)
                     for s in lagging if s.watermark_lag_s is not None]
        out.append(Finding(
            Cause.IDLE_SOURCE, t.vertex_id, t.name, is_bottleneck=False, evidence=evidence,
            facts={Fact.HELD: tuple((i, sid) for i, sid, _ in held),
                   Fact.DOWNSTREAM: downstream},
            actions=[Action(ActionKind.DECLARE_IDLENESS)],
        ))
    return out


def _held(t: TaskEvidence) -> list[tuple[int, str | None, float | None]]:
    """(subtask, split or None, how far behind in ms or None for "no watermark yet") of a
    source's subtasks and splits that hold its watermark back."""
    if t.watermarks is None:
        return []
    marks = t.watermarks.output
    known = [m for m in marks.values() if m is not None]
    if not known:
        return []
    best = max(known)
    held: list[tuple[int, str | None, float | None]] = []
    for index, mine in marks.items():
        splits = t.watermarks.splits.get(index, {})
        without = [sid for sid, m in splits.items()
                   if m is None or best - m >= WATERMARK_TRAIL_MS]
        if mine is not None and best - mine < WATERMARK_TRAIL_MS:
            continue
        if without:
            held.extend((index, sid, None if splits[sid] is None else best - (splits[sid] or 0.0))
                        for sid in without)
        else:
            held.append((index, None, None if mine is None else best - mine))
    return held


def head_capacity(f: Finding, t: TaskEvidence, target_rate: float | None,
                  offered: float | None, window_s: float) -> None:
    """What the head of the job can carry, and the parallelism a target needs: a source's
    true rate is the records it emits per second of busy time."""
    per_subtask = t.head_rate
    if per_subtask is None:
        return
    f.evidence.append(Evidence(t.name, "true_rate_per_subtask", round(per_subtask, 1),
                               "records/busy s", window_s, Why.HEAD_TRUE_RATE))
    goal = target_rate or offered
    if goal is None:
        f.actions.append(Action(ActionKind.HEAD_RATE,
                                {Fact.RATE_PER_SUBTASK: per_subtask,
                                 Fact.UTILISATION: TARGET_UTILISATION}))
        return
    need = max(1, math.ceil(goal / (TARGET_UTILISATION * per_subtask)))
    f.actions.insert(0, Action(
        ActionKind.HEAD_PLAN,
        {Fact.GOAL_PER_S: goal, Fact.GOAL_IS_TARGET: bool(target_rate),
         Fact.UTILISATION: TARGET_UTILISATION, Fact.NEEDED: need,
         Fact.PARALLELISM: t.state.parallelism,
         Fact.SPLITS: t.splits if t.splits and need > t.splits else None},
        parallelism={t.name: need}))

