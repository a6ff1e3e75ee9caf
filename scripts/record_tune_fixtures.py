#!/usr/bin/env python3
"""Record `flowscope tune` runs from real local Flink clusters into tests/fixtures/tune/.

Unit tests replay these recordings (every REST answer, the journal in the recording and
beside it as JSON lines):

  <tune scenario>.fsrec / .jsonl   each of flowscope.lab.tunelab's TUNE_SCENARIOS, tuned on
                                   a cluster with the adaptive scheduler (observe, plan, and
                                   apply, verify, roll back where the scenario says)
  default-scheduler.fsrec          the off-cpu job on a cluster with Flink's default scheduler:
                                   its answer to resource-requirements (500), no write
  same-offcpu-a.fsrec, -b.fsrec    the tuned off-cpu job (enrich at 5) run twice with the same
                                   parallelism, for the noise band of `flowscope diff`, each
                                   recorded for 70 s once 45 s old
  same-skew-a.fsrec, -b.fsrec      the skew job run twice, likewise (a backpressured job)

Run under the lab's lock (one Flink cluster on the machine at a time):

    flock /tmp/flowscope-flink.lock python scripts/record_tune_fixtures.py [name ...]
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import sys
import time
from pathlib import Path

from flowscope.analysis.engine import diagnose
from flowscope.lab.cluster import ClusterSpec, running_cluster
from flowscope.lab.scenarios import ScenarioRunner
from flowscope.lab.tunelab import TUNE_SCENARIOS, run_tune
from flowscope.sampling import LiveSession, apply_stack_requests

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tune"
# name -> (lab scenario, its arguments): the same job twice, same parallelism.
PAIRS = {"same-offcpu": ("off-cpu", {"enrich-parallelism": "5"}), "same-skew": ("skew", {})}
PAIR_SECONDS = 70.0
# A pair's job is left to fill its buffers first: the noise of a steady job is measured.
PAIR_WARM_UP_S = 45.0


def compact(path: Path) -> None:
    """Fold the WAL into the file: a fixture is one self-contained file."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("VACUUM")


def fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


def record_plain(runner: ScenarioRunner, url: str, scenario: str, args: dict[str, str],
                 out: Path, seconds: float) -> None:
    """Poll a job as `flowscope diagnose --record` does, for `seconds`, once it is warm."""
    job_id = runner.submit(scenario, **args)
    runner.wait_running(job_id)
    time.sleep(PAIR_WARM_UP_S)
    session = LiveSession(url, job_id, record_to=fresh(out))
    samples = []
    try:
        for graph, sample in session.samples(interval_s=1.0, duration_s=seconds):
            samples.append(sample)
            apply_stack_requests(session, diagnose(graph, samples))
    finally:
        session.close()
        runner.cancel(job_id)
    compact(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("names", nargs="*", help="what to record (default: everything)")
    args = ap.parse_args(argv)
    everything = [*TUNE_SCENARIOS, "default-scheduler", *PAIRS]
    names = args.names or everything
    unknown = set(names) - set(everything)
    if unknown:
        ap.error(f"unknown: {', '.join(sorted(unknown))}")
    OUT.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    adaptive = [n for n in names if n in TUNE_SCENARIOS or n in PAIRS]
    if adaptive:
        spec = ClusterSpec(slots_per_taskmanager=10, adaptive=True)
        with running_cluster(spec, progress=print) as cluster:
            runner = ScenarioRunner(cluster)
            try:
                for name in adaptive:
                    print(f"recording {name} ...", flush=True)
                    if name in PAIRS:
                        scenario, sargs = PAIRS[name]
                        for side in ("a", "b"):
                            record_plain(runner, cluster.url, scenario, sargs,
                                         OUT / f"{name}-{side}.fsrec", PAIR_SECONDS)
                        continue
                    rec, jrn = fresh(OUT / f"{name}.fsrec"), OUT / f"{name}.jsonl"
                    jrn.unlink(missing_ok=True)
                    run = run_tune(cluster, runner, TUNE_SCENARIOS[name], record_to=rec,
                                   journal_to=jrn, say=lambda m: print(f"  {m}", flush=True))
                    compact(rec)
                    print(f"  {name}: {run.steps} step(s)", flush=True)
            finally:
                runner.close()
    if "default-scheduler" in names:
        with running_cluster(ClusterSpec(slots_per_taskmanager=10), progress=print) as cluster:
            runner = ScenarioRunner(cluster)
            try:
                rec = fresh(OUT / "default-scheduler.fsrec")
                run = run_tune(cluster, runner, TUNE_SCENARIOS["off-cpu"], record_to=rec,
                               say=lambda m: print(f"  {m}", flush=True))
                compact(rec)
                print(f"  default-scheduler: scheduler {run.scheduler}", flush=True)
            finally:
                runner.close()
    print(f"done in {time.monotonic() - began:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
