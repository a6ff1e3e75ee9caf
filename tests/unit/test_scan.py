"""`flowscope scan` over REST, on real recordings served as live JobManagers: every running
job of several clusters in one table, the most held-back first, requests that grow with
vertices and never with subtasks, and a dead cluster as one line beside the others."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Verdict
from flowscope.analysis.fleet import ordered, row_of, worst
from flowscope.cli import main as cli_main
from flowscope.lab.cluster import free_port
from flowscope.render import fleet as render
from flowscope.render.fleet import action_of
from flowscope.render.safe import console
from flowscope.sampling import load_recording
from tests.conftest import fixture_path
from tests.faults.server import FaultServer

# A per-subtask gauge read names subtask indexes: `/vertices/V/metrics?get=0.x,1.x`.
PER_SUBTASK = re.compile(r"/vertices/[0-9a-f]+/metrics\?get=\d+\.")


def test_scan_over_rest_puts_the_held_back_job_first_and_says_the_dead_cluster() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with FaultServer("healthy", start=12, speed=2.0) as calm, \
            FaultServer("skew", start=12, speed=2.0) as skewed:
        result = CliRunner().invoke(cli_main, [
            "scan", "--url", calm.url, "--url", skewed.url, "--url", dead, "--json",
            "--interval", "0.5", "--duration", "30"])
        paths = [r.path for r in skewed.log]
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "flowscope.scan/1"
    jobs = [(j["job_name"], j["verdict"], j["bottleneck"], j["cause"]) for j in doc["jobs"]]
    assert jobs == [("flowscope-skew", "backpressured", "enrich", "data-skew"),
                    ("flowscope-healthy", "healthy", None, None)]
    assert doc["jobs"][0]["diagnosis"]["schema"] == "flowscope.diagnosis/3"
    assert doc["jobs"][0]["since_s"] > 0
    (error,) = doc["errors"]
    assert error["source"] == dead and "\n" not in error["message"]
    # The job list was read once per cluster, not again for each job sampled.
    assert paths.count("/jobs/overview") == 1
    # Gauges were read aggregated per vertex, never subtask by subtask.
    assert any("/subtasks/metrics?get=" in p for p in paths)
    assert not [p for p in paths if PER_SUBTASK.search(p)]


def test_a_scan_of_a_dead_cluster_alone_exits_4() -> None:
    result = CliRunner().invoke(cli_main, [
        "scan", "--url", f"http://127.0.0.1:{free_port()}", "--duration", "5"])
    assert result.exit_code == 4, result.output
    assert "could not read" in result.output


def test_scan_needs_a_source() -> None:
    result = CliRunner(env={"FLOWSCOPE_URL": None, "FLOWSCOPE_PROMETHEUS": None}).invoke(
        cli_main, ["scan"])
    assert result.exit_code == 2 and "--url" in result.output


def test_rows_sort_by_severity_and_the_table_names_each_job() -> None:
    rows = []
    for name in ("healthy", "off-cpu", "skew", "head-cpu"):
        graph, samples = load_recording(fixture_path(name))
        rows.append(row_of(diagnose(graph, samples), "http://jm:8081"))
    rows = ordered(rows)
    assert [r.verdict for r in rows] == [Verdict.BACKPRESSURED, Verdict.BACKPRESSURED,
                                         Verdict.LIMITED, Verdict.HEALTHY]
    assert worst(rows) == Verdict.BACKPRESSURED
    # Among the backpressured, the more backpressured job first.
    assert (rows[0].backpressured or 0) >= (rows[1].backpressured or 0)
    skew = next(r for r in rows if r.job_name == "flowscope-skew")
    assert skew.subtasks and action_of(skew)
    c = console(width=200, record=True)
    c.print(render.table(rows))
    text = c.export_text()
    for r in rows:
        assert r.job_name in text
    assert "4 job(s): 2 backpressured, 1 limited, 1 healthy" in text
