"""Notes: the caveats about the data and the verdict, from their kind and facts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from flowscope.analysis.findings import Fact, Note, NoteKind
from flowscope.analysis.numbers import pct


def note(n: Note) -> str:
    """One note's line."""
    text = _NOTES[n.kind]
    return text if isinstance(text, str) else text(n)


def notes(ns: Iterable[Note]) -> list[str]:
    return [note(n) for n in ns]


def _first(n: Note) -> str:
    subjects = n.facts.get(Fact.SUBJECTS) or ("?",)
    return str(subjects[0])


def _some(names: tuple[str, ...], shown: int) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more"
                                       if len(names) > shown else "")


def _io_incomplete(n: Note) -> str:
    return (f"Flink marks the I/O counters of {_some(n.facts[Fact.SUBJECTS], 4)} as incomplete "
            "(not all reported yet)")


def _detail_read(n: Note) -> str:
    names = n.facts.get(Fact.NAMES) or ()
    tms = ""
    if Fact.TASKMANAGERS_READ in n.facts:
        tms = (f"; TaskManagers read one by one: {n.facts[Fact.TASKMANAGERS_READ]} of "
               f"{n.facts[Fact.TASKMANAGERS_OF]} (those of the busiest subtasks read in detail), "
               "the others' metrics aggregated")
    return (f"read subtask by subtask: {_some(names, 6) or 'no vertex'}; the gauges of the "
            f"other {n.facts.get(Fact.MORE)} vertices were read aggregated over their subtasks "
            f"(counters are read for every subtask){tms}")


def _not_settled(n: Note) -> str:
    doubts = [f"its busy time swings from {lo:.0%} to {hi:.0%} between metric snapshots while "
              "it fires timers (a window)" for lo, hi in n.facts.get(Fact.SWINGS) or ()]
    doubts += [f"the bottleneck is busy only {r:.0%} while its input is held back: a steady "
               "bottleneck is busy all the time, so the load alternates or comes in bursts"
               for r in n.facts.get(Fact.AVERAGED) or ()]
    return ("not settled yet: " + "; ".join(doubts)
            + ". Watching longer tells a moving bottleneck from a steady one")


def _work_unknown(n: Note) -> str:
    cores = n.facts.get(Fact.CORES_USED)
    jvm = (f"the TaskManagers' JVM CPU time ({cores:.2f} cores for "
           f"{n.facts.get(Fact.BUSY_CORES) or 0:.1f} busy subtasks) is not low enough to "
           "prove waiting, and never proves computing" if cores is not None else
           "the TaskManagers' JVM CPU time was not read")
    return (f"on-CPU or off-CPU for {_first(n)} is not known: no stack samples, and {jvm}; "
            f"`flowscope diagnose --job {n.facts.get(Fact.JOB_ID)}` with flame graphs on "
            "reads them")


def _gauge_ratios(n: Note) -> str:
    return ("no accumulated-time counters for " + _some(n.facts[Fact.SUBJECTS], 4)
            + ": its ratios are Flink's *TimeMsPerSecond gauges averaged over the window")


def _network_unknown(n: Note) -> str:
    return (f"{', '.join(n.facts[Fact.SUBJECTS])} look held back by idle receivers, as behind a "
            "slow network, but their output buffer gauges were not read: whether the network "
            "limits them is not known")


def _missed_polls(n: Note) -> str:
    return (f"missed_polls: {n.facts[Fact.MORE]} of {n.facts[Fact.INTERVALS]} polls failed and "
            f"were left out; the last error: {n.facts.get(Fact.REASON)}")


