#!/usr/bin/env python3
"""The fleet scan at scale: `scan_prometheus` against a real Prometheus holding N jobs.

For each fleet size this grows the jobs with scripts/fleet_history.py (the recorded lab runs'
series under new ids, a known mix of bottlenecked and healthy jobs, 30 min of history at a
15 s scrape interval), loads them with promtool, starts Debian's prometheus on the TSDB, and
runs the scan `--repeat` times, each in a child process of its own, measuring:

  queries, bytes     HTTP requests the scan sent and response bytes it received (gzip)
  scan s             wall time of scan_prometheus (median of the runs; min and max beside)
  server CPU s       the Prometheus process's CPU time during one scan (user + system)
  peak RSS           the scan's child process (VmHWM at its exit)
  verdicts           the share of jobs whose verdict, bottleneck and cause match the mix
  held               the share whose "for how long" is within two history steps of the plan

    PYTHONPATH=src python bench/bench_fleet.py                       # 10, 100, 1000 jobs
    PYTHONPATH=src python bench/bench_fleet.py --jobs 10 100 1000 --out bench/results/fleet.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "scripts"))

import fleet_history as fh  # noqa: E402

SPAN_S = 1800.0
SCRAPE_S = 15.0
WINDOW_S = 120.0


def child(url: str, at: float, jobs: int) -> int:
    """One scan, in this process: print its measures as JSON."""
    from flowscope.scan import scan_prometheus

    started = time.perf_counter()
    scan = scan_prometheus(url, at=at, window_s=WINDOW_S, lookback_s=SPAN_S)
    seconds = time.perf_counter() - started
    planned = {j.job_id: j for j in fh.plan(jobs, SPAN_S)}
    step = SPAN_S / 60
    match = held = 0
    for d in scan.diagnoses:
        want = fh.expected(planned[d.job_id], SPAN_S)
        got = (str(d.verdict), d.bottlenecks[0].vertex_name if d.bottlenecks else None,
               str(d.bottlenecks[0].cause) if d.bottlenecks else None)
        match += got == want[:3]
        since = scan.since_s.get(d.job_id)
        held += since is not None and abs(since - want[3]) <= 2 * step
    print(json.dumps({
        "seconds": seconds, "queries": scan.queries, "bytes": scan.bytes_in,
        "jobs_seen": len(scan.diagnoses), "match": match, "held": held,
        "rss_mib": peak_rss_mib(),
        "notes": scan.notes}))
    return 0


def peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM, which starts afresh at exec (ru_maxrss keeps the
    forking parent's, so a child forked from a big parent would read as big)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(jobs: int, repeat: int, workdir: Path) -> dict[str, Any]:
    end = float(int(time.time() // SCRAPE_S * SCRAPE_S))
    started = time.perf_counter()
    tsdb, series, _ = fh.build(workdir, jobs, end=end, span_s=SPAN_S, scrape_s=SCRAPE_S,
                               parallelism=2, name=f"tsdb-{jobs}")
    built_s = time.perf_counter() - started
    runs = []
    with fh.serve(tsdb, SCRAPE_S) as served:
        for _ in range(repeat):
            load = os.getloadavg()[0]
            before = cpu_s(served.pid)
            out = subprocess.run(
                [sys.executable, __file__, "--child", served.url, str(end), str(jobs)],
                check=True, capture_output=True, text=True,
                env={**os.environ, "PYTHONPATH": str(REPO / "src")})
            run = json.loads(out.stdout.strip().splitlines()[-1])
            run["server_cpu_s"] = cpu_s(served.pid) - before
            run["load"] = load
            runs.append(run)
            print(f"  {jobs} jobs: {run['seconds']:.2f} s, {run['queries']} queries, "
                  f"{run['bytes'] / 1e3:.0f} kB, server CPU {run['server_cpu_s']:.2f} s, "
                  f"load {load:.1f}", flush=True)
    return {"jobs": jobs, "series": series, "built_s": built_s, "runs": runs,
            "tsdb_mib": sum(f.stat().st_size for f in tsdb.rglob("*") if f.is_file()) / 2**20}


def table(results: list[dict[str, Any]], argv: list[str], took_s: float) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    lines = [
        f"# The fleet scan at scale ({now}, commit {commit})", "",
        f"{os.cpu_count()} cores, CPython {platform.python_version()}, Prometheus "
        f"{version()}; `python bench/bench_fleet.py {' '.join(argv)}` took {took_s:.0f} s.",
        f"Each fleet: 30 min of history at a {SCRAPE_S:g} s scrape interval, parallelism 2, "
        "4 tasks per job, 12 task metrics per subtask plus the job's uptime "
        "(scripts/fleet_history.py); the scan at the last scrape, window "
        f"{WINDOW_S:g} s, lookback {SPAN_S:g} s (60 history steps). Scan s: median of the "
        "runs (min-max); each run in a child process of its own.", "",
        "| jobs | series | queries | kB in | scan s | server CPU s / scan | peak RSS, MiB "
        "| verdicts match | held within 2 steps | load (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        runs = r["runs"]
        secs = [x["seconds"] for x in runs]
        last = runs[-1]
        lines.append(
            f"| {r['jobs']:,} | {r['series']:,} | {last['queries']} | "
            f"{statistics.median(x['bytes'] for x in runs) / 1e3:,.0f} | "
            f"{statistics.median(secs):.2f} ({min(secs):.2f}-{max(secs):.2f}) | "
            f"{statistics.median(x['server_cpu_s'] for x in runs):.2f} | "
            f"{max(x['rss_mib'] for x in runs):.0f} | "
            f"{last['match']}/{last['jobs_seen']} ({last['match'] / r['jobs']:.0%}) | "
            f"{last['held']}/{last['jobs_seen']} | "
            f"{statistics.median(x['load'] for x in runs):.1f} |")
    lines += ["", "Building each fleet (generate, promtool, TSDB size):", ""]
    lines += [f"- {r['jobs']:,} jobs: {r['built_s']:.0f} s, {r['tsdb_mib']:.0f} MiB"
              for r in results]
    notes = sorted({n for r in results for x in r["runs"] for n in x["notes"]})
    if notes:
        lines += ["", "The scans' notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def version() -> str:
    out = subprocess.run(["prometheus", "--version"], capture_output=True, text=True)
    return (out.stdout or out.stderr).split()[2] if (out.stdout or out.stderr) else "?"


def main(argv: list[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["--child"]:
        return child(args_in[1], float(args_in[2]), int(args_in[3]))
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(args_in)
    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="flowscope-bench-fleet-") as tmp:
        for n in args.jobs:
            print(f"{n} jobs: building the fleet", flush=True)
            results.append(measure(n, args.repeat, Path(tmp)))
    text = table(results, args_in, time.perf_counter() - started)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
