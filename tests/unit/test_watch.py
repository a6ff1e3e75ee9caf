"""The watch view's state builder and renderers, over recordings of real lab jobs."""

from __future__ import annotations

import dataclasses
import functools
from io import StringIO

import pytest
from click.testing import CliRunner
from rich.console import Console

from flowscope.analysis.findings import Verdict
from flowscope.analysis.tracking import Watcher, build_state
from flowscope.api import load_recording
from flowscope.cli import main
from flowscope.model import JobGraph, Sample
from flowscope.render.watch import render, render_lines, sparkline, where_it_has_been
from tests.conftest import fixture_path


@functools.cache
def _load(name: str) -> tuple[JobGraph, list[Sample]]:
    return load_recording(fixture_path(name))


def _shifted(samples: list[Sample], dt: float) -> list[Sample]:
    """The same polls `dt` seconds later (to play one recording after another)."""
    return [dataclasses.replace(s, t=s.t + dt,
                                job_start=None if s.job_start is None else s.job_start + dt)
            for s in samples]


def test_skew_state_names_enrich_data_skew():
    graph, samples = _load("skew")
    st = build_state(graph, samples)
    assert st.verdict == Verdict.BACKPRESSURED
    assert [(f.vertex_name, f.cause) for f in st.findings] == [("enrich", "data-skew")]
    causes = {t.name: t.cause for t in st.tasks}
    assert causes["enrich"] == "data-skew"
    assert [n for n, c in causes.items() if c] == ["enrich"]
    assert st.moves[-1].label == "enrich (data-skew)"
    assert st.polls == len(samples)
    # The watch view and a one-shot diagnosis agree on the task table.
    parse = next(t for t in st.tasks if t.name == "parse")
    assert parse.level.value == "HIGH" and parse.backpressured is not None


def test_sparkline_history_grows_with_snapshots_and_is_capped():
    graph, samples = _load("skew")
    w = Watcher()
    lengths, snapshots = [], []
    for s in samples:
        w.add(graph, s)
        st = w.state()
        lengths.append(len(st.tasks[0].busy_history))
        snapshots.append(st.snapshots)
    assert lengths == sorted(lengths) and lengths[-1] >= 5
    # One interval per pair of consecutive distinct snapshots.
    assert lengths[-1] == snapshots[-1] - 1
    enrich = next(t for t in w.state().tasks if t.name == "enrich")
    assert len(enrich.backpressured_history) == len(enrich.busy_history)
    assert max(v for v in enrich.busy_history[-3:] if v is not None) > 0.9
    capped = build_state(graph, samples, history=3)
    assert all(len(t.busy_history) == 3 for t in capped.tasks)


def test_bottleneck_change_is_recorded_through_time():
    graph, samples = _load("skew")
    st = build_state(graph, samples)
    times = [m.t for m in st.moves]
    assert times == sorted(times) and len(set(times)) == len(times)
    arrived = next(m for m in st.moves if m.label == "enrich (data-skew)")
    # Before that poll, the view had not (yet) named enrich.
    before = build_state(graph, [s for s in samples if s.t < arrived.t])
    assert ("enrich", "data-skew") not in [(f.vertex_name, f.cause) for f in before.findings]
    assert arrived.t > samples[0].t


def test_bottleneck_moves_between_two_recordings():
    g1, skew = _load("skew")
    g2, sink = _load("slow-sink")
    sink = _shifted(sink, skew[-1].t + 1.0 - sink[0].t)
    w = Watcher()
    for s in skew:
        w.add(g1, s)
    for s in sink:
        w.add(g2, s)
    st = w.state()
    labels = [m.label for m in st.moves]
    assert "enrich (data-skew)" in labels and labels[-1] == "out: Writer (off-cpu)"
    assert labels.index("enrich (data-skew)") < len(labels) - 1
    text = where_it_has_been(st)
    assert text.index("enrich (data-skew)") < text.index("out: Writer (off-cpu)")
    # The second job's counters start afresh: its view is that of the job alone.
    alone = build_state(g2, sink)
    assert st.findings == alone.findings and st.window_s == alone.window_s
    assert st.polls == len(skew) + len(sink)


def test_healthy_job_has_no_bottleneck():
    graph, samples = _load("healthy")
    st = build_state(graph, samples)
    assert st.findings == [] and st.verdict == Verdict.HEALTHY
    assert all(t.cause is None for t in st.tasks)
    assert st.moves and st.moves[-1].label == "no bottleneck"


def test_render_shows_tasks_bottleneck_history_and_footer():
    graph, samples = _load("skew")
    st = build_state(graph, samples)
    out = StringIO()
    Console(file=out, width=140, color_system=None).print(render(st, 140, "replay"))
    text = out.getvalue()
    for t in st.tasks:
        assert t.name in text
    assert "bottleneck enrich (data-skew)" in text
    assert "where it has been:" in text and "enrich (data-skew)" in text
    assert f"poll {st.polls}" in text and "q quit" in text and "replay" in text
    enrich_spark = sparkline(next(t for t in st.tasks if t.name == "enrich").busy_history, 60)
    assert enrich_spark in text


def test_render_colours_busy_red_and_idle_blue():
    graph, samples = _load("skew")
    console = Console(record=True, width=140, force_terminal=True, color_system="truecolor")
    console.print(render(build_state(graph, samples), 140))
    html = console.export_html(inline_styles=True)
    assert "color: #800000" in html  # red (busy)
    assert "color: #000080" in html  # blue (idle)


def test_render_lines_are_plain_text():
    graph, samples = _load("slow-sink")
    lines = render_lines(build_state(graph, samples))
    assert "bottleneck: out: Writer (off-cpu)" in lines[0]
    assert len(lines) == 1 + len(graph.vertices)
    assert any(line.strip().startswith("out: Writer") and "<- off-cpu" in line
               for line in lines)
    assert not any("\x1b" in line for line in lines)


def test_sparkline():
    assert sparkline([0.0, 0.5, 1.0, None], 10) == "▁▅█ "
    assert sparkline([0.0, 1.0, 1.0], 2) == "██"
    assert sparkline([], 5) == ""


def test_build_state_needs_samples():
    graph, _ = _load("skew")
    with pytest.raises(ValueError):
        build_state(graph, [])


def test_watch_command_prints_plain_lines_when_not_a_terminal():
    result = CliRunner().invoke(main, ["watch", "--from", str(fixture_path("skew")),
                                       "--speed", "0"])
    assert result.exit_code == 0, result.output
    assert "bottleneck: enrich (data-skew)" in result.output
    assert "where it has been:" in result.output.splitlines()[-1]
    assert "\x1b[?1049h" not in result.output  # no alternate screen in a pipe


def test_watch_command_reports_a_bad_recording_in_one_line(tmp_path):
    bad = tmp_path / "nope.fsrec"
    bad.write_text("not a recording")
    result = CliRunner().invoke(main, ["watch", "--from", str(bad)])
    assert result.exit_code == 4
    assert "Traceback" not in result.output
