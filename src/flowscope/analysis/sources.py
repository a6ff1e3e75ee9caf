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
from dataclasses import dataclass

from flowscope.analysis.findings import (
    LOW_THRESHOLD,
    Action,
    Cause,
    Evidence,
    Finding,
    TaskState,
)
from flowscope.analysis.numbers import finite_max, finite_sum, pct
from flowscope.analysis.window import SubtaskWindow
from flowscope.model import JobGraph

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


def head_limits(graph: JobGraph, tasks: dict[str, TaskState]) -> list[str]:
    """The first tasks of the job that run at their limit while nothing is backpressured."""
    if any((t.backpressured or 0.0) > LOW_THRESHOLD for t in tasks.values()):
        return []
    return [v.id for v in graph.sources() if (tasks[v.id].busy or 0.0) >= HEAD_BUSY]


def watermark_lags(graph: JobGraph, windows: dict[str, list[SubtaskWindow]],
                   now_s: float, job_start_s: float | None) -> dict[str, float]:
    """Per task with event time, how far its input watermark trails the wall clock (s): the
    slowest subtask's (sources: their output watermark). A task whose watermark never
    advanced while some source's did trails by the job's whole uptime."""
    out: dict[str, float] = {}
    event_time = any(w.output_watermark_ms is not None
                     for v in graph.sources() for w in windows.get(v.id, []))
    for v in graph.vertices:
        head = not graph.inputs(v.id)
        marks = [(w.output_watermark_ms if head else w.input_watermark_ms)
                 for w in windows.get(v.id, [])]
        known = [m for m in marks if m is not None]
        if known and len(known) == len(marks):
            out[v.id] = max(0.0, now_s - min(known) / 1000.0)
        elif event_time and marks and job_start_s is not None:
            out[v.id] = max(0.0, now_s - job_start_s)
    return out


@dataclass(frozen=True)
class SourceInput:
    """What one source reports of its input over the window (None: not reported)."""

    vertex_id: str
    name: str
    records_out_per_s: float  # what it emits now
    pending_records: float | None  # summed over subtasks
    pending_growth_per_s: float | None
    emit_lag_ms: float | None  # the slowest subtask's
    emit_lag_growth: float | None  # ms of lag gained per second
    paused_share: float | None  # split time paused by watermark alignment
    idle_ms: float | None  # the longest time a subtask received nothing
    idle_ratio: float | None

    @property
    def reported(self) -> bool:
        return self.pending_records is not None or self.emit_lag_ms is not None

    @property
    def behind(self) -> bool:
        """The backlog or the lag grows: the job does not keep up with its input."""
        return ((self.pending_growth_per_s is not None and self.pending_growth_per_s
                 > MIN_PENDING_GROWTH * max(self.records_out_per_s, 1.0))
                or (self.emit_lag_growth is not None
                    and self.emit_lag_growth > MIN_LAG_GROWTH_MS))

    @property
    def catching_up(self) -> bool:
        return (self.pending_growth_per_s is not None and self.pending_growth_per_s
                < -MIN_PENDING_GROWTH * max(self.records_out_per_s, 1.0))

    @property
    def arriving_per_s(self) -> float | None:
        """The input rate (records/s): what the source emits plus what the backlog gains."""
        if self.pending_growth_per_s is None:
            return None
        return self.records_out_per_s + max(self.pending_growth_per_s, 0.0)


def read_inputs(graph: JobGraph, tasks: dict[str, TaskState],
                windows: dict[str, list[SubtaskWindow]]) -> dict[str, SourceInput]:
    """Per source vertex, its own view of its input."""
    out = {}
    for v in graph.sources():
        subs = windows.get(v.id, [])
        out[v.id] = SourceInput(
            vertex_id=v.id, name=v.name, records_out_per_s=tasks[v.id].records_out_per_s or 0.0,
            pending_records=finite_sum([w.pending_records for w in subs]),
            pending_growth_per_s=finite_sum([w.pending_growth_per_s for w in subs]),
            emit_lag_ms=finite_max([w.emit_lag_ms for w in subs]),
            emit_lag_growth=finite_max([w.emit_lag_growth for w in subs]),
            paused_share=finite_max([w.splits_paused_share for w in subs]),
            idle_ms=finite_max([w.source_idle_ms for w in subs]),
            idle_ratio=tasks[v.id].idle,
        )
    return out


