#!/usr/bin/env python3
"""Time to verdict per scenario, from job start, on the recorded fixtures.

Each fixture was recorded from the moment its job was submitted, polling every second as
`flowscope diagnose` does. This replays it poll by poll and prints, per scenario, the job's
uptime at the first poll whose diagnosis is confident and names the injected bottleneck and
cause (or healthy), and the uptime at which a live `diagnose` would stop (StopRule: the same
verdict on two consecutive snapshots, no pending stack samples) with whether that verdict is
the injected one. Also the replay speed.

    python bench/time_to_verdict.py [scenario ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Diagnosis
from flowscope.lab.scenarios import SCENARIOS, Scenario
from flowscope.sampling import StopRule, load_recording, stacks_wanted

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def correct(d: Diagnosis, s: Scenario) -> bool:
    if d.confidence != "high" or d.verdict != s.expected_verdict:
        return False
    if s.bottleneck is None:
        return not d.bottlenecks
    return [(f.vertex_name, str(f.cause)) for f in d.bottlenecks] == [(s.bottleneck, s.cause)]


def main(names: list[str]) -> None:
    print(f"{'scenario':<14} {'verdict':<44} {'first correct':>13} {'diagnose stops':>14} "
          f"{'polls':>5} {'replay ms/poll':>14}")
    for name in names or list(SCENARIOS):
        scenario = SCENARIOS[name]
        path = FIXTURES / f"{name}.fsrec"
        if not path.exists():
            continue
        graph, samples = load_recording(path)
        first = stop = None
        stop_ok = False
        rule = StopRule()
        d = None
        t0 = time.perf_counter()
        for i in range(1, len(samples) + 1):
            d = diagnose(graph, samples[:i])
            up = samples[i - 1].uptime_s
            if first is None and correct(d, scenario):
                first = up
            if stop is None and rule.done(d, bool(stacks_wanted(d))):
                stop, stop_ok = up, correct(d, scenario)
        per_poll = 1000 * (time.perf_counter() - t0) / len(samples)
        assert d is not None
        verdict = ", ".join(f"{f.vertex_name} ({f.cause})" for f in d.bottlenecks) or d.verdict
        fmt = lambda v: "-" if v is None else f"{v:.0f} s"  # noqa: E731
        stops = fmt(stop) + ("" if stop is None else (" ok" if stop_ok else " WRONG"))
        print(f"{name:<14} {verdict[:44]:<44} {fmt(first):>13} {stops:>14} {len(samples):>5} "
              f"{per_poll:>14.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
