#!/usr/bin/env python3
"""How big a recording of a big job grows, and what `flowscope record` holds in memory.

For each job shape (vertices x parallelism) this starts `bench/rest_emulator.py` with Flink's
10 s metric refresh (so polls every 2 s see a new snapshot one time in five, as against a real
JobManager) and runs `flowscope record --interval 2 --duration D` against it in a process of its
own, then prints per shape: polls recorded, distinct response bodies kept, the file's size,
bytes per poll and per minute, the size one hour would reach at that rate, and the recorder's
peak RSS (VmHWM at exit).

    PYTHONPATH=src python bench/bench_recording.py                      # 50x256, 120 s
    PYTHONPATH=src python bench/bench_recording.py --shapes 4x2 50x256 --duration 300
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import WATCH, Emulator, _env, _parse


def record(shape: str, duration_s: float, interval_s: float) -> str:
    vertices, parallelism = _parse(shape)
    with tempfile.TemporaryDirectory() as tmp, Emulator(vertices, parallelism, fast=False) as emu:
        out = Path(tmp) / "job.fsrec"
        cmd = [sys.executable, "-c", WATCH, "record", str(out), "--url", emu.url,
               "--interval", str(interval_s), "--duration", str(duration_s)]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env=_env())
        wall = time.perf_counter() - t0
        peaks = [int(ln.split()[1]) for ln in done.stderr.splitlines()
                 if ln.startswith("peak-rss-kib ")]
        if done.returncode != 0 or not out.exists():
            return (f"| {shape} | record exited {done.returncode}: "
                    f"{done.stderr.strip()[-160:]} |")
        with sqlite3.connect(out) as db:
            polls = db.execute("SELECT COUNT(*) FROM polls").fetchone()[0]
            bodies = db.execute("SELECT COUNT(*) FROM bodies").fetchone()[0]
        size = out.stat().st_size
        per_min = size / wall * 60
        return (f"| {vertices} x {parallelism:,} | {vertices * parallelism:,} | {polls} "
                f"in {wall:.0f} s | {bodies:,} | {size / 1e6:.1f} "
                f"| {size / max(polls, 1) / 1e3:,.0f} "
                f"| {per_min / 1e6:.1f} | {per_min * 60 / 1e9:.2f} "
                f"| {peaks[-1] / 1024 if peaks else float('nan'):.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", nargs="+", default=["50x256"], metavar="VxP")
    ap.add_argument("--duration", type=float, default=120.0, help="seconds recorded per shape")
    ap.add_argument("--interval", type=float, default=2.0)
    args = ap.parse_args()
    print("| job (V x P) | subtasks | polls | distinct bodies | file MB | kB / poll "
          "| MB / minute | GB / hour (at that rate) | `record` peak RSS, MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for shape in args.shapes:
        print(record(shape, args.duration, args.interval), flush=True)


if __name__ == "__main__":
    main()
