"""Run flowscope's live commands against a FaultServer and measure how each fared.

Each command runs as its own process, as a user runs it, so exit codes, tracebacks, signals
and the wall clock are the real ones. The four commands of one fault kind run at the same time,
each against its own server (its faults then depend only on its own requests and the seed):
a kind costs one duration of wall time, not four.

    record    polls kept: the polls in the recording it wrote
    watch     not on a terminal it prints plain lines at each metric snapshot; polls kept:
              the polls it recorded (--record), as the printed `poll N` lags a snapshot
    serve     asked for /api/jobs and /metrics after the duration, then sent SIGTERM;
              polls kept: the samples /api/jobs reports
    diagnose  --json; polls kept: the polls it recorded (--record); it may stop early with a
              verdict, so its expected polls follow its own run time
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.faults.server import REQUEST_FAULTS, SCENARIOS, FaultServer

COMMANDS = ("record", "watch", "serve", "diagnose")
# "none" is the control: the same run with no fault at all.
KINDS = ("none", *REQUEST_FAULTS, *SCENARIOS)
CLI = [sys.executable, "-m", "flowscope.cli"]
SRC = Path(__file__).resolve().parents[2] / "src"
PYCACHE = Path(tempfile.gettempdir()) / "flowscope-faults-pycache"
# Exit codes of a run that ended as asked (diagnose: healthy, backpressured, could not tell).
OK_EXIT = {"record": {0}, "watch": {0}, "serve": {0}, "diagnose": {0, 1, 3}}
TRACEBACK = "Traceback (most recent call last)"
POLL_LINE = re.compile(r"\bpoll (\d+) ·")
# A run that ends this much before its duration ended early (a poll's worth of slack). A
# command's --duration counts from its own start, between the process's start and its first
# request: ending this much short of the duration since the process started is early.
EARLY_S = 1.0
# A command that has not sent its first request by then is not going to.
STARTUP_LIMIT_S = 15.0


@dataclass(frozen=True)
class Settings:
    duration: float = 15.0
    interval: float = 1.0
    rate: float = 0.2
    seed: int = 1
    fixture: str = "compute-bound"
    speed: float = 3.0  # metric snapshots every ~3 s instead of ~10 s: more happens per run
    start: int = 10  # past the job's start-up, where every metric has values
    overrun_s: float = 4.0  # how long past the asked duration a run may take to end
    kill_after_s: float = 45.0  # past the duration, a run still going is killed

    def server(self, kind: str, command: str) -> FaultServer:
        # Each command its own seed: the four runs of a kind do not share one fault pattern.
        seed = self.seed * 100 + COMMANDS.index(command)
        if kind in SCENARIOS:
            return FaultServer(self.fixture, mode=kind, mode_at=0.3 * self.duration,
                               outage_s=0.3 * self.duration, restart_s=1.0, seed=seed,
                               speed=self.speed, start=self.start)
        faults = () if kind == "none" else (kind,)
        return FaultServer(self.fixture, faults=faults, rate=self.rate, seed=seed,
                           speed=self.speed, start=self.start)


@dataclass
class RunResult:
    kind: str
    command: str
    exit_code: int | None  # None: it had not ended `kill_after_s` past the duration
    traceback: bool
    polls: int
    expected: int
    wall_s: float  # from the process's start to its end
    asked_s: float
    startup_s: float  # from the process's start to its first request (imports, set-up)
    late_s: float  # past its duration (serve: from SIGTERM to its end)
    early: bool  # ended before its duration without a reason to (a verdict)
    in_time: bool
    requests: int = 0
    faults: int = 0
    served: bool | None = None  # serve: /api/jobs and /metrics answered
    detail: str = ""
    stderr: str = field(default="", repr=False)

    @property
    def kept(self) -> float:
        return min(1.0, self.polls / self.expected) if self.expected else 0.0

    @property
    def ended_as_asked(self) -> bool:
        return (self.exit_code in OK_EXIT[self.command] and self.in_time
                and self.served is not False)

    @property
    def survived(self) -> bool:
        return self.ended_as_asked and not self.traceback

    def problems(self, min_kept: float = 0.7) -> list[str]:
        """What falls short of 'ends as asked, no traceback, keeps min_kept of the polls'."""
        out = []
        if self.exit_code is None:
            out.append(f"still running {self.wall_s - self.asked_s:.0f} s past its duration")
        elif self.exit_code not in OK_EXIT[self.command]:
            out.append(f"exit {self.exit_code}")
        elif self.early:
            out.append(f"ended {self.wall_s:.1f} s after its start, asked for "
                       f"{self.asked_s:g} s")
        elif not self.in_time:
            out.append(f"took {self.late_s:.1f} s to stop after SIGTERM" if self.command == "serve"
                       else f"ended {self.late_s:.1f} s past its duration")
        if self.traceback:
            out.append("traceback")
        if self.served is False:
            out.append("dashboard did not answer")
        if self.kept < min_kept:
            out.append(f"kept {self.polls}/{self.expected} polls")
        return out


def recorded_polls(path: Path, server: FaultServer) -> int:
    """Polls in the recording at `path` of the job that was running when each was taken (after
    a job was replaced, polls of the old one do not count)."""
    if not path.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro",
                                                uri=True)) as conn:
            rows = conn.execute("SELECT t, job_id FROM polls").fetchall()
    except sqlite3.Error:
        return 0
    return sum(1 for t, job in rows if job == server.replay.job_at(t))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "NO_COLOR": "1", "COLUMNS": "160"}
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        # The commands start dozens of times, several at once: compiling every module at
        # every start costs seconds of CPU each. Compile once, into a cache of our own.
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


class _Process:
    """A flowscope command with its output in files (a pipe could fill and block it)."""

    def __init__(self, args: Sequence[str], workdir: Path, name: str) -> None:
        self.out_path, self.err_path = workdir / f"{name}.out", workdir / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.started = time.monotonic()
            self.proc = subprocess.Popen([*CLI, *args], stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=workdir, env=_env())
        self.ended: float | None = None

    def wait(self, timeout: float) -> int | None:
        try:
            code = self.proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.ended = time.monotonic()
            return None
        self.ended = time.monotonic()
        return code

    @property
    def wall_s(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def output(self) -> tuple[str, str]:
        return (self.out_path.read_text(errors="replace"),
                self.err_path.read_text(errors="replace"))


def run_command(command: str, kind: str, settings: Settings, workdir: Path) -> RunResult:
    """One run of `command` against a server injecting `kind`."""
    d, i = settings.duration, settings.interval
    name = f"{kind}-{command}"
    with settings.server(kind, command) as server:
        common = ["--url", server.url, "--job", server.job_name, "--interval", f"{i:g}"]
        rec = workdir / f"{name}.fsrec"
        served: bool | None = None
        detail = ""
        if command == "serve":
            port = free_port()
            proc = _Process(["serve", *common, "--port", str(port)], workdir, name)
            polls, served, detail, stopped_at = _serve_until(proc, port, d, server)
            code = proc.wait(settings.kill_after_s)
            asked, late = d, proc.wall_s - (stopped_at - proc.started)
        else:
            args = {"record": ["record", str(rec), *common, "--duration", f"{d:g}"],
                    "watch": ["watch", *common, "--duration", f"{d:g}", "--record", str(rec)],
                    "diagnose": ["diagnose", *common, "--duration", f"{d:g}", "--json",
                                 "--record", str(rec)]}[command]
            proc = _Process(args, workdir, name)
            _wait_for_start(proc, server)
            code = proc.wait(proc.started + _startup(proc, server) + d + settings.kill_after_s
                             - time.monotonic())
            polls = recorded_polls(rec, server)
            asked, late = d, proc.wall_s - _startup(proc, server) - d
        stdout, stderr = proc.output()
        if command == "watch":
            printed = [int(n) for n in POLL_LINE.findall(stdout)]
            detail = (f"printed {len(printed)} block(s), up to poll {max(printed)}" if printed
                      else "printed nothing")
        elif command == "diagnose":
            detail = _verdict(stdout)
        ran = proc.wall_s - _startup(proc, server)
        traceback = TRACEBACK in stdout or TRACEBACK in stderr
        # A traceback exits 1 too, which reads as "backpressured": not a verdict.
        verdict = command == "diagnose" and code in (0, 1) and not traceback
        # Each is owed the polls of the time it ran from its first request: its --duration
        # counts from its own start, and its set-up before the first request varies with load.
        span = min(ran, d)
        expected = max(1, int((span - server.downtime_s) / i))
        # Only diagnose may end before its duration (with a verdict); serve is stopped.
        early = command != "serve" and not verdict and proc.wall_s < d - EARLY_S
        if not detail and stderr.strip():
            detail = stderr.strip().splitlines()[-1][:120]
        return RunResult(
            kind=kind, command=command, exit_code=code,
            traceback=traceback, polls=polls,
            expected=expected, wall_s=proc.wall_s, asked_s=asked,
            startup_s=_startup(proc, server), late_s=late, early=early,
            in_time=code is not None and late <= settings.overrun_s and not early,
            requests=server.requests, faults=sum(server.faults_injected.values()),
            served=served, detail=detail, stderr=stderr,
        )


def _startup(proc: _Process, server: FaultServer) -> float:
    """Seconds from the process's start to its first request (0 if it made none)."""
    first = server.first_request
    return max(0.0, first - proc.started) if first is not None else 0.0


