#!/usr/bin/env python3
"""A fleet of Flink jobs in a real Prometheus, grown from the recorded lab runs.

Each job replays the series a real Prometheus recorded of one lab run
(tests/fixtures/prometheus/<scenario>.json.xz: the same metric names, label sets and value
patterns) under a job_id, job_name and TaskManagers of its own. Jobs follow a known mix (see
MIX): a bottlenecked job runs the `healthy` run's pattern until its onset, then its
scenario's, so each job's state has held for a known time. Subtasks past the recorded two copy
the recorded subtask that is least busy (a skewed or slow job keeps one hot subtask). Counters
(accumulate*TimeMs, numRecords*) are re-accumulated from the recorded per-second increments;
gauges take the recorded values, cycled from a per-job offset.

The series are written as OpenMetrics text, loaded with `promtool tsdb create-blocks-from
openmetrics`, and served by Debian's prometheus on 127.0.0.1 (scrape interval in its config,
no targets).

    PYTHONPATH=src python scripts/fleet_history.py --jobs 100 --serve      # serve until Ctrl-C
    PYTHONPATH=src python scripts/fleet_history.py \
        --record tests/fixtures/prometheus/fleet/fleet-20.json.xz
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import lzma
import math
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from flowscope.lab.promserver import PrometheusServer

REPO = Path(__file__).resolve().parent.parent
# The fixtures' reader and writer (tests/prom_fixtures.py) live with the tests.
sys.path.insert(0, str(REPO))
from tests.prom_fixtures import Capture  # noqa: E402

RECORDED = REPO / "tests" / "fixtures" / "prometheus"
TASK = "flink_taskmanager_job_task_"
# The task metrics a fleet job carries: the ones a scan reads, and the other time gauges.
NAMES = ("accumulateBusyTimeMs", "accumulateBackPressuredTimeMs", "accumulateIdleTimeMs",
         "busyTimeMsPerSecond", "backPressuredTimeMsPerSecond", "idleTimeMsPerSecond",
         "softBackPressuredTimeMsPerSecond", "hardBackPressuredTimeMsPerSecond",
         "numRecordsIn", "numRecordsOut", "numRecordsInPerSecond", "numRecordsOutPerSecond")
COUNTERS = {"accumulateBusyTimeMs", "accumulateBackPressuredTimeMs", "accumulateIdleTimeMs",
            "numRecordsIn", "numRecordsOut", "Status_JVM_CPU_Time",
            "Status_JVM_GarbageCollector_All_Time"}
TM = "flink_taskmanager_"
# The TaskManager metrics a fleet job's TaskManagers carry: the ones a scan reads.
TM_NAMES = ("Status_JVM_CPU_Time", "Status_JVM_CPU_Load", "Status_JVM_GarbageCollector_All_Time",
            "Status_JVM_Memory_Heap_Used", "Status_JVM_Memory_Heap_Max")
UPTIME = "flink_jobmanager_job_uptime"
MIX = ("healthy", "skew", "healthy", "slow-subtask", "compute-bound", "healthy", "off-cpu",
       "healthy")
# What a fleet scan should say of each kind: (verdict, bottleneck task, cause). A scan reads
# no stack samples, only the TaskManagers' JVM CPU time: it tells the off-CPU run's waiting
# (0.38 cores for 2 busy subtasks), and cannot tell the compute-bound run's computing from
# waiting on the shared 2-core host (1.05 cores for 2): busy, unknown.
EXPECTED = {
    "healthy": ("healthy", None, None),
    "skew": ("backpressured", "enrich", "data-skew"),
    "slow-subtask": ("backpressured", "enrich", "slow-instance"),
    "compute-bound": ("backpressured", "enrich", "busy"),
    "off-cpu": ("backpressured", "enrich", "off-cpu"),
}
SEGMENT = 59  # the recorded seconds replayed: the run's steady end


@dataclass(frozen=True)
class Job:
    index: int
    kind: str
    job_id: str
    name: str
    onset_s: float  # seconds after the job's start when its scenario begins (0: healthy)


@dataclass
class Recorded:
    """One lab run's series: (name, task_name, subtask) -> (labels, values at 1 s); its
    TaskManagers' (name, k) -> (labels, values), k = 0 for the TaskManager of the tasks'
    subtask 0, 1 for subtask 1's."""

    series: dict[tuple[str, str, int], tuple[dict[str, str], list[float]]]
    uptime_labels: dict[str, str]
    tms: dict[tuple[str, int], tuple[dict[str, str], list[float]]]


