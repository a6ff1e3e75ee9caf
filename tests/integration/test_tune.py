"""`flowscope tune` on the shared real cluster (Flink's adaptive scheduler): the change that
removes the backpressure in one step, the refusals, the rollback, and the journal.

The figures each run measured (predicted and measured records/s, the rescale, the time from the
change to the verdict) go to $FLOWSCOPE_RESULTS/flowscope-tune.json; the bench prints them
(bench/bench_tune.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowscope.analysis.plan import RefusalReason
from flowscope.analysis.verify import Effect
from flowscope.flink.http import RestClient
from flowscope.flink.requirements import Scheduler, requirements
from flowscope.journal import read
from flowscope.lab.tunelab import TUNE_SCENARIOS, filler_parallelism, run_tune
from tests.integration.results import results_dir

pytestmark = pytest.mark.cluster
RESULTS = results_dir() / "flowscope-tune.json"


@pytest.fixture(scope="module")
def adaptive(lab_cluster: Any) -> Any:
    """The shared cluster (its scheduler is checked on each test's own job)."""
    return lab_cluster


def remember(name: str, figures: dict[str, Any]) -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[name] = figures
    RESULTS.write_text(json.dumps(data, indent=2))


def tune_cli(url: str, *args: str) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "flowscope.cli", "tune", "--url", url, "--json", *args],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"})
    doc = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, doc, proc.stderr


def scheduler_of(url: str, job_id: str) -> tuple[Scheduler, dict[str, Any]]:
    http = RestClient(url)
    try:
        r = requirements(http, job_id)
    finally:
        http.close()
    return r.scheduler, {vid: (b.lower, b.upper) for vid, b in r.bounds.items()}


def test_off_cpu_lacks_slots_first_then_one_step_removes_the_backpressure(
        adaptive, runner, tmp_path: Path):
    ts = TUNE_SCENARIOS["off-cpu"]
    job = runner.submit(ts.scenario, **ts.args)
    jobs = [job]
    try:
        runner.wait_running(job)
        scheduler, bounds = scheduler_of(adaptive.url, job)
        if scheduler != Scheduler.ADAPTIVE:
            pytest.skip("the shared cluster does not run the adaptive scheduler")
        free = int(httpx.get(f"{adaptive.url}/overview").json()["slots-available"])
        filler = runner.submit("healthy", name="flowscope-filler",
                               parallelism=str(filler_parallelism(free, -1)))
        jobs.append(filler)
        runner.wait_running(filler)
        journal = tmp_path / "tune.jsonl"
        code, doc, err = tune_cli(adaptive.url, "--job", job, "--apply", "--yes",
                                  "--target-rate", str(ts.target_rate), "--journal",
                                  str(journal))
        assert code == 6, err[-800:]
        missing = {r["reason"]: r for r in doc["plan"]["refusals"]}["missing-slots"]
        assert missing["available"] == 1 and missing["missing"] >= 1
        assert scheduler_of(adaptive.url, job)[1] == bounds  # nothing written
        assert not journal.exists()

        runner.cancel(filler)
        jobs.remove(filler)
        record = tmp_path / "tune.fsrec"
        code, doc, err = tune_cli(adaptive.url, "--job", job, "--apply", "--yes",
                                  "--target-rate", str(ts.target_rate), "--journal",
                                  str(journal), "--record", str(record))
        assert code == 0, err[-1500:]
        v = doc["verification"]
        assert v["effect"] == "effective" and v["diff"]["bottleneck"] == "gone"
        assert v["measured_per_s"] >= 0.9 * v["predicted_per_s"], v
        assert [e["step"] for e in read(journal)] == ["apply", "verify"]
        enrich = next(c for c in doc["plan"]["vertices"] if c["name"] == "enrich")
        assert scheduler_of(adaptive.url, job)[1][enrich["vertex_id"]][1] == enrich["new"]
        remember("off-cpu", {"steps": 1, "predicted": v["predicted_per_s"],
                             "measured": v["measured_per_s"], "ratio": v["ratio"],
                             "rescale_s": doc["rescale_s"],
                             "apply_to_verdict_s": doc["apply_to_verdict_s"],
                             "missing_slots": missing["missing"]})
        # The recording holds the run and its journal: diff finds the bottleneck gone.
        diff = subprocess.run([sys.executable, "-m", "flowscope.cli", "diff", str(record)],
                              capture_output=True, text=True, timeout=120)
        assert diff.returncode == 1 and "bottleneck gone" in diff.stdout
    finally:
        for j in jobs:
            runner.cancel(j)


def test_compute_bound_at_a_rate_two_cores_carry_is_tuned_in_one_step(adaptive, runner):
    run = run_tune(adaptive, runner, TUNE_SCENARIOS["compute-carried"])
    if run.scheduler != Scheduler.ADAPTIVE:
        pytest.skip("the shared cluster does not run the adaptive scheduler")
    assert run.steps == 1, [p.refusals for p in run.plans]
    out = run.outcomes[0]
    v = out.verification
    assert v is not None and v.effect == Effect.EFFECTIVE
    assert v.ratio is not None and v.ratio >= 0.9
    remember("compute-carried", {"steps": run.steps, "predicted": v.predicted_per_s,
                                 "measured": v.measured_per_s, "ratio": v.ratio,
                                 "rescale_s": out.rescale.seconds if out.rescale else None,
                                 "apply_to_verdict_s": out.apply_to_verdict_s})


def test_where_the_cores_are_the_limit_tune_says_so(adaptive, runner):
    run = run_tune(adaptive, runner, TUNE_SCENARIOS["compute-cores"])
    (p,) = run.plans
    assert run.steps == 0
    cpu = {r.reason: r for r in p.refusals}[RefusalReason.SATURATED_CPU]
    assert cpu.available is not None and cpu.needed is not None
    assert cpu.needed > 0.9 * cpu.available
    remember("compute-cores", {"refused": "saturated-cpu", "cores": cpu.available,
                               "needed_cores": cpu.needed, "ceiling": cpu.ceiling_per_s})


def test_skew_is_refused_then_forced_measured_ineffective_and_rolled_back(
        adaptive, runner, tmp_path: Path):
    journal = tmp_path / "skew.jsonl"
    run = run_tune(adaptive, runner, TUNE_SCENARIOS["skew"], journal_to=journal)
    if run.scheduler != Scheduler.ADAPTIVE:
        pytest.skip("the shared cluster does not run the adaptive scheduler")
    (p,) = run.plans
    skew = {r.reason: r for r in p.refusals}[RefusalReason.DATA_SKEW]
    assert skew.ceiling_per_s is not None and skew.ceiling_per_s < 1500
    (out,) = run.outcomes
    assert out.verification is not None
    assert out.verification.effect == Effect.INEFFECTIVE
    assert out.rolled_back and out.rollback_rescale and out.rollback_rescale.done
    steps = read(journal)
    assert [(e["step"], e.get("effect")) for e in steps] == [
        ("apply", None), ("verify", "ineffective"), ("rollback", None),
        ("verify", "restored")]
    remember("skew", {"ceiling": skew.ceiling_per_s, "share": skew.share,
                      "predicted": out.verification.predicted_per_s,
                      "measured": out.verification.measured_per_s,
                      "gain_share": out.verification.gain_share,
                      "journal": [e["step"] for e in steps]})