def _wait_for_start(proc: _Process, server: FaultServer) -> None:
    """Until the command's first request (or its end, or STARTUP_LIMIT_S)."""
    limit = proc.started + STARTUP_LIMIT_S
    while (server.first_request is None and time.monotonic() < limit
           and proc.proc.poll() is None):
        time.sleep(0.05)


def _serve_until(proc: _Process, port: int, duration: float,
                 server: FaultServer) -> tuple[int, bool, str, float]:
    """Let `serve` run for `duration` from its first request, read its API, then stop it as a
    service manager does (SIGTERM). Returns (samples kept, answered, a note, when SIGTERM
    was sent)."""
    _wait_for_start(proc, server)
    deadline = (server.first_request or time.monotonic()) + duration
    while time.monotonic() < deadline and proc.proc.poll() is None:
        time.sleep(0.1)
    polls, served, note = 0, False, ""
    if proc.proc.poll() is None:
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(timeout=5.0) as client:
                jobs = client.get(f"{base}/api/jobs")
                metrics = client.get(f"{base}/metrics")
            body = jobs.json()
            polls = sum(int(j.get("polls") or 0) for j in body.get("jobs", []))
            errors = [j["error"] for j in body.get("jobs", []) if j.get("error")]
            errors += [s["error"] for s in body.get("sources", []) if s.get("error")]
            series = sum(1 for line in metrics.text.splitlines()
                         if line.startswith("flowscope_"))
            served = jobs.status_code == 200 and metrics.status_code == 200
            note = (f"/api/jobs {jobs.status_code}, /metrics {metrics.status_code} "
                    f"({series} series)" + (f"; shows: {errors[0][:70]}" if errors else ""))
        except (httpx.HTTPError, ValueError) as exc:
            note = f"dashboard: {type(exc).__name__}"
    else:
        note = "ended before it was stopped"
    stopped_at = time.monotonic()
    if proc.proc.poll() is None:
        proc.proc.send_signal(signal.SIGTERM)
    return polls, served, note, stopped_at