def load_runs() -> dict[str, Recorded]:
    runs = {}
    for kind in EXPECTED:
        data = json.loads(lzma.decompress((RECORDED / f"{kind}.json.xz").read_bytes()))
        start = data["meta"]["reads"]["window"][0]
        series: dict[tuple[str, str, int], tuple[dict[str, str], list[float]]] = {}
        uptime: dict[str, str] = {}
        by_tm: dict[tuple[str, str], tuple[dict[str, str], list[float]]] = {}
        for key, (status, body) in data["prometheus"].items():
            query = urllib.parse.unquote_plus(key)
            if status != 200 or "query_range" not in query or f"start={start:.3f}" not in query:
                continue
            for s in json.loads(body)["data"]["result"]:
                labels = s["metric"]
                name = labels.get("__name__", "")
                values = [float(v) for _, v in s["values"]][-SEGMENT - 1:]
                if name == UPTIME:
                    uptime = {k: v for k, v in labels.items() if k != "__name__"}
                if name.startswith(TM) and name[len(TM):] in TM_NAMES:
                    by_tm[(name[len(TM):], labels.get("tm_id", ""))] = (
                        {k: v for k, v in labels.items() if k != "__name__"}, values)
                if not name.startswith(TASK) or name[len(TASK):] not in NAMES:
                    continue
                series[(name[len(TASK):], labels["task_name"], int(labels["subtask_index"]))] = (
                    {k: v for k, v in labels.items() if k != "__name__"}, values)
        where = {sub: labels["tm_id"] for (name, _, sub), (labels, _) in series.items()
                 if name == "busyTimeMsPerSecond" and sub in (0, 1)}
        tms = {(name, k): by_tm[(name, where[k])] for (name, tm) in by_tm for k in (0, 1)
               if where.get(k) == tm}
        runs[kind] = Recorded(series, uptime, tms)
    return runs


