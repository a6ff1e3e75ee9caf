"""The fleet says what `diagnose` says, live: `flowscope scan --prometheus` (with the cluster's
JobManager beside it, as an on-call engineer would run it) over the lab's running scenario
jobs, each row against the REST diagnosis the scenario test reached for that job. Each
comparison is kept in $FLOWSCOPE_RESULTS/flowscope-fleet-agreement.json for the table in the
notes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from flowscope.analysis.findings import Diagnosis
from flowscope.analysis.rules import MIN_UPTIME_S
from flowscope.flink.metric_names import prom_mangle
from tests.conftest import SCRAPE_S
from tests.integration.results import results_dir

AGREEMENT = results_dir() / "flowscope-fleet-agreement.json"
# Causes told by what a task's threads do: the store has no stack samples, so the fleet may
# say `busy` (unknown) where the JobManager's flame graphs could not be read.
TOLD_BY_STACKS = {"compute-bound", "off-cpu"}
# scenario name -> the REST diagnosis the scenario test reached.
REST: dict[str, Diagnosis] = {}


def fleet_agrees(prom_url: str, cluster_url: str, names: list[str],
                 uptime_s: float | None = None) -> None:
    """Scan the store now and compare each named scenario's row with its REST diagnosis.
    A job `uptime_s` old at its verdict is scanned over the time since its start-up, as
    its REST diagnosis was: a window over its first seconds averages in the start."""
    time.sleep(2 * SCRAPE_S)  # the newest scrapes are stored
    window = 60.0 if uptime_s is None else max(20.0, min(60.0, uptime_s - MIN_UPTIME_S))
    began = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "flowscope.cli", "scan", "--prometheus", prom_url, "--url",
         cluster_url, "--window", f"{window:g}", "--json"],
        capture_output=True, text=True, timeout=240)
    took = time.monotonic() - began
    assert run.returncode in (0, 1, 3, 5, 9), run.stderr  # 9: a job keeps restarting
    doc = json.loads(run.stdout)
    rows = {r["job_name"]: r for r in doc["jobs"]}
    data = json.loads(AGREEMENT.read_text()) if AGREEMENT.exists() else {}
    wrong = []
    for name in names:
        rest = REST.get(name)
        if rest is None:
            continue  # its scenario test did not reach a verdict in this run
        # every job below runs on the JobManager beside the store: its real name is listed
        row = rows.get(f"flowscope-{name}")
        assert row is not None, (name, sorted(rows))
        want = (str(rest.verdict), [prom_mangle(f.vertex_name or "") for f in rest.bottlenecks],
                [str(f.cause) for f in rest.bottlenecks])
        found = row["diagnosis"]
        got = (row["verdict"], [prom_mangle(b) for b in found["bottlenecks"] or []],
               [f["cause"] for f in found["findings"] if f["is_bottleneck"]])
        data[name] = {"diagnose": want, "scan": got, "queries": doc["stats"].get("queries"),
                      "seconds": round(took, 2)}
        causes_agree = len(got[2]) == len(want[2]) and all(
            g == w or (g == "busy" and w in TOLD_BY_STACKS) for g, w in zip(
                sorted(got[2]), sorted(want[2]), strict=True))
        if got[0] != want[0] or sorted(got[1]) != sorted(want[1]) or not causes_agree:
            wrong.append((name, want, got, row["summary"], found["notes"][:4]))
    AGREEMENT.write_text(json.dumps(data, indent=2))
    assert not wrong, wrong
