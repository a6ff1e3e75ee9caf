#!/usr/bin/env python3
"""Record a fleet scan of the lab's live jobs (tests/fixtures/prometheus/fleet/lab.json.xz).

Run while Prometheus scrapes the lab cluster with the first wave of scenario jobs running
(as the integration tests run them), or against a Prometheus serving a TSDB kept from such a
run (`prometheus --storage.tsdb.path=DIR`), with the time the jobs ran:

    PYTHONPATH=src python scripts/record_fleet_lab.py --prometheus http://127.0.0.1:9090 \\
        --at 1796055715

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

from flowscope.scan import scan_prometheus
from flowscope.flink.metric_names import prom_mangle
from flowscope.lab.scenarios import SCENARIOS

# The fixtures' reader and writer (tests/prom_fixtures.py) live with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.prom_fixtures import Capture

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "prometheus" / "fleet"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--at", type=float, required=True, help="epoch seconds")
    ap.add_argument("--window", type=float, default=120.0)
    ap.add_argument("--lookback", type=float, default=600.0)
    ap.add_argument("--out", type=Path, default=OUT / "lab.json.xz")
    args = ap.parse_args(argv)
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
