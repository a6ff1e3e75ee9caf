#!/usr/bin/env python3
"""How flowscope's live commands and readers fare against bad answers: a table to compare
before and after a change.

    python scripts/fault_survey.py                        # everything (~15-25 min on 2 cores)
    python scripts/fault_survey.py --kinds reset,stall --commands record,watch
    python scripts/fault_survey.py --skip-runs            # only the fuzz cases (~1 min)

Runs: each fault kind (tests/faults/server.py) against `record`, `watch`, `serve` and
`diagnose`, as processes (`python -m flowscope.cli ...`) against a replay server that serves a
real recording and breaks `--rate` of the requests (scenarios: once, 30% into the run). One
row per run: exit code, traceback or not, polls kept, wall time against the asked duration.

Fuzz: mutated REST bodies through the collector and damaged recordings through
`load_recording` (tests/faults/fuzz.py), with crash counts and distinct crash sites.

Run it from the repository's root with the project's environment, e.g.
`PYTHONPATH=src .venv/bin/python scripts/fault_survey.py`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.faults import fuzz  # noqa: E402
from tests.faults.runs import COMMANDS, KINDS, RunResult, Settings, run_kind  # noqa: E402

MIN_KEPT = 0.7


def _load() -> str:
    # Polls kept and overruns depend on the machine's load too: say what it was.
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load average unknown"


def _row(r: RunResult) -> str:
    code = "killed" if r.exit_code is None else str(r.exit_code)
    kept = f"{r.polls}/{r.expected} {100 * r.kept:3.0f}%"
    wall = f"{r.wall_s:5.1f} / {r.asked_s:g}+{r.startup_s:.1f} s"
    return (f"{r.kind:<19}{r.command:<10}{code:>6}  {'yes' if r.traceback else 'no':<4}"
            f"{kept:>14}  {wall:>18}  {r.faults:>4}/{r.requests:<5} {r.detail[:90]}")


def survey_runs(settings: Settings, kinds: list[str], commands: list[str], workdir: Path,
                parallel: bool) -> list[RunResult]:
    print(f"runs: fixture {settings.fixture} (replayed x{settings.speed:g} from poll "
          f"{settings.start + 1}), {100 * settings.rate:g}% of requests faulted, seed "
          f"{settings.seed}, --duration {settings.duration:g} --interval {settings.interval:g}; "
          f"scenarios 30% into the run (outage: {0.3 * settings.duration:g} s)")
    print(f"a run survives when it ends as asked (exit 0, diagnose 0/1/3; at most "
          f"{settings.overrun_s:g} s past its duration, counted from its first request; serve "
          f"answers, then stops on SIGTERM) without a traceback; killed = still running "
          f"{settings.kill_after_s:g} s past its duration; start = seconds to its first "
          f"request\n")
    print(f"{'kind':<19}{'command':<10}{'exit':>6}  {'tb':<4}{'polls kept':>14}  "
          f"{'wall / asked+start':>18}  faults/reqs note")
    results: list[RunResult] = []
    for kind in kinds:
        for r in run_kind(kind, settings, workdir, commands, parallel=parallel):
            print(_row(r), flush=True)
            results.append(r)
    print("\nper command (request faults and scenarios; the control 'none' left out):")
    for command in commands:
        mine = [r for r in results if r.command == command and r.kind != "none"]
        if not mine:
            continue
        survived = sum(r.survived for r in mine)
        kept = sum(r.survived and r.kept >= MIN_KEPT for r in mine)
        tracebacks = sum(r.traceback for r in mine)
        median = statistics.median(r.kept for r in mine)
        polls = sum(r.polls for r in mine)
        owed = sum(r.expected for r in mine)
        print(f"  {command:<9} survived {survived:2d}/{len(mine)}   survived keeping >= "
              f"{100 * MIN_KEPT:g}% of polls {kept:2d}/{len(mine)}   polls kept {polls}/{owed} "
              f"(median per run {100 * median:.0f}%)   tracebacks {tracebacks}")
    failed_kinds = [k for k in kinds if k != "none"
                    and any(not r.survived for r in results if r.kind == k)]
    print(f"  kinds where some command did not survive: {', '.join(failed_kinds) or 'none'}")
    return results


def survey_fuzz(rest_cases: int, recording_cases: int, seed: int, workdir: Path) -> None:
    rng = random.Random(f"fuzz:{seed}")
    if rest_cases:
        t = time.monotonic()
        crashes = [c for c in (fuzz.run_rest_case(fuzz.random_rest_case(rng))
                               for _ in range(rest_cases)) if c]
        print(f"\nfuzz: mutated REST bodies ({', '.join(fuzz.REST_FIXTURES)}) through the "
              f"collector, the diagnosis and its JSON ({time.monotonic() - t:.0f} s)")
        print(fuzz.summary(crashes, rest_cases))
    if recording_cases:
        t = time.monotonic()
        workdir.mkdir(parents=True, exist_ok=True)
        crashes = [c for c in (fuzz.run_recording_case(fuzz.random_recording_case(rng), workdir)
                               for _ in range(recording_cases)) if c]
        print(f"\nfuzz: damaged copies of a recording ({fuzz.RECORDING_FIXTURE}, first "
              f"{fuzz.RECORDING_POLLS} polls) through load_recording and the diagnosis "
              f"({time.monotonic() - t:.0f} s)")
        print(fuzz.summary(crashes, recording_cases))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fixture", default="compute-bound")
    parser.add_argument("--speed", type=float, default=3.0)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated")
    parser.add_argument("--commands", default=",".join(COMMANDS), help="comma-separated")
    parser.add_argument("--serial", action="store_true",
                        help="one command at a time (default: the four of a kind at once)")
    parser.add_argument("--kill-after", type=float, default=40.0,
                        help="kill a run still going this many seconds past its duration")
    parser.add_argument("--rest-cases", type=int, default=600)
    parser.add_argument("--recording-cases", type=int, default=400)
    parser.add_argument("--skip-runs", action="store_true")
    parser.add_argument("--skip-fuzz", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the runs' recordings and output here")
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    commands = [c for c in args.commands.split(",") if c]
    unknown = (set(kinds) - set(KINDS)) | (set(commands) - set(COMMANDS))
    if unknown:
        parser.error(f"unknown kind(s) or command(s): {', '.join(sorted(unknown))}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="flowscope-survey-"))
    started = time.monotonic()
    print(f"flowscope fault survey, {time.strftime('%Y-%m-%d %H:%M')}, {_load()}\n")
    if not args.skip_runs:
        settings = Settings(duration=args.duration, interval=args.interval, rate=args.rate,
                            seed=args.seed, fixture=args.fixture, speed=args.speed,
                            kill_after_s=args.kill_after)
        survey_runs(settings, kinds, commands, workdir, parallel=not args.serial)
    if not args.skip_fuzz:
        survey_fuzz(args.rest_cases, args.recording_cases, args.seed, workdir / "fuzz")
    print(f"\n(survey took {time.monotonic() - started:.0f} s, {_load()}; outputs in "
          f"{workdir})")


if __name__ == "__main__":
    main()