def input_findings(inputs: dict[str, SourceInput], window_s: float
                   ) -> tuple[list[Finding], list[str]]:
    """Whether each source keeps up with its input: (findings, notes). The notes say what
    cannot be known where a source reports neither a backlog nor a lag."""
    findings: list[Finding] = []
    notes: list[str] = []
    for src in inputs.values():
        name, rate = src.name, src.records_out_per_s
        if not src.reported:
            notes.append(
                f"{name} reports neither pendingRecords nor an emit lag: whether the job "
                "keeps up with its input cannot be read from Flink; pass --target-rate R to "
                "check the head of the job against R records/s")
            continue
        ev = []
        if src.pending_records is not None:
            ev.append(Evidence(name, "pending_records", round(src.pending_records), "records",
                               window_s, "records waiting in the external system "
                               "(pendingRecords)"))
        if src.pending_growth_per_s is not None:
            ev.append(Evidence(name, "pending_growth_per_s", round(src.pending_growth_per_s, 1),
                               "records/s", window_s, "how fast the backlog changes"))
        if src.emit_lag_ms is not None:
            ev.append(Evidence(name, "emit_lag_ms", round(src.emit_lag_ms), "ms", window_s,
                               "emit time minus event time of the last record "
                               "(currentEmitEventTimeLag)"))
        ev.append(Evidence(name, "records_out_per_s", round(rate, 1), "records/s", window_s,
                           "what the source emits now"))
        if src.behind:
            growth = src.pending_growth_per_s
            more = f", its backlog grows by {growth:.0f} records/s" if growth else ""
            lag = src.emit_lag_ms
            findings.append(Finding(
                Cause.FALLING_BEHIND, src.vertex_id, name,
                f"the job does not keep up with its input: {name} emits {rate:.0f} "
                f"records/s{more}" + (f" and its records are {lag / 1000:.1f} s old when "
                                      "emitted" if lag is not None else ""),
                is_bottleneck=False, evidence=ev,
                actions=[Action(
                    (f"The input arrives at about {src.arriving_per_s:.0f} records/s: "
                     if src.arriving_per_s is not None else "")
                    + "remove the limit (the bottleneck, or the head of the job), or the lag "
                    "keeps growing until the data expires from the source."
                )],
            ))
        elif src.catching_up:
            findings.append(Finding(
                Cause.CATCHING_UP, src.vertex_id, name,
                f"{name} is catching up: its backlog of {src.pending_records or 0:.0f} records "
                f"shrinks by {-(src.pending_growth_per_s or 0.0):.0f} records/s (after a restart "
                "or a load spike); usually nothing to do",
                is_bottleneck=False, evidence=ev,
            ))
        if src.paused_share is not None and src.paused_share >= ALIGNMENT_PAUSED:
            findings.append(Finding(
                Cause.ALIGNMENT_PAUSED, src.vertex_id, name,
                f"{name}'s splits were paused by watermark alignment {pct(src.paused_share)} "
                "of the time: its idle time is not headroom; the splits ahead in event time "
                "wait for the ones behind",
                is_bottleneck=False,
                evidence=[Evidence(name, "splits_paused_share", round(src.paused_share, 3),
                                   "ratio", window_s,
                                   "accumulatedPausedTimeMs over all split time")],
                actions=[Action("Speed up the splits that lag in event time, or allow more "
                                "drift (WatermarkStrategy.withWatermarkAlignment max drift).")],
            ))
        if (not src.behind and src.idle_ms is not None and src.idle_ms >= SOURCE_IDLE_MS
                and (src.idle_ratio or 0.0) > 0.5):
            notes.append(f"{name} has received nothing for {src.idle_ms / 1000:.0f} s "
                         "(sourceIdleTime): the input is simply slow, not the job")
    return findings, notes


