"""The causes outside the per-record path, on their recordings from the lab: what each one
advises, and a restarting job judged as one (its verdict, its exit code, a live diagnosis
that stops on it)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import ActionKind, Cause, Fact, Verdict
from flowscope.api import load_recording
from flowscope.cli.common import EXIT_RESTARTING
from flowscope.render import words
from flowscope.sampling import StopRule, stacks_wanted
from tests.conftest import fixture_path


def judged(name: str):
    graph, samples = load_recording(fixture_path(name))
    return diagnose(graph, samples)


def test_async_io_at_capacity_is_told_to_raise_its_capacity_not_to_use_async_io():
    d = judged("async-capacity")
    (f,) = d.bottlenecks
    kinds = [a.kind for a in f.actions]
    assert f.cause == Cause.ASYNC_CAPACITY and ActionKind.ASYNC_CAPACITY in kinds
    assert ActionKind.CONCURRENT_WAITING not in kinds
    text = " ".join(words.action(a, f) for a in f.actions)
    assert "capacity" in text and "unorderedWait" in text
    # what one subtask carries, which the capacity over the latency caps
    per_subtask = f.facts[Fact.RATE_PER_SUBTASK]
    assert isinstance(per_subtask, float) and 300 < per_subtask < 700


def test_a_blocking_snapshot_is_named_with_its_share_of_the_interval():
    d = judged("checkpoint-stall")
    (f,) = d.bottlenecks
    assert (f.vertex_name, f.cause) == ("flush", Cause.CHECKPOINT_STALL)
    sync = next(e for e in f.evidence if e.metric == "checkpoint_sync_ms")
    assert sync.value >= 1000  # the lab's flush sleeps 3 s of each 5 s interval
    text = " ".join(words.action(a, f) for a in f.actions)
    assert "execution.checkpointing.interval" in text
    kinds = [a.kind for a in f.actions]
    assert ActionKind.CHEAPER_SNAPSHOT in kinds and ActionKind.UNALIGNED not in kinds


def test_state_access_takes_the_busy_time_of_the_keyed_operator():
    d = judged("state-access")
    (f,) = d.bottlenecks
    assert (f.vertex_name, f.cause) == ("count", Cause.STATE_ACCESS)
    assert ActionKind.STATE_TUNING in [a.kind for a in f.actions]
    assert Cause.SLOW_INSTANCE not in [g.cause for g in d.findings]


def test_a_job_that_keeps_restarting_is_judged_as_one():
    d = judged("restart-loop")
    assert d.verdict == Verdict.RESTARTING
    assert d.findings[0].cause == Cause.RESTART_LOOP
    assert not d.bottlenecks  # nothing between restarts is called its steady state
    run = subprocess.run([sys.executable, "-m", "flowscope.cli", "diagnose", "--from",
                          str(fixture_path("restart-loop")), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == EXIT_RESTARTING == 9, run.stderr
    doc = json.loads(run.stdout)
    assert doc["verdict"] == "restarting" and doc["findings"][0]["cause"] == "restart-loop"


def test_a_live_diagnosis_stops_on_a_restarting_job_without_waiting_for_a_window():
    """Each restart starts the window afresh: a rule that waits for a full window would sample
    a restarting job until its duration ran out."""
    graph, samples = load_recording(fixture_path("restart-loop"))
    rule = StopRule()
    for i in range(1, len(samples) + 1):
        d = diagnose(graph, samples[:i])
        if rule.done(d, bool(stacks_wanted(d))):
            break
    else:
        raise AssertionError("the diagnosis never stopped")
    assert d.verdict == Verdict.RESTARTING and i < len(samples) // 2


def test_a_slow_instance_asks_for_the_frames_that_may_show_its_state_backend():
    """The state-access job without its flame graphs reads as a slow instance (one subtask's
    state reads are 50x slower than its peer's): the frames, whose rule comes first, are asked
    for, and once read they name the state backend."""
    graph, samples = load_recording(fixture_path("state-access"))
    d = diagnose(graph, [replace(s, flamegraphs={}, thread_dumps={}) for s in samples])
    (f,) = d.bottlenecks
    assert (f.vertex_name, f.cause, f.cpu) == ("count", Cause.SLOW_INSTANCE, None)
    assert stacks_wanted(d).flamegraph_vertices == [f.vertex_id]
    d = diagnose(graph, samples)
    (f,) = d.bottlenecks
    assert (f.vertex_name, f.cause) == ("count", Cause.STATE_ACCESS)
    assert stacks_wanted(d).flamegraph_vertices == []
