#!/usr/bin/env python3
"""`flowscope tune --apply` on the lab's tune scenarios, on a real Flink cluster with the
adaptive scheduler: per scenario, the changes applied (steps), predicted against measured
records/s at the sources and their ratio, the rescale's duration and the time from the
change to a verified verdict, or the refusal with its numbers.

Starts its own lab cluster (run it under `flock /tmp/flowscope-flink.lock`), or uses a
running one with --url (its scheduler must be the adaptive one).

    flock /tmp/flowscope-flink.lock python bench/bench_tune.py [scenario ...]
        [--url URL] [--out bench/results/tune.md] [--record-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from flowscope.lab.cluster import ClusterSpec, LocalCluster, running_cluster
from flowscope.lab.scenarios import ScenarioRunner
from flowscope.lab.tunelab import TUNE_SCENARIOS, TuneRun, run_tune
from flowscope.render.tune import refusal_text

HEADER = ("| scenario | expected | got | steps | change | before rec/s | predicted rec/s | "
          "measured rec/s | measured / predicted | gain share | rescale s | "
          "change to verdict s |")


def row(run: TuneRun) -> str:
    ts = run.scenario
    p = run.plans[-1] if run.plans else None
    if run.last is None or p is None:
        got = ", ".join(str(r.reason) for r in p.refusals) if p else "no plan"
        if p is not None and not p.refusals:
            got = f"{p.status} (scheduler {run.scheduler})"
        return f"| {ts.name} | {ts.expect} | {got} | 0 | - | - | - | - | - | - | - | - |"
    out = run.last
    first = run.outcomes[0]
    v = out.verification
    change = ", ".join(f"{c.name} {c.old}→{c.new}" for c in first.plan.changes)
    got = v.effect.value if v else "unverified"
    if out.rolled_back:
        got += ", rolled back"
    pred = f"{first.plan.predicted_per_s:.0f}" if first.plan.predicted_per_s else "-"
    meas = f"{v.measured_per_s:.0f}" if v and v.measured_per_s else "-"
    ratio = f"{v.ratio:.2f}" if v and v.ratio else "-"
    before = f"{v.before_per_s:.0f}" if v and v.before_per_s else "-"
    share = f"{v.gain_share:.2f}" if v and v.gain_share is not None else "-"
    rescale = f"{first.rescale.seconds:.1f}" if first.rescale else "-"
    verdict = f"{first.apply_to_verdict_s:.0f}" if first.apply_to_verdict_s else "-"
    return (f"| {ts.name} | {ts.expect} | {got} | {run.steps} | {change} | {before} | {pred} | "
            f"{meas} | {ratio} | {share} | {rescale} | {verdict} |")


def details(run: TuneRun) -> list[str]:
    lines = []
    for p in run.plans:
        for r in p.refusals:
            lines.append(f"- {run.scenario.name}: {r.reason}: {refusal_text(r)}")
    for out in run.outcomes:
        if out.rolled_back and out.rollback_rescale:
            lines.append(f"- {run.scenario.name}: rolled back in "
                         f"{out.rollback_rescale.seconds:.1f} s; journal steps: "
                         + ", ".join(str(e.get("step")) for e in out.entries))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("scenarios", nargs="*", help="tune scenarios (default: all)")
    ap.add_argument("--url", help="a running lab cluster with the adaptive scheduler")
    ap.add_argument("--out", type=Path, help="also write the table (markdown) here")
    ap.add_argument("--record-dir", type=Path, help="record each run (and its journal) here")
    args = ap.parse_args(argv)
    names = args.scenarios or list(TUNE_SCENARIOS)
    lines = [HEADER, "|" + "---|" * 12]
    notes: list[str] = []
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        if args.url:
            cluster = LocalCluster()
            cluster.rest_port = int(args.url.rsplit(":", 1)[1])
        else:
            cluster = stack.enter_context(running_cluster(
                ClusterSpec(slots_per_taskmanager=10, adaptive=True), progress=print))
        runner = ScenarioRunner(cluster)
        stack.callback(runner.close)
        for name in names:
            ts = TUNE_SCENARIOS[name]
            rec = jrn = None
            if args.record_dir:
                args.record_dir.mkdir(parents=True, exist_ok=True)
                rec, jrn = args.record_dir / f"{name}.fsrec", args.record_dir / f"{name}.jsonl"
            t0 = time.monotonic()
            run = run_tune(cluster, runner, ts, record_to=rec, journal_to=jrn,
                           say=lambda m: print(f"  {m}", flush=True))
            print(f"{name}: {time.monotonic() - t0:.0f} s", flush=True)
            lines.append(row(run))
            notes += details(run)
    table = "\n".join([*lines, "", *notes])
    print(table)
    print(f"\n({time.monotonic() - began:.0f} s in all)")
    if args.out:
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