def idle_source_findings(graph: JobGraph, windows: dict[str, list[SubtaskWindow]],
                         lags: dict[str, float], window_s: float) -> list[Finding]:
    """Source subtasks (or splits) whose watermark does not advance while their peers' does:
    they hold back the watermark of every task downstream."""
    out = []
    for v in graph.sources():
        subs = windows.get(v.id, [])
        marks = {w.index: w.output_watermark_ms for w in subs}
        known = [m for m in marks.values() if m is not None]
        if not known:
            continue
        best = max(known)
        # (subtask, split or None, how far behind in ms or None for "no watermark yet")
        held: list[tuple[int, str | None, float | None]] = []
        for w in subs:
            splits_without = [sid for sid, m in w.split_watermarks.items()
                              if m is None or best - m >= WATERMARK_TRAIL_MS]
            mine = marks[w.index]
            if mine is not None and best - mine < WATERMARK_TRAIL_MS:
                continue
            if splits_without:
                held.extend((w.index, sid, None if w.split_watermarks[sid] is None
                             else best - (w.split_watermarks[sid] or 0.0))
                            for sid in splits_without)
            else:
                held.append((w.index, None, None if mine is None else best - mine))
        if not held:
            continue
        downstream = [graph.vertex(d).name for d in graph.descendants(v.id)
                      if lags.get(d, 0.0) * 1000 >= WATERMARK_TRAIL_MS]
        where = ", ".join(f"subtask {i}" + (f" split {sid}" if sid is not None else "")
                          for i, sid, _ in held)
        ev = [Evidence(f"{v.name}[{i}]" + (f" split {sid}" if sid is not None else ""),
                       "watermark_trail_ms", "no watermark" if gap is None else round(gap),
                       "ms", window_s, "behind the most advanced subtask of the source")
              for i, sid, gap in held[:4]]
        for d in graph.descendants(v.id):
            if d in lags:
                ev.append(Evidence(graph.vertex(d).name, "watermark_lag_s", round(lags[d], 1),
                                   "s", window_s, "input watermark behind the wall clock"))
        out.append(Finding(
            Cause.IDLE_SOURCE, v.id, v.name,
            f"{v.name} {where} receives no data and emits no watermark progress, so the "
            "watermark of every task downstream stays behind"
            + (f" ({', '.join(downstream)})" if downstream else "")
            + ": event-time windows and timers there do not fire, without any backpressure",
            is_bottleneck=False, evidence=ev,
            actions=[Action(
                "Declare idleness in the watermark strategy, so that an idle split stops "
                "holding the watermark back: WatermarkStrategy...withIdleness(Duration."
                "ofSeconds(30)); or check why that partition receives nothing.",
            )],
        ))
    return out


def head_capacity(f: Finding, task: TaskState, subs: list[SubtaskWindow],
                  target_rate: float | None, offered: float | None, window_s: float) -> None:
    """What the head of the job can carry, and the parallelism a target needs: a source's
    true rate is the records it emits per second of busy time."""
    rates = [(w.records_out_per_s or 0.0) / w.busy for w in subs
             if w.busy and w.busy >= 0.05 and w.records_out_per_s]
    if not rates:
        return
    per_subtask = sum(rates) / len(rates)
    f.evidence.append(Evidence(task.name, "true_rate_per_subtask", round(per_subtask, 1),
                               "records per busy second", window_s,
                               "what one subtask of the head emits when never idle"))
    goal = target_rate or offered
    splits = finite_sum([float(w.splits) if w.splits is not None else None for w in subs])
    if goal is None:
        f.actions.append(Action(
            f"Each subtask of {task.name} emits {per_subtask:.0f} records/s at full load: for R "
            f"records/s it needs ceil(R / {TARGET_UTILISATION * per_subtask:.0f}) subtasks; "
            "pass --target-rate R for the plan."))
        return
    need = max(1, math.ceil(goal / (TARGET_UTILISATION * per_subtask)))
    basis = "the target rate" if target_rate else "the rate the input arrives at"
    text = (f"To carry {goal:.0f} records/s ({basis}) at {TARGET_UTILISATION:.0%} utilisation, "
            f"{task.name} needs parallelism {need} (today {task.parallelism})")
    if splits and need > splits:
        text += (f"; but the source has {splits:.0f} splits, and scaling past {splits:.0f} "
                 "will not help: split the chain (start a new chain after the source, with "
                 "more parallelism for the expensive operator), or make that operator "
                 "cheaper (Async I/O for off-CPU work)")
    f.actions.insert(0, Action(text + ".", parallelism={task.name: need}))
