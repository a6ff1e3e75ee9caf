"""Every lab scenario, live on the shared real cluster: the located bottleneck and its cause are
the injected ones, there is none for the healthy job, and a recording of the run replays to the
same diagnosis.

Light scenarios (off-CPU costs) run side by side, in two waves that fit the cluster's slots,
each wave's jobs watched side by side until their verdicts settle; CPU-heavy ones run alone
afterwards.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Diagnosis
from flowscope.flink.metric_names import prom_mangle
from flowscope.lab.scenarios import SCENARIOS, Scenario
from flowscope.render import words
from flowscope.sampling import load_recording
from tests.conftest import scenario_params
from tests.integration.fleetcheck import REST, fleet_agrees
from tests.integration.promcheck import COMPARED, JUDGED, prometheus_agrees
from tests.integration.results import results_dir
from tests.integration.settling import settle

pytestmark = pytest.mark.cluster


def _slots(s: Scenario) -> int:
    """Slots a scenario job takes: its largest parallelism (slot sharing)."""
    return max(int(s.args.get("parallelism", "2")), int(s.args.get("enrich-parallelism", "0")))


LIGHT = [s for s in SCENARIOS.values() if not s.cpu_heavy and not s.needs_netns]
# The shared cluster has 20 slots; a wave's jobs must fit in them side by side.
WAVE_SLOTS = 18
WAVES: list[list[Scenario]] = [[]]
for _s in LIGHT:
    if sum(_slots(x) for x in WAVES[-1]) + _slots(_s) > WAVE_SLOTS:
        WAVES.append([])
    WAVES[-1].append(_s)
HEAVY = [s for s in SCENARIOS.values() if s.cpu_heavy and not s.needs_netns]
DEADLINE_S = 180.0
TIMES = results_dir() / "flowscope-scenario-times.json"
POSTMORTEM = results_dir() / "flowscope-postmortem.json"


def check(scenario: Scenario, d: Diagnosis) -> None:
    explained = [words.summary(f) for f in d.findings]
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
    REST[scenario.name] = d
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


# Light jobs are watched every this many seconds: a wave's jobs are watched side by side.
WAVE_POLL_S = 2.0


class Waves:
    """Submits one wave of light scenarios at a time, cancelling the wave before it. Each job
    of a wave is watched from its start until its verdict settles, all of them side by side
    (they wait on the clock, not on the cores); a test takes its job's verdict."""

    def __init__(self, runner, url: str, workdir: Path) -> None:
        self.runner, self.url, self.workdir = runner, url, workdir
        self.current = -1
        self.ids: dict[str, str] = {}
        self.pool = ThreadPoolExecutor(max(len(w) for w in WAVES), "flowscope-settle")
        self.settled: dict[str, Future[tuple[Diagnosis, float]]] = {}
        self.paths: dict[str, Path] = {}
        self.submitted = 0  # waves submitted so far (a wave submitted again records anew)
        self.stop = threading.Event()

    def job(self, scenario: Scenario) -> str:
        wave = next(i for i, w in enumerate(WAVES) if scenario in w)
        if wave != self.current:
            self.cancel()
            self.current = wave
            self.ids = {s.name: self.runner.submit(s) for s in WAVES[wave]}
            self.submitted += 1
            self.paths = {s.name: self.workdir / f"{self.submitted}-{s.name}.fsrec"
                          for s in WAVES[wave]}
            self.stop = threading.Event()
            self.settled = {s.name: self.pool.submit(
                settle, self.url, self.ids[s.name], self.recording(s), s.min_observe_s,
                interval_s=WAVE_POLL_S, stop=self.stop) for s in WAVES[wave]}
        return self.ids[scenario.name]

    def recording(self, scenario: Scenario) -> Path:
        return self.paths[scenario.name]

    def verdict(self, scenario: Scenario) -> tuple[str, Diagnosis, float]:
        """The job's id, its settled diagnosis and its uptime then."""
        job_id = self.job(scenario)
        d, uptime = self.settled[scenario.name].result()
        return job_id, d, uptime

    def cancel(self) -> None:
        self.stop.set()
        for job_id in self.ids.values():
            self.runner.cancel(job_id)
        self.ids = {}


@pytest.fixture(scope="module")
def light_jobs(runner, lab_cluster, lab_prometheus, tmp_path_factory):
    # lab_prometheus: started before any job, so that it holds each job's whole history.
    waves = Waves(runner, lab_cluster.url, tmp_path_factory.mktemp("waves"))
    yield waves
    waves.cancel()
    waves.pool.shutdown(wait=True, cancel_futures=True)


