"""`flowscope profile` on real jobs of the shared lab cluster: flame graphs name the operator
and method, on-CPU and blocking work are told apart, the thread-dump monitor agrees with the
time metrics, latency markers name the slowest hop, and profiling changes nothing.

Each scenario runs once (module fixtures) and only while it is profiled: the CPU-heavy ones
(compute-bound, chained) burn both cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from flowscope.analysis.findings import Level
from flowscope.analysis.profile import ChainShare, ChosenBy, ProfileReport
from flowscope.profiler import ProfileOptions, profile_live
from tests.integration.results import results_dir

pytestmark = pytest.mark.cluster

SETTLE_S = 8.0  # before profiling: lets the start-up busy=1000 artefact pass sooner
SAMPLES = 10
MAX_THREAD_S = 10.0
FLAME_TIMEOUT_S = 20.0
FIGURES = results_dir() / "flowscope-profile-figures.json"


@dataclass
class Run:
    report: Any  # ProfileReport, or the --json dict for the CLI run
    wall_s: float
    before: dict[str, Any]
    after: dict[str, Any]


def cluster_state(url: str, job_id: str) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=10) as c:
        job = c.get(f"/jobs/{job_id}").json()
        return {
            "state": job["state"],
            "vertices": [(v["id"], v["parallelism"]) for v in job["vertices"]],
            "attempts": sorted(
                st.get("attempt", 0) for v in job["vertices"]
                for st in c.get(f"/jobs/{job_id}/vertices/{v['id']}").json()["subtasks"]),
            "cluster_config": c.get("/jobmanager/config").json(),
            "job_config": c.get(f"/jobs/{job_id}/config").json(),
            "taskmanagers": sorted(t["id"] for t in c.get("/taskmanagers").json()["taskmanagers"]),
        }


@contextlib.contextmanager
def running(runner, name: str) -> Iterator[str]:
    job_id = runner.submit(name)
    try:
        runner.wait_running(job_id)
        time.sleep(SETTLE_S)
        yield job_id
    finally:
        runner.cancel(job_id)
        time.sleep(1.0)  # let the cancel land before the next job takes the slots


def profile(url: str, job_id: str) -> ProfileReport:
    return profile_live(url, job_id, diagnose_s=60.0, options=ProfileOptions(
        flame_timeout_s=FLAME_TIMEOUT_S, thread_samples=SAMPLES, thread_delay_s=0.1,
        thread_max_s=MAX_THREAD_S))


def remember(name: str, run: Run) -> None:
    """Keep what a profile run cost, for the CI summary."""
    stats = run.report["stats"] if isinstance(run.report, dict) else vars(run.report.stats)
    data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    data[name] = {"wall_s": round(run.wall_s, 1),
                  **{k: round(v, 1) if isinstance(v, float) else v for k, v in stats.items()}}
    FIGURES.write_text(json.dumps(data, indent=2))


def run_api(lab_cluster, runner, name: str) -> Run:
    with running(runner, name) as job_id:
        before = cluster_state(lab_cluster.url, job_id)
        start = time.monotonic()
        report = profile(lab_cluster.url, job_id)
        wall = time.monotonic() - start
        after = cluster_state(lab_cluster.url, job_id)
    run = Run(report, wall, before, after)
    remember(name, run)
    return run


@pytest.fixture(scope="module")
def chained(lab_cluster, runner) -> Run:
    return run_api(lab_cluster, runner, "chained")


@pytest.fixture(scope="module")
def compute_bound(lab_cluster, runner) -> Run:
    return run_api(lab_cluster, runner, "compute-bound")


@pytest.fixture(scope="module")
def off_cpu_cli(lab_cluster, runner) -> Run:
    """The off-CPU scenario, profiled through the command line (--json)."""
    with running(runner, "off-cpu") as job_id:
        before = cluster_state(lab_cluster.url, job_id)
        start = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-m", "flowscope.cli", "profile", "--url", lab_cluster.url,
             "--job", job_id, "--json", "--samples", str(SAMPLES), "--max-time",
             str(MAX_THREAD_S), "--flame-timeout", str(FLAME_TIMEOUT_S), "--diagnose-time",
             "60"],
            capture_output=True, text=True, timeout=180, env={**os.environ, "NO_COLOR": "1"},
        )
        wall = time.monotonic() - start
        after = cluster_state(lab_cluster.url, job_id)
    assert out.returncode == 0, out.stderr
    run = Run(json.loads(out.stdout), wall, before, after)
    remember("off-cpu (cli)", run)
    return run


def test_chained_vertex_names_enrich_and_its_method(chained):
    r = chained.report
    assert r.target.vertex_name == "parse -> enrich"
    assert r.target.chosen_by == ChosenBy.BOTTLENECK
    assert r.flame is not None, r.skipped
    top = r.flame.on_cpu.operators[0]
    assert top.operator == "enrich" and top.share > 0.5, r.flame.on_cpu.operators
    assert top.top_method == "com.acme.Enricher.lookup"
    assert "com.acme.Enricher.lookup" in [h.method for h in r.flame.on_cpu.hot_frames]
    assert any(isinstance(c, ChainShare) and c.operator == "enrich"
               for c in r.conclusions), r.conclusions


def test_on_cpu_and_blocking_work_are_told_apart(compute_bound, off_cpu_cli):
    cpu, blocked = compute_bound.report, off_cpu_cli.report
    assert cpu.flame.work.kind == "on-cpu"
    assert blocked["flame"]["work"]["kind"] == "off-cpu"
    assert any(h["method"] == "com.acme.Enricher.callExternalService"
               for h in blocked["flame"]["off_cpu"]["hot_frames"])

    # And by the TaskManagers' JVM CPU: spinning enrich subtasks use far more than parked ones.
    def cores(tms: list[Any]) -> float:
        return sum((t["cores_used"] if isinstance(t, dict) else t.cores_used) or 0.0
                   for t in tms)

    assert cores(cpu.taskmanagers) > 2 * cores(blocked["taskmanagers"]), (
        [t.cores_used for t in cpu.taskmanagers],
        [t["cores_used"] for t in blocked["taskmanagers"]])


def test_thread_dump_levels_agree_with_time_metrics(compute_bound):
    th = compute_bound.report.threads
    assert th is not None, compute_bound.report.skipped
    parse, enrich = th.task("parse"), th.task("enrich")
    assert (parse.level, parse.metric_level) == (Level.HIGH, Level.HIGH), th.notes
    assert (enrich.level, enrich.metric_level) == (Level.OK, Level.OK)
    assert parse.agrees and enrich.agrees


def test_latency_markers_name_the_slowest_hop(compute_bound):
    lat = compute_bound.report.latency
    assert lat is not None and lat.enabled and lat.interval_ms == 1000
    assert lat.slowest is not None, lat.notes
    assert lat.slowest.to_name == "enrich"  # records queue in front of the bottleneck
    assert lat.buffer_timeout_ms == 100 and lat.slowest.expected_ms == 50


@pytest.mark.parametrize("which", ["compute_bound", "off_cpu_cli"])
def test_profiling_is_bounded_and_changes_nothing(which, request):
    run = request.getfixturevalue(which)
    stats = run.report["stats"] if isinstance(run.report, dict) else vars(run.report.stats)
    assert 1 <= stats["thread_dump_rounds"] <= SAMPLES
    assert stats["thread_dump_s"] <= MAX_THREAD_S + 2.0
    assert stats["flame_wait_s"] <= FLAME_TIMEOUT_S + 2.0
    # The diagnosis polls: one request per vertex for details and metrics, the checkpoint
    # overview, the TaskManagers, and the stack samples it asks for itself.
    assert stats["diagnose_requests"] <= 40 * stats["diagnose_polls"]
    # The profile itself: the flame graph polls, the thread dumps (two TaskManagers), the
    # cluster config, two checkpoints' details (four vertices) and one more poll for latency.
    profile_requests = stats["requests"] - stats["diagnose_requests"]
    assert stats["flame_requests"] <= FLAME_TIMEOUT_S / 0.5 + 3
    assert stats["thread_dumps"] <= 2 * SAMPLES
    assert profile_requests <= stats["flame_requests"] + stats["thread_dumps"] + 1 + 11 + 30
    assert run.wall_s < 60 + FLAME_TIMEOUT_S + MAX_THREAD_S + 30
    assert run.after["state"] == "RUNNING"
    assert run.after == run.before