def _verdict(stdout: str) -> str:
    try:
        doc = json.loads(stdout)
    except ValueError:
        return ""
    necks = ", ".join(doc.get("bottlenecks") or []) or "-"
    return f"verdict {doc.get('verdict')} (bottleneck {necks})"


def run_kinds(kinds: Sequence[str], settings: Settings, workdir: Path,
              commands: Sequence[str] = COMMANDS,
              parallel: bool = True) -> dict[str, list[RunResult]]:
    """Every command through each fault kind: all at the same time unless told otherwise
    (the runs wait on the network and the clock far more than they compute)."""
    results: dict[tuple[str, str], RunResult] = {}

    def one(kind: str, command: str) -> None:
        (workdir / kind).mkdir(parents=True, exist_ok=True)
        results[kind, command] = run_command(command, kind, settings, workdir / kind)

    pairs = [(k, c) for k in kinds for c in commands]
    if not parallel:
        for kind, command in pairs:
            one(kind, command)
    else:
        threads = [threading.Thread(target=one, args=pair, name=f"run {pair}") for pair in pairs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return {k: [results[k, c] for c in commands] for k in kinds}


def run_kind(kind: str, settings: Settings, workdir: Path,
             commands: Sequence[str] = COMMANDS, parallel: bool = True) -> list[RunResult]:
    """Every command through one fault kind (in workdir/kind)."""
    return run_kinds([kind], settings, workdir, commands, parallel)[kind]


@dataclass
class Ended:
    """How a command given --duration ended on its own (no signal sent)."""

    command: str
    exit_code: int | None  # None: still running `kill_after_s` past its duration, killed
    wall_s: float  # from the process's start to its end
    startup_s: float  # from the process's start to its first request
    requests: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)
    api_jobs: dict[str, Any] | None = None  # serve: its /api/jobs, read while it ran

    @property
    def ran_s(self) -> float:
        """From its first request to its end: what its --duration bounds (start-up aside)."""
        return self.wall_s - self.startup_s


