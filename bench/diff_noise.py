#!/usr/bin/env python3
"""How far two windows of the same job at the same parallelism differ: the figures the noise
band of `flowscope diff` (flowscope.analysis.diff.RATIO_NOISE / RATE_NOISE) rests on.

Two kinds of pairs, recorded from the lab once each job was 45 s old (its buffers filled):
  - runs: the same job submitted twice with the same parallelism, each run's last 60 s
    (tests/fixtures/tune/same-{offcpu,skew}-{a,b}.fsrec, scripts/record_tune_fixtures.py);
  - windows: the two halves (30 s each) of each of those runs.

Per pair it prints the largest change of a task's busy / backpressured / idle (points of
0..1) and of its records in / out per second (relative to the larger side, rates of at
least MIN_RATE), and whether `flowscope diff` calls the pair within noise.

    python bench/diff_noise.py
"""

from __future__ import annotations

from pathlib import Path

from flowscope.analysis.diff import MIN_RATE, RATE_NOISE, RATIO_NOISE, WindowDiff, compare
from flowscope.analysis.engine import diagnose
from flowscope.sampling import load_recording

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
PAIRS = ("same-offcpu", "same-skew")
HALF_S = 30.0


def spread(d: WindowDiff) -> tuple[float, float]:
    ratios = [abs(p.delta) for t in d.tasks for p in (t.busy, t.backpressured, t.idle)
              if p.delta is not None]
    rates = [abs(p.relative) for t in d.tasks for p in (t.records_in_per_s, t.records_out_per_s)
             if p.relative is not None and max(p.before or 0, p.after or 0) >= MIN_RATE]
    return max(ratios, default=0.0), max(rates, default=0.0)


def runs() -> list[tuple[str, WindowDiff]]:
    out = []
    for name in PAIRS:
        a, b = FIXTURES / "tune" / f"{name}-a.fsrec", FIXTURES / "tune" / f"{name}-b.fsrec"
        if a.exists() and b.exists():
            out.append((f"runs: {name}", compare(diagnose(*load_recording(a)),
                                                 diagnose(*load_recording(b)))))
    return out


def windows() -> list[tuple[str, WindowDiff]]:
    out = []
    for path in sorted(FIXTURES.joinpath("tune").glob("same-*-[ab].fsrec")):
        graph, samples = load_recording(path)
        end = samples[-1].t
        first = [s for s in samples if s.t <= end - HALF_S]
        if len(first) < 10:
            continue
        out.append((f"windows: {path.stem}",
                    compare(diagnose(graph, first, window_s=HALF_S),
                            diagnose(graph, samples, window_s=HALF_S))))
    return out


def main() -> None:
    print(f"noise band: ratios ±{RATIO_NOISE:.2f}, rates ±{RATE_NOISE:.0%}\n")
    print(f"{'pair':<28} {'max ratio Δ':>11} {'max rate Δ':>10}  within noise  bottleneck")
    worst_r = worst_q = 0.0
    for label, d in runs() + windows():
        r, q = spread(d)
        worst_r, worst_q = max(worst_r, r), max(worst_q, q)
        print(f"{label:<28} {r:>11.3f} {q:>10.1%}  {d.within_noise!s:<12}  {d.bottleneck}")
    print(f"\nlargest: ratios {worst_r:.3f}, rates {worst_q:.1%}")


if __name__ == "__main__":
    main()