_NOTES: Mapping[NoteKind, str | Callable[[Note], str]] = {
    NoteKind.NOT_RUNNING: lambda n: (f"the job is {n.facts[Fact.STATE]}, not RUNNING: nothing "
                                     "to diagnose"),
    NoteKind.STARTUP_VALUES: ("some subtasks still report Flink's start-up values (busy 1000 / "
                              "idle 0 / backpressured 0): their time metrics are not "
                              "meaningful yet"),
    NoteKind.TOO_YOUNG: lambda n: (f"the job has run only {n.facts[Fact.UPTIME_S]:.0f} s: too "
                                   "young to judge"),
    NoteKind.GAUGES_ONLY: lambda n: (
        f"counters cover only {n.facts[Fact.SPAN_S]:.0f} s (the JobManager refreshes metrics "
        "about every 10 s); ratios come from Flink's 60 s gauges"),
    NoteKind.SHORT_COUNTERS: lambda n: (f"counters cover only {n.facts[Fact.SPAN_S]:.0f} s so "
                                        "far"),
    NoteKind.MIXED_BASIS: ("some subtasks lack counter deltas; their ratios are Flink's 60 s "
                           "averages"),
    NoteKind.IO_INCOMPLETE: _io_incomplete,
    NoteKind.DETAIL_READ: _detail_read,
    NoteKind.RESTARTED: lambda n: (f"the job has restarted (attempt {n.facts[Fact.ATTEMPT]}): "
                                   "only the current attempt's samples are used"),
    NoteKind.NOT_SETTLED: _not_settled,
    NoteKind.BOTTLENECK_CHANGED: lambda n: (
        f"the bottleneck changed between {' and '.join(n.facts[Fact.NAMES])} within the last "
        f"{n.facts[Fact.SPAN_S]:.0f} s: watching longer tells a moving bottleneck from a "
        "one-off change"),
    NoteKind.RATES_UNKNOWN: lambda n: (
        f"record rates of {_first(n)} subtask(s) "
        f"{', '.join(map(str, n.facts[Fact.INDICES]))} are not known yet: the cause may change"),
    NoteKind.NO_INPUT_METRICS: lambda n: (
        f"{_first(n)} reports neither pendingRecords nor an emit lag: whether the job keeps up "
        "with its input cannot be read from Flink; pass --target-rate R to check the head of "
        "the job against R records/s"),
    NoteKind.INPUT_IDLE: lambda n: (
        f"{_first(n)} has received nothing for {n.facts[Fact.IDLE_S]:.0f} s (sourceIdleTime): "
        "the input is simply slow, not the job"),
    NoteKind.PROVISIONAL_BUSY: lambda n: (
        f"the job is {n.facts[Fact.UPTIME_S]:.0f} s old and {_first(n)} is busy "
        f"{pct(n.facts.get(Fact.BUSY))}: backpressure shows only once the buffers before it "
        "have filled, so this healthy verdict is provisional"),
    NoteKind.PROVISIONAL: lambda n: (
        f"the job is {n.facts[Fact.UPTIME_S]:.0f} s old: windows and timers may not have fired "
        "yet, so this healthy verdict is provisional until it has run a minute"),
    NoteKind.JVM_CPU_ONLY: lambda n: (
        f"on-CPU or off-CPU for {_first(n)} rests on JVM CPU time only (no flame graph or "
        "thread dump yet), which a shared host blurs"),
    NoteKind.WORK_UNKNOWN: _work_unknown,
    NoteKind.GAUGE_RATIOS: _gauge_ratios,
    NoteKind.ALONG_EDGES: "located along the job graph's edges, from Prometheus's time metrics",
    NoteKind.WITHOUT_EDGES: ("located from busy and backpressured time without the job graph "
                             "(Prometheus holds no edges): the bottleneck is the busiest task "
                             "that is not itself held back, as on a dashboard"),
    NoteKind.NETWORK_UNKNOWN: _network_unknown,
    NoteKind.MISSED_POLLS: _missed_polls,
    NoteKind.UNSETTLED_SAMPLING: lambda n: (
        f"sampled {n.facts[Fact.SPAN_S]:.0f} s without a verdict that held over consecutive "
        "metric snapshots: this is the last window's reading; a longer --duration (or "
        "`flowscope watch`) may settle it"),
    NoteKind.FROM_JOBMANAGER: lambda n: (
        f"the job graph's edges from the JobManager at {_first(n)}, and the flame graphs of "
        f"{n.facts.get(Fact.MORE, 0)} busy bottleneck(s) read now (the job still runs; "
        "Prometheus holds neither)"),
    NoteKind.BETWEEN_RESTARTS: lambda n: (
        f"the job restarted {n.facts.get(Fact.RESTARTS)} time(s) in the history: the "
        "bottleneck seen between restarts (young attempts, catching up) is not its steady "
        "state"),
    NoteKind.SAID: lambda n: n.text,
}
