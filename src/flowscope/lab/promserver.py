"""A real Prometheus server (Debian's `prometheus` binary) scraping the lab cluster's
PrometheusReporter, for the history the Prometheus source and `scan --prometheus` read.

    with LocalCluster(ClusterSpec(prometheus=True)) as cluster:
        with PrometheusServer(reporter_targets(), workdir) as prom:
            ... prom.url ...
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from flowscope.lab.cluster import LabError, free_port

# The lab's reporter port range (`metrics.reporter.prom.port`), one port per JVM.
REPORTER_PORTS = range(9250, 9291)


def reporter_range(host: str = "127.0.0.1") -> list[str]:
    """Every port of the lab's reporter range as a target: a JVM that starts (or restarts)
    later is scraped too."""
    return [f"{host}:{port}" for port in REPORTER_PORTS]


def reporter_targets(host: str = "127.0.0.1") -> list[str]:
    """`host:port` of every PrometheusReporter answering in the lab's port range."""
    out = []
    for port in REPORTER_PORTS:
        try:
            httpx.get(f"http://{host}:{port}/metrics", timeout=2).raise_for_status()
            out.append(f"{host}:{port}")
        except httpx.HTTPError:
            continue
    return out


class PrometheusServer:
    """Prometheus on a free port of 127.0.0.1, scraping `targets` every `scrape_s` seconds
    (scrape job `flink`), its TSDB in `workdir` (or `tsdb`). A context manager: started on
    entry once every target is up, stopped on exit."""

    def __init__(self, targets: list[str], workdir: Path, *, scrape_s: float = 1.0,
                 tsdb: Path | None = None, start_timeout_s: float = 60.0,
                 expect_up: int | None = None, extra_args: Sequence[str] = ()) -> None:
        self.targets = targets
        # Targets that must be up before start() returns (default: all of them). Scraping a
        # whole port range catches a JVM whose reporter comes up later.
        self.expect_up = len(targets) if expect_up is None else expect_up
        self.extra_args = list(extra_args)  # e.g. --query.max-samples=N
        self.workdir = workdir
        self.scrape_s = scrape_s
        self.tsdb = tsdb or workdir / "tsdb"
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PrometheusServer:
        binary = shutil.which("prometheus")
        if binary is None:
            raise LabError("needs Debian's prometheus package (apt-get install prometheus)")
        interval = f"{self.scrape_s:g}s"
        config = self.workdir / "prometheus.yml"
        config.write_text(
            f"global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n"
            f"scrape_configs:\n  - job_name: flink\n    scrape_interval: {interval}\n"
            f"    static_configs:\n      - targets: {json.dumps(self.targets)}\n")
        self.port = free_port()
        self.proc = subprocess.Popen(
            # A long retention: a TSDB kept or backfilled with old times is read as it is.
            [binary, f"--config.file={config}", f"--storage.tsdb.path={self.tsdb}",
             "--storage.tsdb.retention.time=3650d",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
             *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            try:
                up = httpx.get(f"{self.url}/api/v1/query", params={"query": "up == 1"},
                               timeout=5).json()
                if len(up["data"]["result"]) >= self.expect_up:
                    return self
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise LabError(f"prometheus exited: {err.strip()[-300:]}")
            time.sleep(0.5)
        self.stop()
        raise LabError(f"prometheus did not scrape {self.expect_up} target(s) within "
                       f"{self.start_timeout_s:.0f} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
