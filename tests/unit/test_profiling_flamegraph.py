"""Flame graph summaries on flame graphs captured from a real cluster."""

from __future__ import annotations

import pytest

from flowscope.analysis.cpu import split_work
from flowscope.analysis.flame import is_user, method_of, operator_for_class, summarise
from flowscope.flink.stacks import parse_flamegraph
from flowscope.model import FlameGraph
from tests.profiling_fixtures import load


def views(name: str) -> tuple[str, FlameGraph, FlameGraph]:
    """The profiled vertex's name and its last on_cpu and off_cpu views."""
    cap = load(name)
    on = cap.bodies("flamegraph?type=on_cpu")[-1]
    off = cap.bodies("flamegraph?type=off_cpu")[-1]
    return cap.meta["target"], parse_flamegraph(on, "on_cpu"), parse_flamegraph(off, "off_cpu")


def test_chained_vertex_time_belongs_to_enrich_in_enricher_lookup():
    name, on, _ = views("chained")
    assert name == "parse -> enrich"
    s = summarise(on, name)
    top = s.operators[0]
    assert top.operator == "enrich"
    assert top.share > 0.8
    assert top.top_method == "com.acme.Enricher.lookup"
    parse = [o for o in s.operators if o.operator == "parse"]
    assert not parse or parse[0].share < 0.1
    lookup = next(h for h in s.hot_frames if h.method == "com.acme.Enricher.lookup")
    assert lookup.operator == "enrich"
    # Only job code is listed: no JVM or Flink frames.
    assert all(h.method.startswith("com.acme.") for h in s.hot_frames)


def test_compute_bound_is_on_cpu_and_off_cpu_is_blocking():
    name, on, off = views("compute-bound")
    cpu = split_work(summarise(on, name), summarise(off, name))
    assert cpu.kind == "on-cpu"
    assert cpu.on_cpu_user > 0 and cpu.off_cpu_user == 0

    name, on, off = views("off-cpu")
    s_off = summarise(off, name)
    blocked = split_work(summarise(on, name), s_off)
    assert blocked.kind == "off-cpu"
    assert (blocked.on_cpu_share or 0) < 0.3
    assert s_off.hot_frames[0].method.startswith("com.acme.Enricher.")
    assert any(h.method == "com.acme.Enricher.callExternalService" for h in s_off.hot_frames)


def test_an_idle_vertex_waits_in_its_mailbox():
    name, on, off = views("healthy")
    s_on, s_off = summarise(on, name), summarise(off, name)
    # A healthy, rate-limited job: most samples wait in the task mailbox for input.
    assert s_off.mailbox_samples > 0.5 * (s_on.samples + s_off.samples)
    assert s_off.mailbox_samples == sum(
        n for frames, n in off.stacks
        if any(method_of(f).endswith("TaskMailboxImpl.take") for f in frames))


def test_first_answer_means_sampling_has_started():
    cap = load("chained")
    first_body = next(b for p, _, b, _ in cap.responses if "flamegraph?type=on_cpu" in p)
    first = parse_flamegraph(first_body, "on_cpu")
    assert first.status == "waiting" and first.total == 0 and first.stacks == ()
    last = parse_flamegraph(cap.bodies("flamegraph?type=on_cpu")[-1], "on_cpu")
    assert last.status == "ready" and last.total == sum(n for _, n in last.stacks)


def test_flattened_stacks_keep_every_sample():
    _, on, off = views("compute-bound")
    for graph in (on, off):
        assert sum(n for _, n in graph.stacks) == graph.total
        for frames, _ in graph.stacks:
            assert frames[0].startswith("java.lang.Thread.run")


@pytest.mark.parametrize(("frame", "user"), [
    ("com.acme.Enricher.lookup:44", True),
    ("org.apache.flink.streaming.api.operators.StreamMap.processElement:37", False),
    ("java.lang.Thread.run:840", False),
    ("jdk.internal.misc.Unsafe.park:-2", False),
])
def test_user_frames_are_the_jobs_own(frame, user):
    assert is_user(method_of(frame)) is user


def test_operator_names_match_their_classes():
    ops = ["parse", "enrich"]
    assert operator_for_class("com.acme.Enricher", ops) == "enrich"
    assert operator_for_class("com.acme.Parser", ops) == "parse"
    assert operator_for_class("com.acme.Work", ops) is None
    assert operator_for_class("com.acme.Scenario$WindowSummary", ["window"]) == "window"


def test_python_udf_in_process_mode_is_recognised():
    name, on, off = views("python-process")
    s_on, s_off = summarise(on, name), summarise(off, name)
    py = s_off.python
    assert py is not None and py.mode == "process"
    assert py.share > 0.8  # the task thread waits for the Beam worker's results
    assert any("BeamPythonFunctionRunner" in f for f in py.frames)
    assert s_on.python is None or s_on.python.samples < py.samples
    # The Java side has no job code: the time is in Python, not in a Java method.
    assert s_off.hot_frames == []


def test_python_udf_in_thread_mode_is_recognised():
    name, on, off = views("python-thread")
    s_on, s_off = summarise(on, name), summarise(off, name)
    py = s_on.python
    assert py is not None and py.mode == "thread"
    assert py.share > 0.8  # CPython runs on the task thread itself, on CPU
    assert any(f.startswith("pemja.") for f in py.frames)
    assert split_work(s_on, s_off).kind == "on-cpu"
