#!/usr/bin/env python3
"""flowscope at scale: polls, analysis and `watch` memory against emulated jobs of V x P.

For each job shape (vertices x parallelism) this starts `bench/rest_emulator.py` in a process of
its own (a Flink REST API grown from the recorded fixtures; its CPU time is reported apart, to
show it is not what bounds a poll) and measures, with the collector as it is today:

  requests per poll    steady state, and the first poll (which also lists every vertex's
                       metric names; flowscope lists them again every 60 s)
  bytes in per poll    response bodies, steady and first
  poll wall time       median of 3 steady polls
  diagnose()           `diagnose(graph, samples)` over up to 30 samples spread over 58 s of the
                       job's time (the emulator's --fast clock, so they need not take a minute);
                       fewer samples where polls are too slow for --poll-budget-s, as the table
                       says. Timed twice: with a fresh metric snapshot at every poll (the most
                       distinct samples a window can hold) and as a live poll every 2 s sees
                       Flink, whose JobManager refreshes metrics every 10 s (the same samples,
                       each showing the snapshot of its 10 s period)
  watch peak RSS       `flowscope watch --duration 60 --interval 2` in its own process (no TTY)
                       against an emulator with Flink's 10 s metric refresh: its VmHWM at exit

and prints a markdown table, then the cProfile top 10 of diagnose() at the largest shape run.

    PYTHONPATH=src python bench/bench_scale.py                 # 4x2, 10x32, 20x128 (< 5 min)
    PYTHONPATH=src python bench/bench_scale.py --shapes 40x250 50x256
    PYTHONPATH=src python bench/bench_scale.py --all --out bench/results/scale.md
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import io
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

try:  # the collector is moving from sources/ to flink/
    from flowscope.flink.rest import FlinkRestSource
except ImportError:
    from flowscope.sources.rest import FlinkRestSource
from flowscope.analysis import tiers
from flowscope.analysis.engine import diagnose
from flowscope.model import JobGraph, Sample

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
EMULATOR = BENCH / "rest_emulator.py"
SHAPES = ["4x2", "10x32", "20x128", "40x250", "50x256", "100x500", "40x2500"]
DEFAULT_SHAPES = ["4x2", "10x32", "20x128"]
# `watch` runs 60 s a shape; past 10,000 subtasks only when asked (--watch-all).
WATCH_MAX_SUBTASKS = 10_000
SAMPLES = 30
WINDOW_S = 58.0  # 30 samples 2 s apart, as `watch --interval 2` holds in its 60 s window
TIMED_POLLS = 3
FLINK_REFRESH_S = 10.0  # metrics.fetcher.update-interval
# `watch` itself, whatever module the command line lives in after the restructuring, telling
# its peak RSS on the way out. VmHWM belongs to the address space exec() created; ru_maxrss
# would not do: Linux carries it across exec(), so a child forked from this (large) process
# would report this process's RSS.
WATCH = """
import atexit, sys
def peak():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            print('peak-rss-kib', line.split()[1], file=sys.stderr, flush=True)
atexit.register(peak)
from flowscope.cli import main
sys.argv[0] = 'flowscope'
main()
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class Emulator:
    """rest_emulator.py in a child process, steered over its stdin."""

    def __init__(self, vertices: int, parallelism: int, *, fast: bool) -> None:
        cmd = [sys.executable, str(EMULATOR), "-V", str(vertices), "-P", str(parallelism),
               "--control-stdin"] + (["--fast"] if fast else [])
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=_env())
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            self.close()
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.url = line.split()[1]

    def cpu_s(self) -> float:
        """User + system CPU seconds the emulator has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def set_step(self, step_s: float) -> None:
        """How far the job's clock moves with each poll (--fast)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"step {step_s}\n")
        self.proc.stdin.flush()
        self.proc.stdout.readline()  # "ok step": applied before the next poll starts

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()  # end of input stops the server
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CountingTransport(httpx.HTTPTransport):
    """Counts response body bytes as they come off the wire (Content-Length)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes_in = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = super().handle_request(request)
        self.bytes_in += int(resp.headers.get("content-length", 0))
        return resp


class VirtualClock:
    """The poll times FlinkRestSource records: the job's clock, not the wall's."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@dataclass