def plan(jobs: int, span_s: float) -> list[Job]:
    """The known mix: job i is MIX[i % 8]; onsets spread over the middle of the span."""
    out = []
    for i in range(jobs):
        kind = MIX[i % len(MIX)]
        onset = 0.0 if kind == "healthy" else span_s * (0.2 + 0.15 * ((i // len(MIX)) % 4))
        job_id = hashlib.md5(f"flowscope-fleet-{i}".encode()).hexdigest()
        out.append(Job(i, kind, job_id, f"fleet_{kind.replace('-', '_')}_{i:04d}", onset))
    return out


def expected(job: Job, span_s: float) -> tuple[str, str | None, str | None, float]:
    """(verdict, bottleneck, cause, seconds held at the end) of a planned job."""
    verdict, task, cause = EXPECTED[job.kind]
    return verdict, task, cause, span_s - job.onset_s if job.onset_s else span_s


def _hex(*parts: object) -> str:
    return hashlib.md5("-".join(map(str, parts)).encode()).hexdigest()


def _steady(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)] or [0.0]


def write_openmetrics(path: Path, jobs: list[Job], runs: dict[str, Recorded], *, end: float,
                      span_s: float, scrape_s: float, parallelism: int) -> int:
    """Write every job's series over [end - span_s, end], one metric family after the other
    (OpenMetrics does not interleave them), streaming; returns the number of series."""
    steps = int(span_s // scrape_s) + 1
    start = end - (steps - 1) * scrape_s
    times = [f"{start + k * scrape_s:.3f}" for k in range(steps)]
    count = 0
    with path.open("w") as out:
        for name in NAMES:
            out.write(f"# TYPE {TASK}{name} gauge\n")
            for job in jobs:
                for head, vals in _job_series(job, name, runs, steps, scrape_s, parallelism):
                    out.write("".join(f"{head}{v:g} {t}\n"
                                      for v, t in zip(vals, times, strict=True)))
                    count += 1
        for name in TM_NAMES:
            out.write(f"# TYPE {TM}{name} gauge\n")
            for job in jobs:
                for head, vals in _tm_series(job, name, runs, steps, scrape_s):
                    out.write("".join(f"{head}{v:g} {t}\n"
                                      for v, t in zip(vals, times, strict=True)))
                    count += 1
        out.write(f"# TYPE {UPTIME} gauge\n")
        for job in jobs:
            labels = {**runs[job.kind].uptime_labels, "job_id": job.job_id,
                      "job_name": job.name, "host": f"jm_{job.index:04d}",
                      "instance": f"10.2.{job.index // 200}.{job.index % 200}:9249"}
            text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            out.write("".join(f"{UPTIME}{{{text}}} {(k * scrape_s + 30) * 1000:g} {times[k]}\n"
                              for k in range(steps)))
            count += 1
        out.write("# EOF\n")
    return count


def _job_series(job: Job, name: str, runs: dict[str, Recorded], steps: int, scrape_s: float,
                parallelism: int) -> Iterator[tuple[str, list[float]]]:
    """(the sample line's head, the values) of each of the job's series of metric `name`."""
    run, healthy = runs[job.kind], runs["healthy"]
    onset_step = int(job.onset_s // scrape_s) if job.onset_s else steps
    offset = int(_hex(job.job_id, "offset"), 16) % SEGMENT
    tms = [f"tm_{job.index:04d}_{k}:6122_{_hex(job.job_id, k)[:6]}" for k in range(2)]
    attempt = _hex(job.job_id, "attempt")
    for task in sorted({t for (_, t, _) in run.series}):
        busy = {i: sum(_steady(run.series[("busyTimeMsPerSecond", task, i)][1]))
                for i in (0, 1) if ("busyTimeMsPerSecond", task, i) in run.series}
        coolest = min(busy, key=lambda i: busy[i]) if busy else 0
        for sub in range(parallelism):
            key = (name, task, sub if sub < 2 else coolest)
            if key not in run.series:
                continue
            labels, after = run.series[key]
            before = healthy.series.get(key, (labels, after))[1]
            labels = {**labels, "job_id": job.job_id, "job_name": job.name,
                      "subtask_index": str(sub), "tm_id": tms[sub % 2],
                      "host": f"tm_{job.index:04d}_{sub % 2}",
                      "instance": f"10.1.{job.index // 200}.{job.index % 200}:9249",
                      "task_attempt_id": f"{attempt}_{labels['task_id']}_{sub}_0"}
            text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            yield (f"{TASK}{name}{{{text}}} ",
                   _replay(name in COUNTERS, before, after, onset_step, steps, offset, scrape_s))


def _tm_series(job: Job, name: str, runs: dict[str, Recorded], steps: int,
               scrape_s: float) -> Iterator[tuple[str, list[float]]]:
    """(the sample line's head, the values) of each of the job's TaskManagers' series of
    `name`: the TaskManager its subtasks k (mod 2) run on replays the run's TaskManager of
    subtask k."""
    run, healthy = runs[job.kind], runs["healthy"]
    onset_step = int(job.onset_s // scrape_s) if job.onset_s else steps
    offset = int(_hex(job.job_id, "offset"), 16) % SEGMENT
    for k in (0, 1):
        if (name, k) not in run.tms:
            continue
        labels, after = run.tms[(name, k)]
        before = healthy.tms.get((name, k), (labels, after))[1]
        labels = {**labels, "tm_id": f"tm_{job.index:04d}_{k}:6122_{_hex(job.job_id, k)[:6]}",
                  "host": f"tm_{job.index:04d}_{k}",
                  "instance": f"10.1.{job.index // 200}.{job.index % 200}:9249"}
        text = ",".join(f'{key}="{v}"' for key, v in sorted(labels.items()))
        yield (f"{TM}{name}{{{text}}} ",
               _replay(name in COUNTERS, before, after, onset_step, steps, offset, scrape_s))


def _replay(counter: bool, before: list[float], after: list[float], onset_step: int,
            steps: int, offset: int, scrape_s: float) -> list[float]:
    """A series' values at each step: the healthy run's pattern before the onset step, the
    scenario's from it; counters summed from the recorded per-second increments."""
    def gauge(values: list[float], k: int) -> float:
        vals = values[1:]
        return vals[(offset + k * int(scrape_s)) % len(vals)]

    def increments(values: list[float]) -> list[float]:
        return [max(0.0, b - a) if math.isfinite(a) and math.isfinite(b) else 0.0
                for a, b in itertools.pairwise(values)]

    if not counter:
        return [gauge(before if k < onset_step else after, k) for k in range(steps)]
    inc_before, inc_after = increments(before), increments(after)
    out, total = [], 0.0
    for k in range(steps):
        inc = inc_before if k < onset_step else inc_after
        first = offset + k * int(scrape_s)
        total += sum(inc[(first + j) % len(inc)] for j in range(int(scrape_s))) if k else 0.0
        out.append(total)
    return out


def create_blocks(openmetrics: Path, tsdb: Path) -> None:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics),
                    str(tsdb)], check=True, stdout=subprocess.DEVNULL)


@dataclass(frozen=True)
class Served:
    url: str
    pid: int


@contextmanager
def serve(tsdb: Path, scrape_s: float, *, max_samples: int | None = None
          ) -> Iterator[Served]:
    """A real Prometheus on `tsdb` (read as it is: long retention, no targets)."""
    extra = [f"--query.max-samples={max_samples}"] if max_samples is not None else []
    with PrometheusServer([], tsdb.parent, scrape_s=scrape_s, tsdb=tsdb,
                          start_timeout_s=120.0, extra_args=extra) as server:
        assert server.proc is not None
        yield Served(server.url, server.proc.pid)


def build(workdir: Path, jobs: int, *, end: float, span_s: float, scrape_s: float,
          parallelism: int, name: str = "tsdb") -> tuple[Path, int, list[Job]]:
    """Generate `jobs` jobs into a TSDB under `workdir`: (its path, series, the plan)."""
    planned = plan(jobs, span_s)
    text = workdir / f"{name}.om"
    series = write_openmetrics(text, planned, load_runs(), end=end, span_s=span_s,
                               scrape_s=scrape_s, parallelism=parallelism)
    tsdb = workdir / name
    create_blocks(text, tsdb)
    text.unlink()
    return tsdb, series, planned


def record(out: Path, jobs: int, subset: int, span_s: float, scrape_s: float,
           parallelism: int) -> None:
    """Scan a fleet of `jobs` and one of its first `subset` jobs, each from its own real
    Prometheus, the fleet at a time before it existed, and the fleet again from a Prometheus
    whose --query.max-samples refuses the whole-fleet queries; keep every answer, and the
    plan with what a scan should say of each job (meta.plan: job_id, kind, name, verdict,
    bottleneck, cause, seconds held)."""
    from flowscope.errors import JobNotFound
    from flowscope.scan import scan_prometheus

    end = float(int(time.time() // scrape_s * scrape_s))
    at = end
    lookback = span_s
    meta: dict[str, Any] = {"jobs": jobs, "subset": subset, "span_s": span_s,
                            "scrape_interval_s": scrape_s, "parallelism": parallelism,
                            "at": at, "window_s": 120.0, "lookback_s": lookback}
    answers: dict[str, dict[str, list[Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="flowscope-fleet-") as tmp:
        work = Path(tmp)
        for label, n in (("fleet", jobs), ("subset", subset)):
            tsdb, series, planned = build(work, n, end=end, span_s=span_s, scrape_s=scrape_s,
                                          parallelism=parallelism, name=label)
            meta[f"{label}_series"] = series
            with serve(tsdb, scrape_s) as served:
                url = served.url
                capture = Capture()
                scan = scan_prometheus(url, at=at, window_s=120.0, lookback_s=lookback,
                                       transport=capture)
                answers[label] = capture.answers
                print(f"{label}: {n} jobs, {series} series, {scan.queries} queries, "
                      f"{scan.bytes_in} bytes", flush=True)
                version = httpx.get(f"{url}/api/v1/status/buildinfo").json()["data"]["version"]
                meta["prometheus_version"] = version
                if label == "fleet":  # a time before the fleet existed: no job to find
                    capture = Capture()
                    meta["before"] = at - 30 * 86400
                    with suppress(JobNotFound):
                        scan_prometheus(url, at=meta["before"], window_s=120.0,
                                        lookback_s=lookback, transport=capture)
                    answers["before"] = capture.answers
            if label == "fleet":
                meta["plan"] = [[j.job_id, j.kind, j.name, *expected(j, span_s)]
                                for j in planned]
                limit = refusing_limit(tsdb, scrape_s, at, lookback)
                meta["max_samples"] = limit
                with serve(tsdb, scrape_s, max_samples=limit) as served:
                    url = served.url
                    capture = Capture()
                    scan = scan_prometheus(url, at=at, window_s=120.0, lookback_s=lookback,
                                           transport=capture)
                    answers["refusing"] = capture.answers
                    print(f"refusing (--query.max-samples={limit}): {scan.queries} queries; "
                          f"{scan.notes}", flush=True)
    out.write_bytes(lzma.compress(json.dumps({"meta": meta, "prometheus": answers},
                                             separators=(",", ":")).encode(),
                                  preset=9 | lzma.PRESET_EXTREME))
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


def refusing_limit(tsdb: Path, scrape_s: float, at: float, lookback: float) -> int:
    """A --query.max-samples that refuses the scan's biggest whole-fleet query (the recent
    history, a range query) but passes it for half of the jobs: the largest power of two the
    full query exceeds, found against the server."""
    from flowscope.analysis.engine import DEFAULT_HISTORY_S
    from flowscope.flink import fleet, fleetql

    step = max(fleet.STEP_S, scrape_s)
    query = fleetql.steps_query("", max(step, 2 * scrape_s), None)
    steps = int(DEFAULT_HISTORY_S // step)
    params = {"query": query, "start": at - steps * step, "end": at, "step": step}
    limit = 1 << 20
    while limit > 16:
        with serve(tsdb, scrape_s, max_samples=limit) as served:
            body = httpx.get(f"{served.url}/api/v1/query_range", params=params).json()
        if body["status"] == "error":
            return limit
        limit //= 2
    raise SystemExit("no --query.max-samples refuses the scan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--subset", type=int, default=5, help="with --record: the smaller fleet")
    ap.add_argument("--parallelism", type=int, default=2)
    ap.add_argument("--span", type=float, default=1800.0, help="seconds of history")
    ap.add_argument("--scrape", type=float, default=15.0, help="scrape interval, s")
    ap.add_argument("--record", type=Path, metavar="FIXTURE")
    ap.add_argument("--serve", action="store_true", help="serve the fleet until Ctrl-C")
    args = ap.parse_args(argv)
    if args.record:
        record(args.record, args.jobs, args.subset, args.span, args.scrape, args.parallelism)
        return 0
    end = float(int(time.time() // args.scrape * args.scrape))
    with tempfile.TemporaryDirectory(prefix="flowscope-fleet-") as tmp:
        tsdb, series, _ = build(Path(tmp), args.jobs, end=end, span_s=args.span,
                                scrape_s=args.scrape, parallelism=args.parallelism)
        print(f"{args.jobs} jobs, {series} series, ending at {end:.0f}", flush=True)
        if args.serve:
            with serve(tsdb, args.scrape) as served:
                print(f"Prometheus at {served.url} (Ctrl-C stops it)", flush=True)
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
