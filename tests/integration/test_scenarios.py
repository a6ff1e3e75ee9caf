"""Every lab scenario, live on the shared real cluster: the located bottleneck and its cause are
the injected ones, there is none for the healthy job, and a recording of the run replays to the
same diagnosis.

Light scenarios (off-CPU costs) run side by side; CPU-heavy ones run alone afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Diagnosis
from flowscope.lab.scenarios import SCENARIOS, Scenario
from flowscope.sampling import load_recording
from tests.integration.settling import settle

pytestmark = pytest.mark.cluster

LIGHT = [s for s in SCENARIOS.values() if not s.cpu_heavy and not s.needs_netns]
HEAVY = [s for s in SCENARIOS.values() if s.cpu_heavy and not s.needs_netns]
DEADLINE_S = 180.0
TIMES = Path(os.environ.get("FLOWSCOPE_RESULTS", "/tmp")) / "flowscope-scenario-times.json"


def check(scenario: Scenario, d: Diagnosis) -> None:
    explained = [f.summary for f in d.findings]
    assert d.verdict == scenario.expected_verdict, explained
    if scenario.bottleneck is None:
        assert d.bottlenecks == [], explained
        if scenario.cause:
            assert any(f.cause == scenario.cause for f in d.findings), explained
    else:
        got = [(f.vertex_name, str(f.cause)) for f in d.bottlenecks]
        assert got == [(scenario.bottleneck, scenario.cause)], explained
    if scenario.also:
        assert any(f.cause == scenario.also for f in d.findings), explained


def remember(scenario: Scenario, d: Diagnosis, uptime: float) -> None:
    data = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    data[scenario.name] = {
        "verdict": d.verdict.value,
        "bottlenecks": [f"{f.vertex_name} ({f.cause})" for f in d.bottlenecks],
        "uptime_at_verdict_s": round(uptime, 1),
    }
    TIMES.write_text(json.dumps(data, indent=2))


def replay_matches(path: Path, live: Diagnosis) -> None:
    graph, samples = load_recording(path)
    replayed = diagnose(graph, samples)
    assert [(f.vertex_name, f.cause) for f in replayed.findings] == [
        (f.vertex_name, f.cause) for f in live.findings
    ]
    assert replayed.verdict == live.verdict


@pytest.fixture(scope="module")
def light_jobs(runner):
    ids = {s.name: runner.submit(s) for s in LIGHT}
    yield ids
    for job_id in ids.values():
        runner.cancel(job_id)


@pytest.mark.parametrize("scenario", LIGHT, ids=lambda s: s.name)
def test_light_scenario(scenario, light_jobs, lab_cluster, tmp_path):
    d, uptime = settle(lab_cluster.url, light_jobs[scenario.name], tmp_path / "run.fsrec",
                       scenario.min_observe_s)
    check(scenario, d)
    remember(scenario, d, uptime)
    replay_matches(tmp_path / "run.fsrec", d)


def test_cli_diagnose_live_json(light_jobs, lab_cluster):
    """`flowscope diagnose --url ... --job NAME --json` as a subprocess on the running skew job."""
    run = subprocess.run(
        [sys.executable, "-m", "flowscope.cli", "diagnose", "--url", lab_cluster.url,
         "--job", "flowscope-skew", "--json", "--duration", "90"],
        capture_output=True, text=True, timeout=150,
    )
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    assert doc["job_id"] == light_jobs["skew"]
    assert doc["bottlenecks"] == ["enrich"]
    assert doc["findings"][0]["cause"] == "data-skew"


@pytest.mark.parametrize("scenario", HEAVY, ids=lambda s: s.name)
def test_cpu_heavy_scenario(scenario, runner, lab_cluster, light_jobs, tmp_path):
    # light_jobs is requested so that the light scenarios are cancelled first (module scope
    # teardown happens later; cancel them now to leave the cores to this job).
    for job_id in light_jobs.values():
        runner.cancel(job_id)
    job_id = runner.submit(scenario)
    try:
        start = time.monotonic()
        d, uptime = settle(lab_cluster.url, job_id, tmp_path / "run.fsrec", scenario.min_observe_s)
        check(scenario, d)
        remember(scenario, d, uptime)
        assert time.monotonic() - start < DEADLINE_S
    finally:
        runner.cancel(job_id)