class Poll:
    requests: int
    bytes_in: int
    wall_s: float
    emulator_cpu_s: float
    client_cpu_s: float = 0.0  # this process, every thread: flowscope's own work in the poll


@dataclass
class Result:
    shape: str
    vertices: int
    parallelism: int
    taskmanagers: int = 0
    first: Poll | None = None
    steady: list[Poll] = field(default_factory=list)
    samples: int = 0
    span_s: float = 0.0
    diagnose_s: float | None = None
    diagnose_flink_s: float | None = None
    verdict: str = ""
    rss_after_mib: float | None = None
    watch_rss_mib: float | None = None
    watch_wall_s: float | None = None
    detail: int | None = None  # vertices read subtask by subtask in steady polls (None: all)
    notes: list[str] = field(default_factory=list)

    @property
    def subtasks(self) -> int:
        return self.vertices * self.parallelism


def _parse(shape: str) -> tuple[int, int]:
    v, _, p = shape.lower().partition("x")
    return int(v), int(p)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def poll_samples(emu: Emulator, res: Result, budget_s: float,
                 tiered: bool = True) -> tuple[JobGraph, list[Sample]]:
    """Poll the fast emulator: the first poll, then as many as the budget allows (at most
    SAMPLES), 58 s of job time apart in total; the first TIMED_POLLS steady ones are timed.
    `tiered`: as a live diagnosis polls, a big job's gauges are read aggregated over subtasks
    except on the vertices the diagnosis of the first two samples picks (`analysis.tiers`)."""
    clock, transport = VirtualClock(), CountingTransport()
    src = FlinkRestSource(emu.url, transport=transport, clock=clock)
    samples: list[Sample] = []
    detail: set[str] | None = None
    try:
        job = src.select_job()

        def one() -> tuple[JobGraph, Sample, Poll]:
            nonlocal detail
            r0, b0, c0 = src.requests, transport.bytes_in, emu.cpu_s()
            t0, p0 = time.perf_counter(), time.process_time()
            if tiered and not samples and tiers.is_big(src.graph(job.id)):
                detail = set()
            graph, sample = src.poll(job.id, detail=detail)
            wall = time.perf_counter() - t0
            return graph, sample, Poll(src.requests - r0, transport.bytes_in - b0, wall,
                                       emu.cpu_s() - c0, time.process_time() - p0)

        started = time.perf_counter()
        graph, sample, res.first = one()
        samples.append(sample)
        _log(f"{res.shape}: first poll {res.first.wall_s:.1f} s, {res.first.requests} requests")
        n, step = SAMPLES, WINDOW_S / (SAMPLES - 1)  # the emulator starts at 2 s a poll
        if 2 * res.first.wall_s > budget_s:
            n, step = 2, WINDOW_S  # room for one more poll: the whole window in one step
            emu.set_step(step)
        i = 1
        while i < n:
            if i == 2:
                # How many polls fit the budget, judged by a steady one (the first also lists
                # metric names); the rest of the 58 s is spread over them.
                left = budget_s - (time.perf_counter() - started)
                n = max(3, min(SAMPLES, 2 + int(left / res.steady[0].wall_s)))
                step = (WINDOW_S - step) / (n - 2)
                emu.set_step(step)
                _log(f"{res.shape}: {n} samples, then {step:.1f} s apart")
            clock.t += step
            graph, sample, p = one()
            samples.append(sample)
            res.steady.append(p)
            if tiered and detail is not None and len(samples) == 2:
                detail = tiers.detail_vertices(diagnose(graph, samples))
                res.detail = None if detail is None else len(detail)
                _log(f"{res.shape}: read in detail from now on: {res.detail} vertices")
            if i <= TIMED_POLLS:
                _log(f"{res.shape}: poll {i}: {p.wall_s:.2f} s, {p.requests} requests, "
                     f"{p.bytes_in / 1e6:.1f} MB")
            i += 1
        res.samples, res.span_s = len(samples), samples[-1].t - samples[0].t
        res.taskmanagers = len(samples[-1].taskmanagers)
        if n < SAMPLES:
            res.notes.append(f"{n} samples: polls took {res.steady[0].wall_s:.0f} s (the first "
                             f"{res.first.wall_s:.0f} s) and the budget was {budget_s:.0f} s")
        _log(f"{res.shape}: {n} samples in {time.perf_counter() - started:.0f} s")
        return graph, samples
    finally:
        src.close()