def run_to_the_end(command: str, server: FaultServer, duration: float, interval: float,
                   workdir: Path, kill_after_s: float = 30.0) -> Ended:
    """`command` against `server` with --duration (serve too), left to end by itself."""
    common = ["--url", server.url, "--job", server.job_name, "--interval", f"{interval:g}",
              "--duration", f"{duration:g}"]
    args = {"record": ["record", str(workdir / f"{command}.fsrec"), *common],
            "watch": ["watch", *common],
            "serve": ["serve", *common, "--port", str(free_port())],
            "diagnose": ["diagnose", *common, "--json"]}[command]
    proc = _Process(args, workdir, command)
    api_jobs = None
    if command == "serve":  # what the dashboard says while it runs, once it has polled
        _wait_for_start(proc, server)
        while proc.proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                api_jobs = httpx.get(f"http://127.0.0.1:{args[-1]}/api/jobs",
                                     timeout=5.0).json()
            if api_jobs and any(j.get("failed_polls") or j.get("polls")
                                for j in api_jobs.get("jobs", [])):
                break
            time.sleep(0.2)
    code = proc.wait(proc.started + duration + kill_after_s - time.monotonic())
    stdout, stderr = proc.output()
    return Ended(command, code, proc.wall_s, _startup(proc, server), server.requests,
                 stdout, stderr, api_jobs)


def run_all_to_the_end(faults: Sequence[str], duration: float, interval: float, workdir: Path,
                       commands: Sequence[str] = COMMANDS, fixture: str = "compute-bound",
                       stall_s: float = 12.0) -> dict[tuple[str, str], Ended]:
    """Every command under every fault, all at the same time (they wait far more than they
    compute), each against its own server whose job list answers while every request for
    the job gets the fault (scope "job", rate 1). Keyed by (fault, command)."""
    out: dict[tuple[str, str], Ended] = {}

    def one(fault: str, command: str) -> None:
        where = workdir / fault
        where.mkdir(parents=True, exist_ok=True)
        with FaultServer(fixture, faults=[fault], rate=1.0, scope="job", stall_s=stall_s,
                         start=10) as server:
            out[fault, command] = run_to_the_end(command, server, duration, interval, where)

    threads = [threading.Thread(target=one, args=(f, c), name=f"run {f} {c}")
               for f in faults for c in commands]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out
