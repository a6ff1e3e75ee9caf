#!/usr/bin/env python3
"""Record Prometheus answers about lab scenarios into tests/fixtures/prometheus/.

Starts the lab cluster with Flink's PrometheusReporter and a HistoryServer, and a real
Prometheus (Debian's binary, its TSDB in a temporary directory, on 127.0.0.1) scraping the
reporter every second. Each scenario runs while the REST poller records it (as
scripts/record_fixtures.py does) into `<scenario>.fsrec`; then flowscope's Prometheus source
reads the same run through a capturing transport, and the job is cancelled and its graph read
back from the HistoryServer. `<scenario>.json.xz` holds every answer:

    {"meta": {"scenario", "job_id", "flink_version", "prometheus_version", "scrape_interval_s",
              "reads": {"window": [start, end], "refused": [start, end],
                        "before": [start, end]},
              "gap": [first, last] or null, "rest": "<scenario>.fsrec"},
     "prometheus": {path: [status, body]},       # every request the source made
     "history": {path: [status, body]},          # the HistoryServer's /jobs/:jid and /plan
     "flink_api_v1": [status, body]}             # what Flink's REST API answers to /api/v1/...

`window` covers the run (from 30 s before submission); `refused` reaches 12000 s back at a 1 s
step, which Prometheus refuses (11,000 points per series at most), so the source splits it;
`before` ends before the job existed. With `--gap` Prometheus is paused (SIGSTOP) for 8 s in
the middle of the second phase, a real hole in its data.

    flock /tmp/flowscope-flink.lock python scripts/record_prometheus_fixtures.py
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

from flowscope.analysis.engine import diagnose
from flowscope.errors import JobNotFound
from flowscope.flink.historyserver import job_graph
from flowscope.flink.prometheus import PrometheusSource
from flowscope.lab.cluster import ClusterSpec, LocalCluster, flink_version
from flowscope.lab.promserver import PrometheusServer, reporter_targets
from flowscope.lab.scenarios import SCENARIOS, ScenarioRunner
from flowscope.sampling import LiveSession, apply_stack_requests, load_recording

# The fixtures' reader and writer (tests/prom_fixtures.py) live with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.prom_fixtures import Capture

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "prometheus"
PHASES = (("compute-bound",), ("skew", "slow-subtask", "off-cpu", "healthy"))
LEAD_S = 30.0
REFUSED_S = 12000.0


@contextmanager
def prometheus(targets: list[str], workdir: Path, tsdb: Path | None = None
               ) -> Iterator[tuple[str, subprocess.Popen[str] | None]]:
    with PrometheusServer(targets, workdir, tsdb=tsdb) as server:
        yield server.url, server.proc


def record_rest(url: str, job_id: str, out: Path, seconds: float) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(out) + suffix).unlink(missing_ok=True)
    session = LiveSession(url, job_id, record_to=out)
    samples = []
    try:
        for graph, sample in session.samples(interval_s=1.0, duration_s=seconds):
            samples.append(sample)
            apply_stack_requests(session, diagnose(graph, samples))
    finally:
        session.close()
    import sqlite3

    conn = sqlite3.connect(out)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("VACUUM")
    conn.close()


def windows(submitted: float, end: float) -> dict[str, list[float]]:
    return {"window": [submitted - LEAD_S, end], "refused": [end - REFUSED_S, end],
            "before": [submitted - 900, submitted - 600]}


def read_prometheus(prom_url: str, job_id: str, reads: dict[str, list[float]]
                    ) -> dict[str, list[Any]]:
    capture = Capture()
    for name in ("window", "refused"):
        start, stop = reads[name]
        with PrometheusSource(prom_url, transport=capture) as src:
            job = src.select_job(job_id, start, stop)
            src.history(job, start, stop)
    with PrometheusSource(prom_url, transport=capture) as src, suppress(JobNotFound):
        src.select_job(job_id, *reads["before"])
    return capture.answers


def run_scenario(cluster: LocalCluster, runner: ScenarioRunner, prom_url: str, name: str,
                 seconds: float, gap: list[float], out_dir: Path) -> None:
    submitted = time.time()
    job_id = runner.submit(SCENARIOS[name])
    try:
        record_rest(cluster.url, job_id, out_dir / f"{name}.fsrec", seconds)
        end = time.time()
        reads = windows(submitted, end)
        try:
            answers = read_prometheus(prom_url, job_id, reads)
        except Exception as exc:  # the run stays useful: --reread answers from the kept TSDB
            print(f"  {name}: reading Prometheus failed: {exc!r}", flush=True)
            answers = {}
    finally:
        runner.cancel(job_id)
    history = Capture()
    deadline = time.monotonic() + 60
    while True:
        try:
            job_graph(cluster.history_url, job_id, transport=history)
            break
        except JobNotFound:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
    flink = httpx.get(f"{cluster.url}/api/v1/query", params={"query": "up"})
    fixture = {
        "meta": {
            "scenario": name, "job_id": job_id, "flink_version": flink_version(),
            "prometheus_version": httpx.get(f"{prom_url}/api/v1/status/buildinfo")
            .json()["data"]["version"],
            "scrape_interval_s": 1.0, "reads": reads, "gap": gap or None,
            "rest": f"{name}.fsrec", "recorded_at": end,
        },
        "prometheus": answers,
        "history": {k: v for k, v in history.answers.items() if v[0] == 200},
        "flink_api_v1": [flink.status_code, flink.text],
    }
    save(out_dir / f"{name}.json.xz", fixture)
    if answers:
        report(name, out_dir)


def save(path: Path, fixture: dict[str, Any]) -> None:
    path.write_bytes(lzma.compress(json.dumps(fixture, separators=(",", ":")).encode(),
                                   preset=9 | lzma.PRESET_EXTREME))


def reread(tsdb: Path, out_dir: Path, only: list[str] | None) -> int:
    """Answer the fixtures' reads again from a kept TSDB (no Flink needed)."""
    with tempfile.TemporaryDirectory(prefix="flowscope-prom-") as tmp, \
            prometheus([], Path(tmp), tsdb) as (prom_url, _):
        for path in sorted(out_dir.glob("*.json.xz")):
            fixture = json.loads(lzma.decompress(path.read_bytes()))
            meta = fixture["meta"]
            if only and meta["scenario"] not in only:
                continue
            fixture["prometheus"] = read_prometheus(prom_url, meta["job_id"], meta["reads"])
            save(path, fixture)
            report(meta["scenario"], out_dir)
    return 0


