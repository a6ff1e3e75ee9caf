#!/usr/bin/env python3
"""Run lab scenarios live, one at a time, N times each, and diagnose each run as a user would
(`flowscope diagnose --url ... --job ... --json`, its own stopping rule); print per run the
verdict, the bottleneck and its cause, the action kinds, and how long `diagnose` took.

    python scripts/live_check.py [--runs 3] [scenario ...]   (default: the four causes
    outside the records: async-capacity checkpoint-stall restart-loop state-access)

Starts a lab cluster of its own (two TaskManagers, RocksDB metrics on) and stops it at the end.
One Flink at a time on a small machine: take /tmp/flowscope-flink.lock around it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from flowscope.lab.cluster import ClusterSpec, LocalCluster
from flowscope.lab.scenarios import SCENARIOS, ScenarioRunner

DEFAULT = ["async-capacity", "checkpoint-stall", "restart-loop", "state-access"]


def one_run(url: str, runner: ScenarioRunner, name: str) -> dict[str, object]:
    scenario = SCENARIOS[name]
    job_id = runner.submit(scenario)
    began = time.monotonic()
    try:
        run = subprocess.run(
            [sys.executable, "-m", "flowscope.cli", "diagnose", "--url", url, "--job", job_id,
             "--json", "--duration", "180"], capture_output=True, text=True, timeout=240)
    finally:
        runner.cancel(job_id)
    took = time.monotonic() - began
    doc = json.loads(run.stdout)
    bottlenecks = [f for f in doc["findings"] if f["is_bottleneck"]]
    first = bottlenecks[0] if bottlenecks else (doc["findings"] or [{}])[0]
    got = (doc["verdict"], [f["vertex_name"] for f in bottlenecks], first.get("cause"))
    want = (scenario.expected_verdict, [scenario.bottleneck] if scenario.bottleneck else [],
            scenario.cause)
    return {"scenario": name, "exit": run.returncode, "verdict": got[0], "tasks": got[1],
            "cause": got[2], "actions": [a["kind"] for a in first.get("actions", [])],
            "confidence": doc["confidence"], "seconds": round(took, 1), "right": got == want}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenarios", nargs="*", default=DEFAULT)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    cluster = LocalCluster(ClusterSpec(slots_per_taskmanager=10))
    cluster.start(timeout_s=120)
    rows = []
    try:
        runner = ScenarioRunner(cluster)
        for i in range(args.runs):
            for name in args.scenarios:
                row = one_run(cluster.url, runner, name)
                row["run"] = i + 1
                rows.append(row)
                print(json.dumps(row), flush=True)
                time.sleep(3)  # the cancelled job's slots are free again
        runner.close()
    finally:
        cluster.stop()
    print("\n| scenario | run | verdict | task | cause | actions | confidence | diagnose s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['scenario']} | {r['run']} | {r['verdict']} | {', '.join(r['tasks']) or '-'} "
              f"| {r['cause']} | {', '.join(r['actions'])} | {r['confidence']} | "
              f"{r['seconds']} |")
    right = sum(1 for r in rows if r["right"])
    print(f"\n{right} of {len(rows)} runs right")
    return 0 if right == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