def check_light(scenario: Scenario, light_jobs: Waves, prom=None) -> None:
    job_id, d, uptime = light_jobs.verdict(scenario)
    check(scenario, d)
    remember(scenario, d, uptime)
    path = light_jobs.recording(scenario)
    replay_matches(path, d)
    if prom is not None and scenario.name in COMPARED:
        prometheus_agrees(prom.url, light_jobs.url, scenario.name, job_id, d, path)


@pytest.mark.parametrize("scenario", scenario_params(WAVES[0]))
def test_light_scenario(scenario, light_jobs, lab_prometheus):
    check_light(scenario, light_jobs, lab_prometheus)


def test_cli_diagnose_live_json(light_jobs, lab_cluster):
    """`flowscope diagnose --url ... --job NAME --json` as a subprocess on the running skew job."""
    skew = light_jobs.job(SCENARIOS["skew"])
    run = subprocess.run(
        [sys.executable, "-m", "flowscope.cli", "diagnose", "--url", lab_cluster.url,
         "--job", "flowscope-skew", "--json", "--duration", "90"],
        capture_output=True, text=True, timeout=150,
    )
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    assert doc["job_id"] == skew
    assert doc["bottlenecks"] == ["enrich"]
    assert doc["findings"][0]["cause"] == "data-skew"


# The first wave's jobs whose `scan` rows are checked: two bottlenecks and a healthy job.
SCANNED = ("skew", "slow-subtask", "healthy")