def report(name: str, out_dir: Path) -> None:
    """Print the REST and Prometheus verdicts of the run side by side."""
    from tests.prom_fixtures import PromFixture

    fx = PromFixture(out_dir / f"{name}.json.xz")
    graph, rest_samples = load_recording(out_dir / f"{name}.fsrec")
    rest = diagnose(graph, rest_samples)
    prom = diagnose(graph, fx.history().samples)
    size = (out_dir / f"{name}.json.xz").stat().st_size / 1024
    print(f"  {name}: REST {rest.verdict} {[(f.vertex_name, f.cause) for f in rest.bottlenecks]}"
          f" | Prometheus {prom.verdict} {[(f.vertex_name, f.cause) for f in prom.bottlenecks]}"
          f" ({size:.0f} KiB)", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=70.0, help="REST recording per scenario")
    ap.add_argument("--gap", action="store_true", help="pause Prometheus 8 s in phase 2")
    ap.add_argument("--only", nargs="*", help="scenario names (default: all phases)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--keep-tsdb", type=Path, help="keep Prometheus's data in this directory")
    ap.add_argument("--reread", type=Path, metavar="TSDB",
                    help="no Flink: answer the existing fixtures' reads again from a kept TSDB")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.reread:
        return reread(args.reread, args.out, args.only)
    spec = ClusterSpec(slots_per_taskmanager=10, prometheus=True, history_server=True)
    with tempfile.TemporaryDirectory(prefix="flowscope-prom-") as tmp, \
            LocalCluster(spec) as cluster:
        targets = reporter_targets()
        print(f"Flink on {cluster.url}, HistoryServer {cluster.history_url}, reporter "
              f"{', '.join(targets)}", flush=True)
        with prometheus(targets, Path(tmp), args.keep_tsdb) as (prom_url, proc):
            runner = ScenarioRunner(cluster)
            try:
                for phase_no, phase in enumerate(PHASES):
                    chosen = [n for n in phase if not args.only or n in args.only]
                    gap: list[float] = []
                    pauser = None
                    if args.gap and phase_no == 1 and chosen:
                        pauser = threading.Thread(target=pause, args=(proc, gap))
                        pauser.start()
                    threads = [threading.Thread(target=run_scenario, args=(
                        cluster, runner, prom_url, n, args.seconds, gap, args.out))
                        for n in chosen]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    if pauser:
                        pauser.join()
            finally:
                runner.close()
    return 0


def pause(proc: subprocess.Popen[str], gap: list[float]) -> None:
    """Stop Prometheus for 8 s, 40 s from now: no scrapes, no stale markers, a real hole."""
    time.sleep(40)
    gap.append(time.time())
    os.kill(proc.pid, signal.SIGSTOP)
    time.sleep(8)
    os.kill(proc.pid, signal.SIGCONT)
    gap.append(time.time())


if __name__ == "__main__":
    sys.exit(main())
