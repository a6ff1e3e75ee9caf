"""Whole profile runs replayed from real captures: conclusions, JSON, terminal, CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from rich.console import Console

from flowscope.analysis.engine import diagnose
from flowscope.analysis.profile import ChainShare, ChosenBy, HotMethod, ProfileNote, PythonUdf
from flowscope.cli import main
from flowscope.errors import FlowscopeError
from flowscope.profiler import ProfileOptions, profile_job
from flowscope.render.profile import SCHEMA, render, render_json, to_dict
from tests.conftest import fixture_path
from tests.profiling_fixtures import load, replay_polls, replay_profile


def test_chained_profile_names_the_operator_and_method():
    cap, report = replay_profile("chained")
    assert report.target is not None and report.target.vertex_name == cap.meta["target"]
    assert report.target.chosen_by == ChosenBy.BOTTLENECK
    hot = next(c for c in report.conclusions if isinstance(c, HotMethod))
    assert hot.method == "com.acme.Enricher.lookup" and hot.operator == "enrich"
    chain = next(c for c in report.conclusions if isinstance(c, ChainShare))
    assert (chain.chain, chain.operator) == (cap.meta["target"], "enrich")
    assert chain.method == "com.acme.Enricher.lookup" and chain.share > 0.5
    assert report.skipped == {}


def test_python_udf_time_is_named():
    _, report = replay_profile("python-process")
    assert report.target.vertex_name == "score, drop"
    said = [c for c in report.conclusions if isinstance(c, PythonUdf)]
    assert [(c.vertex, c.mode) for c in said] == [("score, drop", "process")]
    assert 0 < said[0].samples <= said[0].of_samples
    # The Python worker's CPU is not the JVM's: no on/off-CPU verdict from JVM CPU time.
    kinds = {c.kind for c in report.conclusions}
    assert not kinds & {ProfileNote.JVM_CPU, ProfileNote.CORES_OVERSUBSCRIBED}


def test_every_request_is_counted():
    cap = load("compute-bound")
    r = replay_polls(cap)
    transport = r.transport
    before = transport.requests
    now = [cap.profile[0][3]]
    report = profile_job(r.source, r.graph, r.samples, diagnose(r.graph, r.samples),
                         options=ProfileOptions(thread_samples=cap.meta["thread_dump_rounds"]),
                         clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    st = report.stats
    assert st.requests == transport.requests - before
    served = transport.served
    assert st.flame_requests == sum(n for p, n in served.items() if "/flamegraph" in p)
    assert st.thread_dumps == sum(n for p, n in served.items() if p.endswith("/thread-dump"))
    assert st.thread_dump_rounds == cap.meta["thread_dump_rounds"]
    assert st.thread_dumps == 2 * st.thread_dump_rounds  # two TaskManagers
    assert st.thread_samples == 8 * st.thread_dump_rounds  # eight task threads
    assert report.latency is not None and report.latency.slowest is not None
    assert report.checkpoints and report.checkpoints[0].vertices


@pytest.mark.parametrize("name", ["compute-bound", "chained", "off-cpu", "healthy",
                                  "python-process"])
def test_json_and_terminal_output(name):
    _, report = replay_profile(name)
    body = json.loads(render_json(report))
    assert body["schema"] == SCHEMA == "flowscope.profile/1"
    assert body["target"]["vertex_name"] == report.target.vertex_name
    assert body["flame"]["work"]["kind"] == report.flame.work.kind
    assert [t["agrees"] for t in body["threads"]["tasks"]] == [
        t.agrees for t in report.threads.tasks]
    assert to_dict(report)["stats"]["requests"] == report.stats.requests
    console = Console(record=True, width=120)
    console.print(render(report, verbose=True))
    out = console.export_text()
    assert report.target.vertex_name in out and "thread-dump sampling" in out


def test_parts_can_be_skipped():
    r = replay_polls(load("healthy"))
    report = profile_job(r.source, r.graph, r.samples, diagnose(r.graph, r.samples),
                         options=ProfileOptions(parts=("latency",)))
    assert report.flame is None and report.threads is None and report.checkpoints == []
    assert report.latency is not None and report.latency.hops
    asked = set(r.transport.served)
    assert "/jobmanager/config" in asked
    # (A poll reads the details of new checkpoints itself, a few requests at a time; the
    # profile's checkpoints part is what was skipped.)
    assert not any("/flamegraph" in p or "/thread-dump" in p for p in asked)
    assert report.stats.requests == r.transport.requests


def test_unknown_vertex_is_a_one_line_error():
    r = replay_polls(load("healthy"))
    with pytest.raises(FlowscopeError, match="matches no vertices"):
        profile_job(r.source, r.graph, r.samples, diagnose(r.graph, r.samples), vertex="nope")


def test_cli_profiles_a_recording_without_the_live_parts():
    result = CliRunner().invoke(main, ["profile", "--from", str(fixture_path("slow-subtask")),
                                       "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["schema"] == "flowscope.profile/1"
    assert set(body["skipped"]) == {"flame", "threads", "checkpoints"}
    assert body["target"]["vertex_name"] == "enrich"
    assert body["taskmanagers"] and body["latency"]["enabled"] is False
    result = CliRunner().invoke(main, ["profile", "--from", str(fixture_path("slow-subtask"))])
    assert result.exit_code == 0 and "skipped flame" in result.output


def test_cli_bounds_the_thread_dump_samples():
    result = CliRunner().invoke(main, ["profile", "--samples", "101", "--url", "http://x:1"])
    assert result.exit_code == 2 and "1<=x<=100" in result.output
