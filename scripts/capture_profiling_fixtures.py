#!/usr/bin/env python3
"""Capture `flowscope profile` runs on a real local Flink into tests/fixtures/profiling/.

Each scenario is submitted, profiled once through the real code path (quick diagnosis, flame
graphs, thread dumps, checkpoint details, cluster config) and cancelled. Every REST request and
its raw response, in order, goes to `<scenario>.json.xz`:

    {"meta": {"scenario", "url", "job_id", "flink_version", "captured_at", "profile_from", ...},
     "responses": [[path, status, body, t], ...]}     # t: epoch seconds of the answer

`profile_from` is the index of the first response after the diagnosis polls.

Unit tests feed these responses to the pure analyses and replay whole profile runs from them.
xz keeps the file small (thread dumps repeat almost every line). Regenerate after changing the
scenarios or the requests a profile makes:

    python scripts/capture_profiling_fixtures.py                      # all, own cluster
    python scripts/capture_profiling_fixtures.py chained --url http://localhost:8081
    python scripts/capture_profiling_fixtures.py python-process python-thread
    python scripts/capture_profiling_fixtures.py --disabled   # flame graphs switched off

`python-process` / `python-thread` run scripts/python_udf_job.py (a PyFlink map that burns CPU)
in PyFlink's process (Beam worker) and thread (pemja) modes. `--disabled` starts a small
cluster with `rest.flamegraph.enabled: false` and keeps what the flame graph endpoint answers.

CPU-heavy scenarios (compute-bound, chained) run one at a time and only as long as needed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import lzma
import os
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from flowscope.flink.rest import FlinkRestSource
from flowscope.lab.cluster import (
    ClusterSpec,
    LabError,
    LocalCluster,
    flink_home,
    flink_version,
    running_cluster,
)
from flowscope.lab.scenarios import SCENARIOS, ScenarioRunner
from flowscope.profiler import ProfileOptions, profile_live
from flowscope.render.words.profile import conclusion

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "profiling"
DEFAULT = ("compute-bound", "chained", "off-cpu", "healthy")
PYTHON_MODES = {"python-process": "process", "python-thread": "thread"}
PYTHON_JOB = Path(__file__).resolve().parent / "python_udf_job.py"


class CapturingTransport(httpx.BaseTransport):
    """Passes requests through and keeps (path with query, status, parsed body, time)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.responses: list[list[Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = self.inner.handle_request(request)
        resp.read()
        path = request.url.raw_path.decode()
        try:
            body: Any = json.loads(resp.content) if resp.content else None
        except ValueError:
            body = resp.content.decode(errors="replace")
        self.responses.append([path, resp.status_code, body, round(time.time(), 3)])
        return resp

    def close(self) -> None:
        self.inner.close()


def submit_python(runner: ScenarioRunner, name: str) -> str:
    """Run scripts/python_udf_job.py detached in the given PyFlink mode; returns the job id."""
    env = runner.cluster._env()
    env["PYFLINK_CLIENT_EXECUTABLE"] = sys.executable
    before = set(runner.running_job_ids())
    run = subprocess.run(
        [str(flink_home() / "bin" / "flink"), "run", "-d", "-py", str(PYTHON_JOB),
         "-pyclientexec", sys.executable, "-pyexec", sys.executable, "--",
         f"name=flowscope-{name}", f"mode={PYTHON_MODES[name]}"],
        env=env, capture_output=True, text=True, timeout=180,
    )
    if run.returncode != 0:
        raise LabError(f"submitting {name} failed:\n{run.stdout[-1500:]}{run.stderr[-1500:]}")
    for line in run.stdout.splitlines():
        if "JobID" in line:
            return line.split()[-1].strip()
    new = set(runner.running_job_ids()) - before
    if len(new) == 1:
        return new.pop()
    raise LabError(f"no job id for {name} in:\n{run.stdout[-800:]}")


def save(name: str, meta: dict[str, Any], responses: list[list[Any]]) -> Path:
    out = OUT / f"{name}.json.xz"
    data = json.dumps({"meta": meta, "responses": responses}, separators=(",", ":"))
    out.write_bytes(lzma.compress(data.encode(), preset=9 | lzma.PRESET_EXTREME))
    return out


def capture(runner: ScenarioRunner, url: str, name: str, settle_s: float, rounds: int) -> Path:
    submit: Callable[[], str] = (
        (lambda: submit_python(runner, name)) if name in PYTHON_MODES
        else (lambda: runner.submit(name))
    )
    job_id = submit()
    try:
        runner.wait_running(job_id)
        # Flink reports start-up values for 5-20 s; the diagnosis waits for real ones anyway,
        # this only keeps its polls (and the fixture) short.
        time.sleep(settle_s)
        transport = CapturingTransport(httpx.HTTPTransport())
        started = time.time()
        marks: dict[str, int] = {}

        def stage(message: str) -> None:
            if message.startswith("profiling"):  # the diagnosis polls end here
                marks["profile_from"] = len(transport.responses)

        report = profile_live(
            url, job_id, transport=transport, diagnose_s=40.0, on_stage=stage,
            options=ProfileOptions(thread_samples=rounds, thread_delay_s=0.2),
        )
    finally:
        runner.cancel(job_id)
    meta = {
        "scenario": name, "url": url, "job_id": job_id, "flink_version": flink_version(),
        "captured_at": started, "finished_at": time.time(),
        "target": report.target.vertex_name if report.target else None,
        "bottlenecks": report.bottlenecks, "thread_dump_rounds": rounds,
        "profile_from": marks["profile_from"],
    }
    out = save(name, meta, transport.responses)
    print(f"  {name}: {len(transport.responses)} responses, {out.stat().st_size / 1024:.0f} KiB; "
          f"target {meta['target']}, bottlenecks {report.bottlenecks}", flush=True)
    for said in report.conclusions:
        print(f"    {conclusion(said)}", flush=True)
    return out


def capture_disabled() -> Path:
    """What the flame graph endpoint answers on a cluster with flame graphs switched off."""
    spec = ClusterSpec(taskmanagers=1, slots_per_taskmanager=2,
                       extra={"rest.flamegraph.enabled": "false"})
    with running_cluster(spec, progress=print) as cluster:
        runner = ScenarioRunner(cluster)
        job_id = runner.submit("healthy")
        try:
            runner.wait_running(job_id)
            transport = CapturingTransport(httpx.HTTPTransport())
            with FlinkRestSource(cluster.url, transport=transport) as source:
                job = source.get(f"/jobs/{job_id}")
                vid = job["vertices"][1]["id"]
                source.get(f"/jobs/{job_id}/vertices/{vid}/flamegraph?type=on_cpu")
        finally:
            runner.cancel(job_id)
            runner.close()
    meta = {"scenario": "healthy", "url": cluster.url, "job_id": job_id,
            "flink_version": flink_version(), "captured_at": transport.responses[0][3],
            "rest.flamegraph.enabled": False}
    out = save("flamegraph-disabled", meta, transport.responses)
    print(f"  flamegraph-disabled: {out.stat().st_size} bytes", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("scenarios", nargs="*", help=f"scenario names (default: {' '.join(DEFAULT)})")
    ap.add_argument("--url", help="use this running lab cluster instead of starting one")
    ap.add_argument("--settle", type=float, default=12.0, help="seconds before profiling")
    ap.add_argument("--rounds", type=int, default=8, help="thread-dump rounds per scenario")
    ap.add_argument("--disabled", action="store_true",
                    help="only capture the answer of a cluster with flame graphs disabled")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.disabled:
        capture_disabled()
        return 0
    names = args.scenarios or list(DEFAULT)
    unknown = [n for n in names if n not in SCENARIOS and n not in PYTHON_MODES]
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(unknown)}")
    if "python-thread" in names and not args.url:
        # Thread mode runs CPython inside the TaskManager (pemja); that interpreter starts with
        # the base Python's paths, not this virtualenv's, and would not find pemja/pyflink.
        site = sysconfig.get_paths()["purelib"]
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (site, os.environ.get("PYTHONPATH", "")) if p)
    with contextlib.ExitStack() as stack:
        if args.url:
            cluster = LocalCluster()
            cluster.rest_port = int(args.url.rsplit(":", 1)[1])
        else:
            cluster = stack.enter_context(running_cluster(
                ClusterSpec(slots_per_taskmanager=8, latency_interval_ms=1000), progress=print))
        runner = ScenarioRunner(cluster)
        stack.callback(runner.close)
        start = time.monotonic()
        for name in names:
            print(f"capturing {name} ...", flush=True)
            capture(runner, cluster.url, name, args.settle, args.rounds)
        total = sum(p.stat().st_size for p in OUT.glob("*.json.xz"))
        print(f"done in {time.monotonic() - start:.0f} s; fixtures {total / 1024:.0f} KiB",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
