"""Recorded `tune` runs on real lab clusters (scripts/record_tune_fixtures.py), replayed: the
journal each left, the windows before and after each change, the refusals, the printed change
on a cluster without the adaptive scheduler, and the JSON of `tune` and its journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from flowscope import diffing, journal
from flowscope.analysis.diff import BottleneckChange
from flowscope.analysis.plan import PlanStatus, RefusalReason, plan
from flowscope.analysis.verify import Effect, verify
from flowscope.recording import Recording
from flowscope.tuning import observation_from_recording
from tests.faults.server import FaultServer

ROOT = Path(__file__).resolve().parents[2]
TUNE = ROOT / "tests" / "fixtures" / "tune"


def fixture(name: str) -> Path:
    path = TUNE / f"{name}.fsrec"
    if not path.exists():
        pytest.fail(f"missing fixture {path}: run scripts/record_tune_fixtures.py {name}")
    return path


@cache
def validator() -> jsonschema.Draft202012Validator:
    tune = json.loads((ROOT / "schema" / "tune.schema.json").read_text())
    diff = json.loads((ROOT / "schema" / "diff.schema.json").read_text())
    registry = Registry().with_resources([
        (tune["$id"], Resource.from_contents(tune)), (diff["$id"], Resource.from_contents(diff))])
    jsonschema.Draft202012Validator.check_schema(tune)
    return jsonschema.Draft202012Validator(tune, registry=registry)


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowscope.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "120", "NO_COLOR": "1"},
                          stdin=subprocess.DEVNULL)


def entries(name: str) -> list[dict[str, Any]]:
    with Recording(fixture(name)) as rec:
        return journal.parse(e for _, e in rec.journal())


def test_an_effective_change_leaves_apply_and_verify_in_both_journals():
    steps = entries("off-cpu")
    assert [(e["step"], e.get("effect")) for e in steps] == [("apply", None),
                                                            ("verify", "effective")]
    apply, check = steps
    assert apply["parallelism_before"]["enrich"] < apply["parallelism_after"]["enrich"]
    vid = next(v["vertex_id"] for v in apply["plan"]["vertices"] if v["name"] == "enrich")
    assert apply["requirements_after"][vid]["upper"] == apply["parallelism_after"]["enrich"]
    assert apply["rescaled"] is True and apply["evidence_before"]["bottlenecks"]
    assert check["verification"]["ratio"] >= 0.9
    assert not check["evidence_after"]["bottlenecks"]
    # The JSON-lines journal beside the recording holds the same steps.
    assert [e["step"] for e in journal.read(TUNE / "off-cpu.jsonl")] == ["apply", "verify"]


@pytest.mark.parametrize("name", ["off-cpu", "compute-carried"])
def test_the_windows_around_an_applied_change_verify_as_recorded(name):
    before, after = diffing.around_change(fixture(name))
    apply = entries(name)[0]
    assert {t.name: t.parallelism for t in before.tasks} == apply["parallelism_before"]
    assert {t.name: t.parallelism for t in after.tasks} == apply["parallelism_after"]
    obs = observation_from_recording(fixture(name))
    assert obs.diagnosis.verdict == after.verdict
    p = plan(before, obs.facts, target_rate=apply["plan"]["target_per_s"])
    v = verify(p, before, after)
    assert v.effect == Effect.EFFECTIVE
    assert v.diff.bottleneck == BottleneckChange.GONE
    assert v.ratio is not None and v.ratio >= 0.9


def test_diff_of_a_tuned_recording_shows_the_bottleneck_gone():
    run = cli("diff", fixture("off-cpu"), "--json")
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    assert doc["bottleneck"] == "gone"
    enrich = next(t for t in doc["tasks"] if t["name"] == "enrich")
    assert enrich["parallelism"]["before"] < enrich["parallelism"]["after"]


def test_two_runs_of_one_job_at_one_parallelism_are_within_noise():
    for pair in ("same-offcpu", "same-skew"):
        run = cli("diff", fixture(f"{pair}-a"), fixture(f"{pair}-b"))
        assert run.returncode == 0, (pair, run.stdout, run.stderr)
        assert "no change beyond noise" in run.stdout


def test_a_forced_skew_change_is_ineffective_and_rolled_back():
    steps = entries("skew")
    assert [(e["step"], e.get("of"), e.get("effect")) for e in steps] == [
        ("apply", None, None), ("verify", "apply", "ineffective"),
        ("rollback", None, None), ("verify", "rollback", "restored")]
    apply, check, back, _ = steps
    assert apply["plan"]["forced"] is True
    assert [r["reason"] for r in apply["plan"]["refusals"]][:1] == ["data-skew"]
    assert check["verification"]["gain_share"] < 0.5
    assert back["requirements_after"] == apply["requirements_before"]
    assert back["parallelism_after"] == apply["parallelism_before"]


@pytest.mark.parametrize(("name", "target", "reason"), [
    ("skew", 1500, RefusalReason.DATA_SKEW),
    ("compute-cores", 3000, RefusalReason.SATURATED_CPU),
    ("missing-slots", 1500, RefusalReason.MISSING_SLOTS),
])
def test_refusals_as_recorded(name, target, reason):
    run = cli("tune", "--from", fixture(name), "--target-rate", target, "--json")
    doc = json.loads(run.stdout)
    validator().validate(doc)
    if name == "skew":  # the recording ends after the rollback: plan its first window
        before, _ = diffing.around_change(fixture(name))
        obs = observation_from_recording(fixture(name))
        p = plan(before, obs.facts, target_rate=target)
        assert p.status == PlanStatus.REFUSED and reason in {r.reason for r in p.refusals}
        return
    assert run.returncode == 6, run.stderr
    refusals = {r["reason"]: r for r in doc["plan"]["refusals"]}
    assert str(reason) in refusals
    if reason == RefusalReason.MISSING_SLOTS:
        r = refusals["missing-slots"]
        assert r["missing"] >= 1 and r["needed"] == doc["plan"]["slots_needed"]
        assert r["available"] == doc["plan"]["slots_free"]
    assert not entries(name)  # nothing was applied, nothing journaled


def test_without_the_adaptive_scheduler_the_change_is_printed_and_nothing_written():
    with FaultServer(fixture("default-scheduler"), speed=1.5) as server:
        run = cli("tune", "--url", server.url, "--duration", "14", "--apply", "--yes",
                  "--target-rate", "1500")
        methods = {r.method for r in server.log}
        asked = [r.path for r in server.log if r.path.endswith("/resource-requirements")]
    assert methods == {"GET"} and asked
    assert run.returncode == 8, run.stderr[-600:]
    assert "pipeline.jobvertex-parallelism-overrides" in run.stdout
    assert "flink stop --savepointPath" in run.stdout
    assert "enrich" in run.stdout


def test_the_json_of_a_change_not_applied_keeps_to_the_schema():
    with FaultServer(fixture("default-scheduler"), speed=1.5) as server:
        run = cli("tune", "--url", server.url, "--duration", "14", "--apply", "--yes",
                  "--target-rate", "1500", "--json")
    assert run.returncode == 8, run.stderr[-600:]
    doc = json.loads(run.stdout)
    validator().validate(doc)
    assert (doc["scheduler"], doc["applied"], doc["not_applied"]) == ("default", False,
                                                                     "scheduler")
    override = doc["change"]["operator_override"]["pipeline.jobvertex-parallelism-overrides"]
    enrich = next(v for v in doc["plan"]["vertices"] if v["name"] == "enrich")
    assert override == f"{enrich['vertex_id']}:{enrich['new']}" and enrich["new"] > 2


@pytest.mark.parametrize("name", ["off-cpu", "skew", "compute-carried"])
def test_journal_entries_keep_to_the_schema(name):
    step_schema = json.loads((ROOT / "schema" / "tune.schema.json").read_text())
    item = step_schema["properties"]["steps"]["items"]
    for e in entries(name):
        jsonschema.validate(e, item)
    marks = journal.marks(entries(name))
    assert [m.step for m in marks] == [journal.Step(e["step"]) for e in entries(name)]


@pytest.mark.parametrize(("schema", "doc"), [("tune", "tune.md"), ("diff", "diff.md")])
def test_every_field_of_the_schemas_is_documented(schema, doc):
    body = json.loads((ROOT / "schema" / f"{schema}.schema.json").read_text())
    text = (ROOT / "docs" / doc).read_text()
    fields = set(body["properties"])
    if schema == "tune":
        fields |= set(body["properties"]["plan"]["properties"])
        fields |= set(body["properties"]["plan"]["properties"]["vertices"]["items"]["properties"])
        fields |= set(body["properties"]["plan"]["properties"]["refusals"]["items"]["properties"])
    undocumented = sorted(f for f in fields if f"`{f}`" not in text)
    assert undocumented == []
