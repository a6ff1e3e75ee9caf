#!/usr/bin/env python3
"""Record the lab scenarios from a real local Flink cluster into tests/fixtures/*.fsrec.

Unit tests replay these recordings (REST responses captured from the real cluster), so they
run fast on real data. Regenerate after changing the scenarios or the collector's requests:

    python scripts/record_fixtures.py                 # every scenario
    python scripts/record_fixtures.py skew off-cpu    # some
    python scripts/record_fixtures.py --url http://localhost:8081 ...   # an existing lab cluster

Light scenarios (off-CPU costs) run side by side; CPU-heavy ones run alone. A scenario whose
rule is pending (`Scenario.rule_pending`) also has the flame graphs of its expected bottleneck
taken with every poll (Flink samples anew once a minute), whatever the diagnosis asks: the
evidence its rule will need is then in the recording. Scenarios that
need a TaskManager behind a capped link (`needs_netns`, e.g. network) run last, on a cluster of
their own (flowscope.lab.netcluster; needs root for `ip netns`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from pathlib import Path

from flowscope.analysis.engine import diagnose
from flowscope.lab.cluster import ClusterSpec, LocalCluster, running_cluster
from flowscope.lab.netcluster import running_netns_cluster
from flowscope.lab.scenarios import SCENARIOS, Scenario, ScenarioRunner
from flowscope.sampling import LiveSession, apply_stack_requests

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def record_one(runner: ScenarioRunner, url: str, scenario: Scenario, seconds: float,
               interval: float, out_dir: Path) -> Path:
    out = out_dir / f"{scenario.name}.fsrec"
    for suffix in ("", "-wal", "-shm"):
        Path(str(out) + suffix).unlink(missing_ok=True)
    job_id = runner.submit(scenario)
    session = LiveSession(url, job_id, record_to=out)
    samples = []
    try:
        # Poll as `flowscope diagnose --record` does: with the flame graphs / thread dumps the
        # diagnosis asks for, so the replay sees the same stack samples.
        for graph, sample in session.samples(interval_s=interval, duration_s=seconds):
            samples.append(sample)
            apply_stack_requests(session, diagnose(graph, samples))
            expected = graph.by_name(scenario.bottleneck or "")
            if scenario.rule_pending and expected is not None and (
                    expected.id not in session.flamegraph_vertices):
                session.flamegraph_vertices.append(expected.id)
    finally:
        session.close()
        runner.cancel(job_id)
    # Fold the WAL into the file so the fixture is one self-contained file.
    import sqlite3

    with contextlib.closing(sqlite3.connect(out)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("VACUUM")
    print(f"  {scenario.name}: {out.stat().st_size / 1024:.0f} KiB", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("scenarios", nargs="*", help="scenario names (default: all)")
    ap.add_argument("--url", help="use this running lab cluster instead of starting one")
    ap.add_argument("--seconds", type=float, default=60.0, help="recording length per scenario")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    ap.add_argument("--out", type=Path, default=FIXTURES)
    args = ap.parse_args(argv)
    names = args.scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = [SCENARIOS[n] for n in names if not SCENARIOS[n].needs_netns]
    netns = [SCENARIOS[n] for n in names if SCENARIOS[n].needs_netns]
    status = record_all(chosen, args) if chosen else 0
    if netns:
        status = max(status, record_netns(netns, args))
    return status


def record_netns(chosen: list[Scenario], args: argparse.Namespace) -> int:
    """Record scenarios that need a TaskManager behind the capped link, one after the other."""
    start = time.monotonic()
    with running_netns_cluster(progress=print) as cluster:
        runner = ScenarioRunner(cluster)
        try:
            for s in chosen:
                print(f"recording {s.name} on {cluster.url} (TaskManager 2 behind the link) ...",
                      flush=True)
                record_one(runner, cluster.url, s, args.seconds, args.interval, args.out)
        finally:
            runner.close()
    print(f"done in {time.monotonic() - start:.0f} s", flush=True)
    return 0


def record_all(chosen: list[Scenario], args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        if args.url:
            cluster = LocalCluster()
            cluster.rest_port = int(args.url.rsplit(":", 1)[1])
        else:
            cluster = stack.enter_context(
                running_cluster(ClusterSpec(slots_per_taskmanager=10), progress=print)
            )
        runner = ScenarioRunner(cluster)
        stack.callback(runner.close)
        light = [s for s in chosen if not s.cpu_heavy]
        heavy = [s for s in chosen if s.cpu_heavy]
        start = time.monotonic()
        print(f"recording {len(light)} light scenarios side by side ...", flush=True)
        errors: list[BaseException] = []

        def run(s: Scenario) -> None:
            try:
                seconds = max(args.seconds, s.min_observe_s + 10)
                record_one(runner, cluster.url, s, seconds, args.interval, args.out)
            except BaseException as exc:  # reported below, after the other threads finish
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(s,)) for s in light]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for s in heavy:
            print(f"recording {s.name} alone (CPU-heavy) ...", flush=True)
            run(s)
        print(f"done in {time.monotonic() - start:.0f} s", flush=True)
        if errors:
            for e in errors:
                print(f"error: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