def flink_cadence(samples: list[Sample], refresh_s: float = FLINK_REFRESH_S) -> list[Sample]:
    """The samples as polls of a real JobManager would have them: every poll within one
    refresh period sees the snapshot taken at its start (same values, its own poll time)."""
    out: list[Sample] = []
    period: tuple[int, Sample] | None = None
    for s in samples:
        k = int((s.t - samples[0].t) // refresh_s)
        if period is None or period[0] != k:
            period = (k, s)
        out.append(dataclasses.replace(period[1], t=s.t))
    return out


def _time(graph: JobGraph, samples: list[Sample]) -> tuple[float, str]:
    """diagnose() over samples it has not seen (a repeat would find its timeline memoised).
    The arrays the collector builds with each poll are built first, as a poll builds them."""
    for s in samples:
        for vid in s.subtasks:
            s.columns(vid)
    gc.collect()
    t0 = time.perf_counter()
    d = diagnose(graph, samples)
    cold = time.perf_counter() - t0
    verdict = ", ".join(f"{f.vertex_name} ({f.cause})" for f in d.bottlenecks) or str(d.verdict)
    return cold, verdict


def time_diagnose(graph: JobGraph, samples: list[Sample], res: Result) -> None:
    res.diagnose_s, res.verdict = _time(graph, samples)
    paced = flink_cadence(samples)
    if len({id(x.subtasks) for x in paced}) == len(samples):
        # Each sample in a refresh period of its own: the same set, no need to time it again.
        res.diagnose_flink_s = res.diagnose_s
    else:
        res.diagnose_flink_s, _ = _time(graph, paced)
    res.rss_after_mib = _rss_mib()
    _log(f"{res.shape}: diagnose() {res.diagnose_s:.3f} s over {len(samples)} samples "
         f"({res.diagnose_flink_s:.3f} s at Flink's refresh): {res.verdict}")


def profile_diagnose(graph: JobGraph, samples: list[Sample]) -> str:
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    diagnose(graph, samples)
    prof.disable()
    took = time.perf_counter() - t0
    out = io.StringIO()
    for key in ("tottime", "cumulative"):
        out.write(f"-- sorted by {key} --\n")
        pstats.Stats(prof, stream=out).sort_stats(key).print_stats(10)
    text = out.getvalue().replace(str(REPO / "src") + "/", "")
    lines = [ln.rstrip() for ln in text.splitlines()
             if ln.strip() and not ln.strip().startswith(("Ordered by", "List reduced"))]
    return f"{took:.1f} s under the profiler\n" + "\n".join(lines)


def run_watch(vertices: int, parallelism: int, res: Result) -> None:
    """Peak RSS of `flowscope watch` against an emulator with Flink's 10 s refresh."""
    with Emulator(vertices, parallelism, fast=False) as emu:
        cmd = [sys.executable, "-c", WATCH, "watch", "--url", emu.url, "--duration", "60",
               "--interval", "2"]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env=_env())
        res.watch_wall_s = time.perf_counter() - t0
        peaks = [ln.split()[1] for ln in done.stderr.splitlines()
                 if ln.startswith("peak-rss-kib ")]
        if done.returncode != 0:
            res.notes.append(f"watch exited {done.returncode}: {done.stderr.strip()[-200:]}")
        if peaks:
            res.watch_rss_mib = int(peaks[-1]) / 1024
    _log(f"{res.shape}: watch peak RSS {res.watch_rss_mib or 0:.0f} MiB "
         f"({res.watch_wall_s:.0f} s)")


def bench_shape(shape: str, args: argparse.Namespace, profile: bool) -> tuple[Result, str]:
    vertices, parallelism = _parse(shape)
    res = Result(shape, vertices, parallelism)
    prof = ""
    with Emulator(vertices, parallelism, fast=True) as emu:
        graph, samples = poll_samples(emu, res, args.poll_budget_s, tiered=not args.untiered)
    time_diagnose(graph, samples, res)
    if profile:
        prof = profile_diagnose(graph, samples)
    del samples
    gc.collect()
    if args.watch_all or (not args.no_watch and res.subtasks <= WATCH_MAX_SUBTASKS):
        run_watch(vertices, parallelism, res)
    return res, prof


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f}" if n < 1e7 else f"{n / 1e6:.0f}"


