"""The words of `flowscope profile`: each typed statement of the analysis has its sentence,
composed once (render.words.profile) for the terminal and the JSON alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

import pytest
from rich.console import Console

from flowscope.analysis.checkpoints import (
    BarrierTimes,
    CheckpointNote,
    CheckpointStatement,
    NotAcknowledged,
)
from flowscope.analysis.findings import Work
from flowscope.analysis.flame import FlameNote, FlameNotReady, FlameStatement
from flowscope.analysis.latency import (
    Caveat,
    EnableHow,
    LatencyNote,
    LatencyStatement,
    MarkersPending,
)
from flowscope.analysis.profile import Conclusion, HotMethod, JvmCpu, MailboxWaits, ProfileNote
from flowscope.analysis.taskmanagers import (
    GcHeavy,
    HeapFull,
    TaskManagerNote,
    TaskManagerStatement,
)
from flowscope.analysis.threads import (
    NoDumpFrom,
    SameNameElsewhere,
    SampledVersusAveraged,
    StoppedAtDeadline,
    ThreadNote,
    ThreadStatement,
)
from flowscope.render.profile import render, to_dict
from flowscope.render.words import profile as words
from tests.profiling_fixtures import replay_profile


@pytest.mark.parametrize(("kinds", "statements"), [
    (ProfileNote, Conclusion), (TaskManagerNote, TaskManagerStatement),
    (CheckpointNote, CheckpointStatement), (LatencyNote, LatencyStatement),
    (ThreadNote, ThreadStatement), (FlameNote, FlameStatement),
])
def test_each_kind_is_one_statement_class(kinds, statements):
    classes = get_args(statements) or (statements,)
    assert sorted(c.kind for c in classes) == sorted(kinds)


def test_every_latency_hint_has_its_words():
    assert set(words.HOW_TO_ENABLE) == set(EnableHow)
    assert set(words.CAVEATS) == set(Caveat)
    assert "metrics.latency.interval" in words.HOW_TO_ENABLE[EnableHow.CLUSTER]


def test_a_recorded_chain_reads_as_before():
    _, report = replay_profile("chained")
    said = [words.conclusion(c) for c in report.conclusions]
    assert said[:2] == [
        "parse -> enrich: 54% of its on-cpu samples are in com.acme.Enricher.lookup "
        "(operator enrich), on CPU",
        "inside the chain parse -> enrich the time belongs to enrich (100% of samples, in "
        "com.acme.Enricher.lookup; matched by class name)",
    ]
    assert said[-1] == ("checkpoint 2 took 11.1 s; its barrier reached out: Writer after 9.5 s, "
                        "which then aligned for 1.5 s")


@pytest.mark.parametrize("name", ["compute-bound", "chained", "off-cpu"])
def test_the_json_says_what_the_terminal_says(name):
    _, report = replay_profile(name)
    body = to_dict(report)
    console = Console(record=True, width=10_000)
    console.print(render(report))
    lines = console.export_text().splitlines()
    assert body["conclusions"] and [ln[2:] for ln in lines if ln.startswith("● ")] == body[
        "conclusions"]
    notes = [f"  note: {n}" for n in body["threads"]["notes"]]
    tms = [f"  {t['id']}: {s}" for t in body["taskmanagers"] for s in t["statements"]]
    latency = [f"  {n}" for n in body["latency"]["notes"]]
    checkpoints = [f"  {s}" for c in body["checkpoints"] for s in c["statements"]]
    for said in (notes, tms, latency, checkpoints):
        assert said and set(said) <= set(lines), said


CASES: list[tuple[Callable[[Any], str], Any, str]] = [
    (words.conclusion, MailboxWaits("parse", 183, 200),
     "parse ran next to no code of its own while sampled (183 of 200 samples wait in the task "
     "mailbox: idle or backpressured)"),
    (words.conclusion, HotMethod("enrich", "on_cpu", 0.76, "com.acme.Enricher.lookup", None,
                                 Work.ON_CPU, 0.5),
     "enrich: 76% of its on-cpu samples are in com.acme.Enricher.lookup, mostly on CPU (50% of "
     "the work samples on CPU)"),
    (words.conclusion, JvmCpu("tm-1", 1.05, 1.1, False, Work.OFF_CPU),
     "TaskManager tm-1: JVM CPU 1.05 cores for 1.1 cores' worth of busy subtasks (disagrees "
     "with the flame graph: off-cpu)"),
    (words.latency, MarkersPending(1000.0),
     "latency tracking is on (every 1000 ms) but no operator has reported a marker yet: "
     "markers take a few intervals to arrive"),
    (words.threads, SameNameElsewhere(tuple(f"parse[{i}]" for i in range(6))),
     "left out (another job runs a task of the same name on the same TaskManager): parse[0], "
     "parse[1], parse[2], parse[3], parse[4]"),
    (words.threads, StoppedAtDeadline(11, 1.0), "stopped after 11 rounds at the 1 s limit"),
    (words.threads, NoDumpFrom(("tm-2", "tm-3")), "no thread dump from: tm-2, tm-3"),
    (words.flame, FlameNotReady("waiting"), "flame graph waiting"),
    (words.checkpoint, NotAcknowledged(7, 12_345.0, "enrich", "parse", 2_000.0),
     "checkpoint 7 has run for 12.3 s and no subtask of enrich has acknowledged it yet; the "
     "barrier reached parse after 2.0 s"),
    (words.checkpoint, BarrierTimes(3, False, None, "enrich", 1_500.0, None),
     "checkpoint 3 has run for ?; its barrier reached enrich after 1.5 s"),
    (words.taskmanager, GcHeavy(150.0), "spends 15% of its time in garbage collection"),
    (words.taskmanager, HeapFull(0.93), "heap 93% full"),
]


@pytest.mark.parametrize(("word", "statement", "sentence"), CASES,
                         ids=[type(s).__name__ for _, s, _ in CASES])
def test_statements_the_recorded_runs_lack_are_worded(word, statement, sentence):
    assert word(statement) == sentence


def test_sampling_against_metrics_names_the_window_when_known():
    assert "average the last 24 s;" in words.threads(SampledVersusAveraged(24.0))
    assert "average the last window;" in words.threads(SampledVersusAveraged(None))
