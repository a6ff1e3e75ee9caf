"""Journaled changes where people look: the dashboard's timeline marks them (from a recording's
own journal or `serve --journal`), the report lists them and compares the windows around the
newest rescale; the terminal says predicted against measured."""

from __future__ import annotations

import shutil
from pathlib import Path

from starlette.testclient import TestClient

from flowscope import diffing, journal
from flowscope.analysis.plan import plan
from flowscope.analysis.verify import verify
from flowscope.api import build_report, load_recording
from flowscope.render.safe import console
from flowscope.render.tune import manual_change, render_plan, render_verification
from flowscope.tuning import observation_from_recording
from flowscope.web.app import create_app
from flowscope.web.hub import Hub
from tests.conftest import fixture_path

TUNE = Path(__file__).resolve().parents[1] / "fixtures" / "tune"


def test_the_timeline_marks_a_recordings_journaled_changes():
    hub = Hub()
    hub.add_recording(TUNE / "off-cpu.fsrec")
    with TestClient(create_app(hub), base_url="http://127.0.0.1") as client:
        (job,) = client.get("/api/jobs").json()["jobs"]
        marks = client.get(f"/api/jobs/{job['key']}/timeline").json()["marks"]
    assert [(m["step"], m["effect"]) for m in marks] == [("apply", None),
                                                         ("verify", "effective")]
    assert marks[0]["parallelism"]["enrich"] > 2
    times = [m["t"] for m in marks]
    assert times == sorted(times)


def test_serve_journal_marks_the_jobs_it_names(tmp_path):
    copy = tmp_path / "plain.fsrec"
    shutil.copy(fixture_path("skew"), copy)
    graph, _ = load_recording(copy)
    mine = {"t": 1.0, "step": "apply", "job_id": graph.job_id, "parallelism_after": {"x": 3}}
    other = {**mine, "job_id": "0" * 32}
    path = tmp_path / "j.jsonl"
    for e in (mine, other):
        journal.append(path, e)
    hub = Hub()
    hub.add_recording(copy)
    hub.add_journal(path)
    (feed,) = hub.feeds()
    assert [(m.step, m.parallelism) for m in feed.marks] == [(journal.Step.APPLY, {"x": 3})]


def test_the_report_lists_the_changes_and_compares_around_the_rescale():
    graph, samples = load_recording(TUNE / "off-cpu.fsrec")
    with_entries = journal.read(TUNE / "off-cpu.jsonl")
    before, after = diffing.around_change(TUNE / "off-cpu.fsrec")
    from flowscope.analysis.diff import compare

    html = build_report(graph, samples, source="off-cpu", journal=with_entries,
                        diff=compare(before, after), diff_title="Before and after")
    assert 'id="changes"' in html and "enrich 2 → 5" in html and "effective" in html
    assert 'id="diff"' in html and "bottleneck gone (was enrich)" in html


def test_the_terminal_says_the_plan_and_predicted_against_measured():
    before, after = diffing.around_change(TUNE / "off-cpu.fsrec")
    obs = observation_from_recording(TUNE / "off-cpu.fsrec")
    p = plan(before, obs.facts, target_rate=1500.0)
    out = console(width=140)
    with out.capture() as cap:
        out.print(render_plan(p))
        out.print(render_verification(verify(p, before, after), 0.5))
    text = cap.get()
    assert "plan: change" in text and "enrich" in text
    assert "verified: effective" in text and "predicted 1500" in text
    assert "bottleneck gone (was enrich)" in text
    lines = "\n".join(manual_change(p))
    enrich = next(v for v in p.changes if v.name == "enrich")
    assert f'pipeline.jobvertex-parallelism-overrides: "{enrich.vertex_id}:{enrich.new}"' in lines
    assert f"enrich .setParallelism({enrich.new})" in lines
