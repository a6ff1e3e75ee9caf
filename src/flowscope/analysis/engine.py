"""The diagnosis: from a job graph and samples over a window to task states and findings.

Pure: no I/O, no clock, no printing. `diagnose()` is the entry point.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowscope.analysis import (
    buffers,
    capacity,
    causes,
    columnar,
    cpu,
    network,
    sources,
    temporal,
)
from flowscope.analysis import gc as gc_rule
from flowscope.analysis.findings import (
    BUSY_HOT,
    Cause,
    Confidence,
    CpuSplit,
    Diagnosis,
    Evidence,
    Finding,
    Level,
    Verdict,
    Work,
)
from flowscope.analysis.gcpause import gc_paused
from flowscope.analysis.locate import locate, task_states
from flowscope.analysis.tiers import detail_note
from flowscope.analysis.window import (
    distinct_snapshots,
    taskmanager_rates,
    window_samples,
)
from flowscope.model import JobGraph, Sample

# Younger jobs report start-up artefacts and averages over too little time.
MIN_UPTIME_S = 20.0
MIN_WINDOW_S = 8.0
DEFAULT_WINDOW_S = 60.0
DEFAULT_HISTORY_S = 180.0
# Until the buffers before a bottleneck fill, its input is not backpressured: a younger job
# with a busy task is not called healthy with confidence.
YOUNG_JOB_S = 60.0


@gc_paused
def diagnose(
    graph: JobGraph,
    samples: Sequence[Sample],
    *,
    window_s: float = DEFAULT_WINDOW_S,
    target_rate: float | None = None,
    history_s: float = DEFAULT_HISTORY_S,
) -> Diagnosis:
    """Diagnose a job over the last `window_s` seconds of `samples` (oldest first); bottlenecks
    that come and go or move are judged over the last `history_s` seconds."""
    if not samples:
        raise ValueError("diagnose() needs at least one sample")
    latest = samples[-1]
    recent = distinct_snapshots(window_samples(list(samples), window_s))
    windows = columnar.subtask_windows(recent)
    states = task_states(graph, windows)
    lags = sources.watermark_lags(graph, windows, latest.t, latest.job_start)
    for t in states:
        t.watermark_lag_s = lags.get(t.vertex_id)
    tasks = {t.vertex_id: t for t in states}
    tms = taskmanager_rates(recent)
    notes: list[str] = []
    span = max((w.span_s for ws in windows.values() for w in ws if w.basis == "counters"),
               default=0.0)

    confidence = Confidence.HIGH
    bases = {w.basis for ws in windows.values() for w in ws}
    if latest.job_state != "RUNNING":
        notes.append(f"the job is {latest.job_state}, not RUNNING: nothing to diagnose")
        return Diagnosis(latest.job_id, graph.name, latest.job_state, latest.t, span,
                         latest.uptime_s, Verdict.UNKNOWN, Confidence.LOW, states, [], notes)
    if "startup" in bases or "none" in bases:
        confidence = Confidence.LOW
        notes.append(
            "some subtasks still report Flink's start-up values (busy 1000 / idle 0 / "
            "backpressured 0): their time metrics are not meaningful yet"
        )
    if latest.uptime_s is not None and latest.uptime_s < MIN_UPTIME_S:
        confidence = Confidence.LOW
        notes.append(f"the job has run only {latest.uptime_s:.0f} s: too young to judge")
    elif span < MIN_WINDOW_S:
        confidence = Confidence.LOW if span == 0 else Confidence.MEDIUM
        notes.append(
            f"counters cover only {span:.0f} s (the JobManager refreshes metrics about every "
            "10 s); ratios come from Flink's 60 s gauges" if span == 0 else
            f"counters cover only {span:.0f} s so far"
        )
    if "gauges" in bases and "counters" in bases:
        notes.append("some subtasks lack counter deltas; their ratios are Flink's 60 s averages")
    incomplete = [f"{graph.vertex(vid).name}[{s.index}]" for vid, subs in latest.subtasks.items()
                  for s in subs if s.values.get("io_complete") == 0.0]
    if incomplete:
        notes.append(f"Flink marks the I/O counters of {', '.join(incomplete[:4])}"
                     + (f" and {len(incomplete) - 4} more" if len(incomplete) > 4 else "")
                     + " as incomplete (not all reported yet)")
        confidence = confidence.at_most(Confidence.MEDIUM)
    notes.extend(n for n in [detail_note(graph, latest)] if n)
    restarts = {s.attempt for subs in latest.subtasks.values() for s in subs}
    if max(restarts, default=0) > 0:
        notes.append(f"the job has restarted (attempt {max(restarts)}): only the current "
                     "attempt's samples are used")

    findings: list[Finding] = []
    roots = locate(graph, tasks)
    # The history judges bottlenecks that come and go, and holds the stack samples, which are
    # taken once per bottleneck.
    history = window_samples(list(samples), history_s)
    view = temporal.analyse(graph, history)
    moving = temporal.moving_finding(graph, view)
    alternating: set[str] = set()
    if moving is not None:
        # The vertices that take turns are explained by one finding, not one each.
        alternating = temporal.alternating(view)
        roots = [r for r in roots if r not in alternating]
        findings.append(moving)

    def explain(vid: str, at_head: bool = False) -> Finding:
        split = cpu.from_flamegraphs(history, vid, graph.vertex(vid).name)
        if not isinstance(split, CpuSplit):
            split = cpu.from_thread_dumps(history, graph, vid) or split
        return causes.classify(graph, tasks, tasks[vid], windows[vid], tms, span, split,
                               at_head=at_head)

    findings.extend(explain(r) for r in roots)
    # Nothing backpressured but the first task at its limit: the limit is the head of the job.
    heads = [] if roots or moving is not None else sources.head_limits(graph, tasks)
    findings.extend(explain(h, at_head=True) for h in heads)
    temporal.annotate(findings, view, graph)
    if moving is None:
        timers = {vid for vid, ws in windows.items() if any(w.fired_timers_per_s for w in ws)}
        busy = {f.vertex_id: tasks[f.vertex_id].busy or 0.0 for f in findings
                if f.is_bottleneck and f.vertex_id and not f.at_head
                and f.cause != Cause.GC_PRESSURE}
        doubts = temporal.unsettled(view, timers, busy)
        if doubts:
            notes.append("not settled yet: " + "; ".join(doubts)
                         + ". Watching longer tells a moving bottleneck from a steady one")
            confidence = confidence.at_most(Confidence.MEDIUM)
    leaders = [v for v, share in view.root_share.items() if share > 0]
    if moving is None and len(leaders) >= 2:
        names = " and ".join(sorted(graph.vertex(v).name for v in leaders))
        notes.append(f"the bottleneck changed between {names} within the last "
                     f"{view.span_s:.0f} s: watching longer tells a moving bottleneck from a "
                     "one-off change")
        confidence = confidence.at_most(Confidence.MEDIUM)
    for r in roots:
        missing = [w.index for w in windows[r] if w.busy is not None and w.records_in_per_s is None]
        if missing:
            notes.append(f"record rates of {graph.vertex(r).name} subtask(s) "
                         f"{', '.join(map(str, missing))} are not known yet: the cause may change")
            confidence = confidence.at_most(Confidence.MEDIUM)
    # A sender held back by a task that limited the job in some interval of the history (the
    # tasks that take turns, a burst) is explained by that task, not by the network: over the
    # window its receiver's busy time only averages below the bar.
    led = {r for _, _, rs in view.sequence for r in rs}
    limits = roots + sorted(led - set(roots))
    findings.extend(network.network_findings(graph, tasks, windows, limits, span))
    young = latest.uptime_s is not None and latest.uptime_s < MIN_UPTIME_S
    findings.extend(causes.non_root_findings(graph, tasks, windows, roots, span, young))
    inputs = sources.read_inputs(graph, tasks, windows)
    input_found, input_notes = sources.input_findings(inputs, span)
    findings.extend(input_found)
    if roots or heads:  # whether the job keeps up only matters where something limits it
        notes.extend(input_notes)
    findings.extend(sources.idle_source_findings(graph, windows, lags, span))
    if not any(f.is_bottleneck for f in findings):
        gc = gc_rule.gc_finding(graph, tasks, windows, tms, span)
        if gc is not None:
            findings.append(gc)
    capacity.recommend(graph, tasks, windows, findings, target_rate, span)
    for f in findings:
        if f.at_head and f.vertex_id is not None:
            src = inputs.get(f.vertex_id)
            sources.head_capacity(f, tasks[f.vertex_id], windows[f.vertex_id], target_rate,
                                  src.arriving_per_s if src and src.behind else None, span)

    backpressured = any(t.level in (Level.LOW, Level.HIGH) for t in states)
    if confidence == Confidence.LOW and not roots:
        verdict = Verdict.UNKNOWN
    elif heads and not roots:
        verdict = Verdict.LIMITED
    elif roots or any(f.is_bottleneck for f in findings):
        verdict = Verdict.BACKPRESSURED
    elif backpressured:
        verdict = Verdict.BACKPRESSURED
        findings.append(
            Finding(
                Cause.TRANSIENT, None, None,
                "backpressure is present but no busy task explains it: it may be transient "
                "or moving; watch longer",
                is_bottleneck=False,
                evidence=[
                    Evidence(t.name, "backpressured_ratio", round(t.backpressured or 0, 3),
                             "ratio", span, "backpressured without a busy task downstream")
                    for t in states if t.level in (Level.LOW, Level.HIGH)
                ],
            )
        )
        confidence = confidence.at_most(Confidence.MEDIUM)
    else:
        verdict = Verdict.HEALTHY
        busiest = max(states, key=lambda t: t.busy or 0.0, default=None)
        if latest.uptime_s is not None and latest.uptime_s < YOUNG_JOB_S:
            if busiest and (busiest.busy or 0.0) >= BUSY_HOT:
                notes.append(
                    f"the job is {latest.uptime_s:.0f} s old and {busiest.name} is busy "
                    f"{100 * (busiest.busy or 0):.0f}%: backpressure shows only once the "
                    "buffers before it have filled, so this healthy verdict is provisional")
            else:
                notes.append(
                    f"the job is {latest.uptime_s:.0f} s old: windows and timers may not have "
                    "fired yet, so this healthy verdict is provisional until it has run a "
                    "minute")
            confidence = confidence.at_most(Confidence.MEDIUM)
    for f in findings:
        if f.is_bottleneck and f.cause in (Cause.COMPUTE_BOUND, Cause.OFF_CPU) and not (
            isinstance(f.cpu, CpuSplit) and cpu.work_of(f.cpu) != Work.WAITING
        ):
            notes.append(
                f"on-CPU or off-CPU for {f.vertex_name} rests on JVM CPU time only (no flame "
                "graph or thread dump yet), which a shared host blurs"
            )
            confidence = confidence.at_most(Confidence.MEDIUM)
    throughput = buffers.throughput_facts(graph, tasks, windows)
    findings.extend(buffers.low_fill_findings(throughput, span))
    return Diagnosis(
        job_id=latest.job_id, job_name=graph.name, job_state=latest.job_state, t=latest.t,
        window_s=span, uptime_s=latest.uptime_s, verdict=verdict, confidence=confidence,
        tasks=states, findings=findings, notes=notes,
        buffers=buffers.buffer_readings(graph, windows),
        throughput=throughput,
    )