def test_scan_lists_the_running_jobs(light_jobs, lab_cluster, lab_prometheus):
    """`flowscope scan` over REST and over Prometheus while the first wave runs: the known
    bottlenecks with their causes, the healthy job as healthy, the most held-back first."""
    light_jobs.job(SCENARIOS["skew"])  # the first wave runs
    sources = [["--url", lab_cluster.url]]
    if lab_prometheus is not None:
        sources.append(["--prometheus", lab_prometheus.url])
    for source in sources:
        run = subprocess.run(
            [sys.executable, "-m", "flowscope.cli", "scan", *source, "--json"],
            capture_output=True, text=True, timeout=180,
        )
        assert run.returncode == 1, run.stderr
        doc = json.loads(run.stdout)
        kind = source[0].removeprefix("--")
        (TIMES.parent / f"flowscope-scan-{kind}.json").write_text(json.dumps([
            [r["job_name"], r["verdict"], r["bottleneck"], r["cause"], r["since_s"]]
            for r in doc["jobs"]] + [doc["stats"]], indent=1))
        # Prometheus holds names as Flink's reporter writes them (flowscope_skew).
        named = prom_mangle if source[0] == "--prometheus" else str
        rows = {r["job_name"]: r for r in doc["jobs"]}
        assert {named(f"flowscope-{s.name}") for s in WAVES[0]} <= set(rows), (
            source, sorted(rows))
        for name in SCANNED:
            s, row = SCENARIOS[name], rows[named(f"flowscope-{name}")]
            assert row["verdict"] == s.expected_verdict, (source, row["summary"])
            if s.bottleneck is not None:
                assert (row["bottleneck"], row["cause"]) == (named(s.bottleneck), s.cause), (
                    source, row["summary"])
        severity = {"restarting": 0, "backpressured": 1, "limited": 2, "unknown": 3,
                    "healthy": 4}
        order = [severity[r["verdict"]] for r in doc["jobs"]]
        assert order == sorted(order), (source, order)
    if lab_prometheus is None:
        return
    # watch starts with the last 90 s from Prometheus and goes on live for 4 s: many more
    # metric snapshots than 4 s of live polls could give.
    run = subprocess.run(
        [sys.executable, "-m", "flowscope.cli", "watch", "--prometheus", lab_prometheus.url,
         "--url", lab_cluster.url, "--job", "flowscope-skew", "--start=-90s",
         "--duration", "4"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "data-skew" in run.stdout
    seen = [int(m) for m in re.findall(r"· (\d+) snapshots ·", run.stdout)]
    assert seen and max(seen) >= 10, run.stdout[-2000:]
    # serve does the same: the job's page starts with its last 90 s.
    from tests.integration.test_dashboard_browser import serve

    began = time.time()
    with serve("--url", lab_cluster.url, "--job", "flowscope-skew", "--prometheus",
               lab_prometheus.url, "--since=-90s") as srv:
        (job,) = httpx.get(srv.url + "api/jobs", timeout=10).json()["jobs"]
        assert job["error"] is None, job
        assert job["polls"] >= 20 and job["first_t"] <= began - 60, job


def test_the_fleet_says_what_diagnose_says_first_wave(light_jobs, lab_cluster, lab_prometheus):
    """`scan --prometheus` (the JobManager beside it) over the first wave, each job against
    the REST diagnosis its scenario test reached."""
    if lab_prometheus is None:
        pytest.skip("needs Debian's prometheus package")
    light_jobs.job(WAVES[0][0])  # the first wave runs
    fleet_agrees(lab_prometheus.url, lab_cluster.url, [s.name for s in WAVES[0]])


@pytest.mark.parametrize("scenario", scenario_params(s for w in WAVES[1:] for s in w))
def test_light_scenario_second_wave(scenario, light_jobs, lab_cluster, lab_prometheus):
    check_light(scenario, light_jobs, lab_prometheus)
    wave = next(w for w in WAVES if scenario in w)
    if lab_prometheus is not None and scenario is wave[-1]:
        # The whole wave has been judged and still runs: the fleet's turn.
        fleet_agrees(lab_prometheus.url, lab_cluster.url, [s.name for s in wave])


def test_postmortem_of_an_ended_job_while_others_run(light_jobs, lab_cluster, lab_prometheus,
                                                     tmp_path):
    """Scenario A (skew, first wave) was cancelled; while the last wave runs, `diagnose
    --prometheus` over A's window, with the graph from Flink's HistoryServer, names A's
    bottleneck; and so it does over the whole last hour."""
    if lab_prometheus is None:
        pytest.skip("needs Debian's prometheus package")
    if "skew" not in JUDGED:
        pytest.skip("the first wave's skew job was not judged in this run")
    light_jobs.job(WAVES[-1][0])  # the last wave runs; the first was cancelled
    job_id, start, end = JUDGED["skew"]
    history = lab_cluster.history_url
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # the HistoryServer picks the archive up
        try:
            if httpx.get(f"{history}/jobs/{job_id}", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(2)
    for window in (["--start", f"{start:.3f}", "--end", f"{end:.3f}"], ["--start=-1h"]):
        began = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "flowscope.cli", "diagnose", "--prometheus",
             lab_prometheus.url, "--url", history, "--job", job_id, *window, "--json"],
            capture_output=True, text=True, timeout=120,
        )
        took = time.monotonic() - began
        assert run.returncode == 1, run.stderr
        doc = json.loads(run.stdout)
        assert doc["bottlenecks"] == ["enrich"], doc["notes"]
        assert doc["findings"][0]["cause"] == "data-skew"
        assert any("HistoryServer" in n for n in doc["notes"]), doc["notes"]
        POSTMORTEM.write_text(json.dumps({"window": window, "seconds": round(took, 2)}))
    # The same past window as a report: timelines at Prometheus's resolution.
    page = tmp_path / "past.html"
    run = subprocess.run(
        [sys.executable, "-m", "flowscope.cli", "report", "--prometheus", lab_prometheus.url,
         "--url", history, "--job", job_id, "--start", f"{start:.3f}", "--end", f"{end:.3f}",
         "-o", str(page)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    html = page.read_text()
    assert "data-skew" in html and "HistoryServer" in html


@pytest.mark.parametrize("scenario", scenario_params(HEAVY))
def test_cpu_heavy_scenario(scenario, runner, lab_cluster, light_jobs, lab_prometheus,
                            tmp_path):
    # light_jobs is requested so that the light scenarios are cancelled first (module scope
    # teardown happens later; cancel them now to leave the cores to this job).
    light_jobs.cancel()
    job_id = runner.submit(scenario)
    try:
        start = time.monotonic()
        d, uptime = settle(lab_cluster.url, job_id, tmp_path / "run.fsrec", scenario.min_observe_s)
        check(scenario, d)
        remember(scenario, d, uptime)
        assert time.monotonic() - start < DEADLINE_S
        if lab_prometheus is not None and scenario.name in COMPARED:
            prometheus_agrees(lab_prometheus.url, lab_cluster.url, scenario.name, job_id, d,
                              tmp_path / "run.fsrec")
        if lab_prometheus is not None:
            fleet_agrees(lab_prometheus.url, lab_cluster.url, [scenario.name], uptime)
    finally:
        runner.cancel(job_id)
