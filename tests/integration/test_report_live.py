"""`flowscope report --url`: sample a live job for a while, record it, and write the report."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flowscope.api import load_recording

pytestmark = pytest.mark.cluster


def test_report_from_a_live_job(lab_cluster, runner, tmp_path):
    job_id = runner.submit("healthy")
    try:
        runner.wait_running(job_id)
        out, rec = tmp_path / "live.html", tmp_path / "live.fsrec"
        proc = subprocess.run(
            [sys.executable, "-m", "flowscope.cli", "report", "--url", lab_cluster.url,
             "--job", job_id, "--duration", "12", "--interval", "1", "--record", str(rec),
             "-o", str(out)],
            capture_output=True, text=True, timeout=120, check=False,
        )
    finally:
        runner.cancel(job_id)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stderr
    html = out.read_text()
    graph, samples = load_recording(rec)
    assert graph.job_id == job_id and len(samples) >= 8
    assert graph.name in html and lab_cluster.url in html
    assert 'class="series"' in html
