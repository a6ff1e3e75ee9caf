"""A real Prometheus server (Debian's) scrapes `flowscope serve`'s /metrics, token included, and
answers a PromQL query for the bottleneck."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import fixture_path
from tests.integration.test_dashboard_browser import _free_port, serve

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="needs Debian's prometheus package")

TOKEN = "scrape-token"


def _query(base: str, promql: str) -> list[dict]:
    body = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_scrapes_the_bottleneck(tmp_path: Path) -> None:
    with serve("--from", str(fixture_path("skew")), token=TOKEN) as served:
        target = served.url.split("//", 1)[1].split("/", 1)[0]
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: flowscope\n"
            "    authorization:\n"
            f"      credentials: {TOKEN}\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        prom = subprocess.Popen(
            [str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            deadline = time.monotonic() + 90
            found: list[dict] = []
            while time.monotonic() < deadline and not found:
                time.sleep(1)
                if prom.poll() is not None:
                    pytest.fail(f"prometheus exited: {prom.stderr.read() if prom.stderr else ''}")
                try:
                    found = _query(base, "flowscope_task_bottleneck == 1")
                except httpx.HTTPError:
                    continue
            assert found, "Prometheus never saw a bottleneck"
            labels = found[0]["metric"]
            assert (labels["vertex"], labels["cause"]) == ("enrich", "data-skew")
            assert labels["job_name"] == "flowscope-skew"
            (up,) = _query(base, 'up{job="flowscope"}')
            assert up["value"][1] == "1"  # the scrape with the token succeeded
            busy = _query(base, 'flowscope_task_busy_ratio{vertex="enrich"}')
            assert float(busy[0]["value"][1]) > 0.9
        finally:
            prom.terminate()
            try:
                prom.wait(timeout=20)
            except subprocess.TimeoutExpired:
                prom.kill()