def table(results: list[Result]) -> str:
    head = ("| job (V x P) | subtasks | TMs | detail vertices | requests / poll (first) "
            "| MB in / poll (first) "
            "| poll wall s (median of 3) | emulator CPU s / poll | flowscope CPU s / poll "
            "| `diagnose()` s "
            "(samples over s) | at 10 s refresh | verdict | RSS after diagnose, MiB "
            "| `watch` peak RSS, MiB |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in results:
        timed = r.steady[:TIMED_POLLS]
        if r.first is None or not timed:
            continue
        req = statistics.median(p.requests for p in r.steady)
        mb = statistics.median(p.bytes_in for p in r.steady)
        wall = statistics.median(p.wall_s for p in timed)
        emu = statistics.median(p.emulator_cpu_s for p in timed)
        own = statistics.median(p.client_cpu_s for p in timed)
        watch = (f"{r.watch_rss_mib:.0f} ({r.watch_wall_s:.0f} s)"
                 if r.watch_rss_mib is not None and r.watch_wall_s is not None else "-")
        lines.append(
            f"| {r.vertices} x {r.parallelism:,} | {r.subtasks:,} | {r.taskmanagers} "
            f"| {'all' if r.detail is None else r.detail} "
            f"| {req:,.0f} ({r.first.requests:,}) | {_mb(mb)} ({_mb(r.first.bytes_in)}) "
            f"| {wall:.2f} | {emu:.2f} | {own:.2f} "
            f"| {r.diagnose_s:.3f} ({r.samples} over {r.span_s:.0f}) "
            f"| {r.diagnose_flink_s:.3f} | {r.verdict} | {r.rss_after_mib:.0f} | {watch} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", nargs="+", metavar="VxP", help=f"default: {DEFAULT_SHAPES}")
    ap.add_argument("--all", action="store_true", help=f"every shape: {SHAPES}")
    ap.add_argument("--poll-budget-s", type=float, default=240.0,
                    help="wall time for a shape's samples; fewer than 30 past it")
    ap.add_argument("--no-watch", action="store_true", help="skip the `watch` runs")
    ap.add_argument("--watch-all", action="store_true",
                    help=f"`watch` past {WATCH_MAX_SUBTASKS:,} subtasks too")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--untiered", action="store_true",
                    help="read every vertex's gauges subtask by subtask, as before two-tier polls")
    ap.add_argument("--out", type=Path, help="also write the report (markdown) here")
    args = ap.parse_args()
    shapes = SHAPES if args.all else (args.shapes or DEFAULT_SHAPES)
    shapes = sorted(shapes, key=lambda s: _parse(s)[0] * _parse(s)[1])
    started = time.perf_counter()
    results: list[Result] = []
    profile = ""
    for shape in shapes:
        last = shape == shapes[-1]
        res, prof = bench_shape(shape, args, profile=last and not args.no_profile)
        results.append(res)
        profile = prof or profile
    notes = [f"- {r.shape}: {n}" for r in results for n in r.notes]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    report = "\n".join([
        f"# flowscope at scale ({datetime.now(UTC):%Y-%m-%d}, commit {commit})",
        "",
        f"{os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}; `python bench/bench_scale.py "
        f"{' '.join(sys.argv[1:])}` took {time.perf_counter() - started:.0f} s.",
        "Requests and bytes: steady-state poll, first poll in brackets (it also lists every "
        "vertex's metric names, which flowscope repeats every 60 s of wall time: once polls "
        "take longer than that, every poll costs the bracketed figures). `diagnose()` over "
        "the samples' default 60 s window. RSS after diagnose: this benchmark's process, "
        "holding the samples. `watch`: peak RSS and how long the 60 s run took.",
        "",
        table(results),
        *(["", "Notes:", *notes] if notes else []),
        *(["", f"cProfile of `diagnose()` at {results[-1].shape}:", "", "```", profile, "```"]
          if profile else []),
        "",
        f"Peak RSS of this benchmark process: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB.",
    ])
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n")


if __name__ == "__main__":
    main()
