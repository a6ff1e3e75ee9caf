#!/usr/bin/env python3
"""Record a fleet scan of the lab's live jobs (tests/fixtures/prometheus/fleet/lab.json.xz).

Run while Prometheus scrapes the lab cluster with the first wave of scenario jobs running
(as the integration tests run them), or against a Prometheus serving a TSDB kept from such a
run (`prometheus --storage.tsdb.path=DIR`), with the time the jobs ran:

    PYTHONPATH=src python scripts/record_fleet_lab.py --prometheus http://127.0.0.1:9090 \\
        --at 1796055715

or let it start all of it (a lab cluster as the tests start it, Debian's Prometheus scraping
it, the first wave's jobs for --run seconds), record, and stop everything:

    PYTHONPATH=src python scripts/record_fleet_lab.py --live --run 150

Every answer `scan_prometheus` gets is stored by request path, with the expected verdict,
bottleneck and cause of each scenario job seen (from flowscope.lab.scenarios). Unlike the
grown fleet (scripts/fleet_history.py), these are Flink's own series, whose accumulated-time
"counters" step back every few scrapes.
"""

from __future__ import annotations

import argparse
import json
import lzma
import sys
from pathlib import Path

from flowscope.flink.metric_names import prom_mangle
from flowscope.lab.scenarios import SCENARIOS, Scenario
from flowscope.scan import scan_prometheus

# The fixtures' reader and writer (tests/prom_fixtures.py) live with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.prom_fixtures import Capture

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "prometheus" / "fleet"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prometheus")
    ap.add_argument("--at", type=float, help="epoch seconds")
    ap.add_argument("--live", action="store_true",
                    help="start a lab cluster, Prometheus and the first wave's jobs")
    ap.add_argument("--run", type=float, default=150.0, help="with --live: seconds to run")
    ap.add_argument("--window", type=float, default=120.0)
    ap.add_argument("--lookback", type=float, default=600.0)
    ap.add_argument("--out", type=Path, default=OUT / "lab.json.xz")
    args = ap.parse_args(argv)
    if args.live:
        return live(args)
    if not args.prometheus or args.at is None:
        ap.error("give --prometheus and --at, or --live")
    return record(args)


def first_wave(slots: int = 18) -> list[Scenario]:
    """The light scenarios the integration tests run first, side by side."""
    wave: list[Scenario] = []
    for s in SCENARIOS.values():
        if s.cpu_heavy or s.needs_netns:
            continue
        need = max(int(s.args.get("parallelism", "2")), int(s.args.get("enrich-parallelism", "0")))
        if sum(max(int(x.args.get("parallelism", "2")),
                   int(x.args.get("enrich-parallelism", "0"))) for x in wave) + need > slots:
            break
        wave.append(s)
    return wave


def live(args: argparse.Namespace) -> int:
    import tempfile
    import time

    from flowscope.lab.cluster import ClusterSpec, LocalCluster
    from flowscope.lab.promserver import PrometheusServer, reporter_range, reporter_targets
    from flowscope.lab.scenarios import ScenarioRunner

    spec = ClusterSpec(slots_per_taskmanager=10, latency_interval_ms=1000, prometheus=True)
    with LocalCluster(spec) as cluster, tempfile.TemporaryDirectory() as tmp:
        expect = len(reporter_targets())
        with PrometheusServer(reporter_range(), Path(tmp), scrape_s=2.0,
                              expect_up=expect) as prom:
            runner = ScenarioRunner(cluster)
            try:
                for s in first_wave():
                    runner.submit(s)
                print(f"running {[s.name for s in first_wave()]} for {args.run:g} s",
                      file=sys.stderr)
                time.sleep(args.run)
                args.prometheus, args.at = prom.url, time.time() - 4.0
                return record(args)
            finally:
                runner.cancel_all()
                runner.close()


def record(args: argparse.Namespace) -> int:
    capture = Capture()
    found = scan_prometheus(args.prometheus, at=args.at, window_s=args.window,
                            lookback_s=args.lookback, transport=capture)
    by_name = {prom_mangle(f"flowscope-{s.name}"): s for s in SCENARIOS.values()}
    expected = {}
    for d in found.diagnoses:
        s = by_name.get(d.job_name)
        if s is not None:
            expected[d.job_name] = [str(s.expected_verdict),
                                    prom_mangle(s.bottleneck) if s.bottleneck else None,
                                    s.cause]
        got = [(f.vertex_name, str(f.cause)) for f in d.bottlenecks]
        print(f"  {d.job_name}: {d.verdict} {got}", file=sys.stderr)
    fixture = {"meta": {"at": args.at, "window_s": args.window, "lookback_s": args.lookback,
                        "expected": expected},
               "prometheus": capture.answers}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(lzma.compress(json.dumps(fixture, separators=(",", ":")).encode(),
                                       preset=9 | lzma.PRESET_EXTREME))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB, "
          f"{len(capture.answers)} answers)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
