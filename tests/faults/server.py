"""FaultServer: a JobManager stand-in that replays a real recording over HTTP and breaks some
of its answers on purpose.

    with FaultServer("compute-bound", faults=["reset", "http_503"], rate=0.2, seed=1) as s:
        run flowscope against s.url ...
        s.requests, s.faults_injected          # what was asked, what was broken

Answers come from `replay.Replay` (a fixture's responses, poll by poll). With probability
`rate` a request gets one of `faults` instead (REQUEST_FAULTS). Whether a request is faulted,
and how, depends only on the seed, the path and how many times that path was asked before,
not on the order in which concurrent requests arrive: a run is reproducible from its seed.

Scenarios change the cluster itself (SCENARIOS), at a call (`outage()`, `restart()`,
`rescale()`, `replace_job()`) or on their own (`mode=`) `mode_at` seconds after the first
request. The job's clock starts at the first request too: a client's start-up time varies,
its first request is when its run begins.

It listens on 127.0.0.1 only. Connection-level faults (resets, short bodies) need the socket
itself, so responses are written by hand on top of `http.server`'s request parsing.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from typing import Any

from tests.faults import mutate
from tests.faults.replay import JSON_TYPE, Answer, Replay

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# Faults of one request. `stall` answers after longer than flowscope's 10 s client timeout;
# `slow` within it, late enough to eat into a poll interval.
REQUEST_FAULTS = (
    "stall", "slow", "reset", "close", "short_body", "http_500", "http_503",
    "truncated_json", "invalid_json", "empty_json", "html", "wrong_content_type",
    "odd_values", "dropped_keys", "wrong_types", "null_body",
)
# Faults of the cluster: the JobManager unreachable for a while, restarted, the job rescaled,
# the job replaced by a new one (new id, same name).
SCENARIOS = ("outage", "restart", "rescale", "replace_job")
# Which requests a fault may hit: any, or only those for a job (`/jobs/<id>...`, not the
# job list `/jobs/overview`).
SCOPES = ("all", "job")
FAULT_KINDS = REQUEST_FAULTS + SCENARIOS

# Error bodies in the shape Flink's REST handlers use, with Flink's own messages.
ERROR_500 = {"errors": ["Internal server error."]}
ERROR_503 = {"errors": ["Service temporarily unavailable due to an ongoing leader election. "
                        "Please refresh."]}
# What an authenticating proxy in front of the JobManager answers when a session expired.
LOGIN_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n"
              b"<body><form method=\"post\" action=\"/oauth2/start\">"
              b"<button>Sign in</button></form></body></html>\n")


@dataclass(frozen=True)
class Request:
    """One request as the server saw it."""

    t: float  # monotonic seconds since the server started
    method: str
    path: str
    fault: str | None
    status: int | None  # None when no status line was sent


def fixture_file(fixture: str | Path) -> Path:
    """A fixture name ("skew") or a path to a recording."""
    path = Path(fixture)
    if path.suffix != ".fsrec" and not path.exists():
        path = FIXTURES / f"{fixture}.fsrec"
    if not path.exists():
        raise FileNotFoundError(path)
    return path


class _Http(ThreadingHTTPServer):
    """One life of the server process: a listening socket and the connections it accepted."""

    daemon_threads = True
    block_on_close = False  # stalled handlers must not hold a shutdown
    allow_reuse_address = True  # a restart binds the same port again at once

    def __init__(self, owner: FaultServer, port: int) -> None:
        self.owner = owner
        self.dead = threading.Event()  # set when this life ends: stalled answers give up
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn); loopback needs no DNS.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conns_lock:
            if alive:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def kill(self) -> None:
        """End this life as a crashed process would: stop listening, drop every connection."""
        self.dead.set()
        self.shutdown()
        self.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-answer is part of the game, not an error of the server.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Flink's Netty server
    server: _Http

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        try:
            self.server.owner._serve(self)
        except OSError:  # the client left (or was reset) while we answered
            self.close_connection = True

    def _refuse(self) -> None:
        # flowscope only ever reads from Flink: anything else is noted (tests assert on it).
        try:
            self.server.owner._refuse(self)
        except OSError:
            self.close_connection = True

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _refuse


class FaultServer:
    """Serves `fixture` (a name in tests/fixtures or a path) as a live JobManager on
    127.0.0.1, injecting `faults` (from REQUEST_FAULTS) into a `rate` share of the requests.

    speed:    recorded seconds per wall second (the job progresses `speed` times faster)
    start:    index of the recorded poll the replay starts at (skip the job's start-up)
    advance:  "clock" (the poll follows the wall clock) or "request" (one poll per request
              for the job itself, /jobs/<id>)
    mode:     a scenario (from SCENARIOS) that happens on its own `mode_at` s after the
              first request; an outage lasts `outage_s`, a restart is down for `restart_s`
    scope:    which requests may be faulted: "all", or "job" (only a job's own requests,
              `/jobs/<id>...`: with rate=1.0 the job list answers while every read of the
              job fails, as a JobManager that lists a job whose details it cannot serve)
    stall_s / slow_s: how long a stalled / slow answer takes
    """

    def __init__(self, fixture: str | Path = "compute-bound", faults: Sequence[str] = (),
                 rate: float = 0.2, seed: int = 1, *, mode: str | None = None,
                 mode_at: float = 3.0, outage_s: float = 5.0, restart_s: float = 1.0,
                 speed: float = 1.0, start: int = 0, advance: str = "clock",
                 stall_s: float = 12.0, slow_s: float = 2.0, port: int = 0,
                 other_jobs: bool = False, scope: str = "all") -> None:
        unknown = set(faults) - set(REQUEST_FAULTS)
        if unknown:
            raise ValueError(f"unknown request faults {sorted(unknown)}")
        if mode is not None and mode not in SCENARIOS:
            raise ValueError(f"mode is one of {SCENARIOS}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate is a probability")
        if scope not in SCOPES:
            raise ValueError(f"scope is one of {SCOPES}")
        self.scope = scope
        self.fixture = fixture_file(fixture)
        self.faults = tuple(faults)
        self.rate = rate
        self.seed = seed
        self.mode, self.mode_at = mode, mode_at
        self.outage_s, self.restart_s = outage_s, restart_s
        self.stall_s, self.slow_s = stall_s, slow_s
        self.replay = Replay(self.fixture, speed=speed, start=start, advance=advance,
                             other_jobs=other_jobs, seed=seed)
        self.port = port
        self.requests = 0
        self.faults_injected: Counter[str] = Counter()
        self.scenarios: list[tuple[float, str]] = []  # (seconds since start, what happened)
        self.log: list[Request] = []
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._life_lock = threading.RLock()
        self._http: _Http | None = None
        self._thread: threading.Thread | None = None
        self._timers: list[threading.Timer] = []
        self._down_since: float | None = None
        self._downtime = 0.0
        self._started = 0.0
        self._stopped = False
        self.first_request: float | None = None  # monotonic time of the first request

    # -- life ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def job_id(self) -> str:
        """The id of the job running now (changes with `replace_job()`)."""
        return self.replay.job.id

    @property
    def job_name(self) -> str:
        return self.replay.job_name

    @property
    def up(self) -> bool:
        return self._http is not None

    @property
    def downtime_s(self) -> float:
        """Seconds the server has been unreachable so far."""
        with self._life_lock:
            extra = time.monotonic() - self._down_since if self._down_since is not None else 0
            return self._downtime + extra

    def start(self) -> FaultServer:
        self._started = time.monotonic()
        self._bring_up()
        return self

    def stop(self) -> None:
        with self._life_lock:
            self._stopped = True
            for timer in self._timers:
                timer.cancel()
            if self._http is not None:
                self._bring_down()
            self._down_since = None  # stopped is not an outage

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _bring_up(self) -> None:
        with self._life_lock:
            if self._stopped or self._http is not None:
                return
            http = _Http(self, self.port)
            self.port = http.server_address[1]
            self._http = http
            self._thread = threading.Thread(target=http.serve_forever, args=(0.05,),
                                            name=f"fault-server:{self.port}", daemon=True)
            self._thread.start()
            if self._down_since is not None:
                self._downtime += time.monotonic() - self._down_since
                self._down_since = None

    def _bring_down(self) -> None:
        with self._life_lock:
            http, self._http = self._http, None
            if http is None:
                return
            http.kill()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._down_since = time.monotonic()

    def _after(self, seconds: float, fn: Any) -> None:
        if self._stopped:
            return
        timer = threading.Timer(seconds, fn)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _note(self, what: str) -> None:
        self.scenarios.append((time.monotonic() - self._started, what))

    def _run_mode(self) -> None:
        try:
            if self.mode == "outage":
                self.outage(self.outage_s)
            elif self.mode == "restart":
                self.restart(self.restart_s)
            elif self.mode == "rescale":
                self.rescale()
            elif self.mode == "replace_job":
                self.replace_job()
        except OSError as exc:  # in a timer thread: say so instead of raising into nowhere
            self._note(f"{self.mode} failed: {exc}")

    # -- scenarios -----------------------------------------------------------------------------

    def outage(self, seconds: float) -> None:
        """The JobManager is gone for `seconds` (connections refused, open ones dropped), then
        answers again on the same port, the job having run on meanwhile. Returns at once."""
        self._note(f"outage {seconds:g} s")
        self._bring_down()
        self._after(seconds, self._come_back)

    def _come_back(self) -> None:
        try:
            self._bring_up()
        except OSError as exc:  # someone took the port meanwhile: the outage goes on
            self._note(f"could not listen on {self.port} again: {exc}")

    def restart(self, down_s: float = 1.0, *, same_port: bool = True,
                new_job: bool = False) -> None:
        """The JobManager process restarts: down for `down_s`, then back, on the same port or
        (same_port=False) another one (see `url`). With `new_job`, the job did not survive
        and was resubmitted under a new id. Returns once the server is back."""
        self._note(f"restart ({down_s:g} s down{', new port' if not same_port else ''}"
                   f"{', new job' if new_job else ''})")
        self._bring_down()
        time.sleep(down_s)
        if new_job:
            self.replay.replace_job()
        if not same_port:
            self.port = 0
        self._bring_up()

    def rescale(self, parallelism: int | dict[str, int] | None = None) -> dict[str, int]:
        """The job's vertices change parallelism (default: every vertex one more)."""
        changed = self.replay.rescale(parallelism)
        self._note(f"rescale {sorted(changed.values())}")
        return changed

    def replace_job(self) -> str:
        """The job is cancelled and resubmitted: same name, new id (returned)."""
        new_id = self.replay.replace_job()
        self._note(f"job replaced by {new_id[:8]}")
        return new_id

    # -- requests ------------------------------------------------------------------------------

    def _arrive(self, path: str) -> int:
        """Count a request; how many came for this path before it."""
        with self._lock:
            self.requests += 1
            n = self._seen[path]
            self._seen[path] += 1
            first = self.first_request is None
            if first:
                self.first_request = time.monotonic()
        if first:
            # A client's start-up time varies (seconds on a busy machine): the job and the
            # scenario clocks start with its first request, so every run sees the same job.
            self.replay.begin()
            if self.mode is not None:
                self._after(self.mode_at, self._run_mode)
        return n

    def _pick(self, path: str, n: int) -> tuple[str | None, random.Random]:
        """The fault for the n-th request of `path` (or None), and a generator for its
        details: both depend on the seed, the path and n only."""
        rng = random.Random(f"{self.seed}|{path}|{n}")
        if self.scope == "job" and not is_job_path(path):
            return None, rng
        if self.faults and rng.random() < self.rate:
            kind = rng.choice(self.faults)
            with self._lock:
                self.faults_injected[kind] += 1
            return kind, rng
        return None, rng

    def _log(self, method: str, path: str, fault: str | None, status: int | None) -> None:
        with self._lock:
            self.log.append(Request(time.monotonic() - self._started, method, path, fault,
                                    status))

    def _refuse(self, h: _Handler) -> None:
        self._arrive(h.path)
        self._log(h.command, h.path, None, 405)
        body = json.dumps({"errors": ["Not allowed: " + h.command]}).encode()
        _send(h, 405, body, JSON_TYPE)

    def _serve(self, h: _Handler) -> None:
        path = h.path
        n = self._arrive(path)
        answer = self.replay.answer(path)
        fault, rng = self._pick(path, n)
        # Logged before the answer leaves: a client that got it finds it in the log.
        self._log("GET", path, fault, _status(answer, fault))
        _deliver(h, answer, fault, rng, self)


def is_job_path(raw_path: str) -> bool:
    """A request for one job (`/jobs/<id>`, `/jobs/<id>/...`), not the job list."""
    parts = raw_path.partition("?")[0].split("/")
    return len(parts) >= 3 and parts[1] == "jobs" and parts[2] not in ("", "overview")


def _send(h: _Handler, status: int, body: bytes, content_type: str, *,
          length: int | None = None) -> None:
    """A response as Flink's Netty server writes one (lower-case headers, keep-alive)."""
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            f"content-type: {content_type}\r\n"
            f"access-control-allow-origin: *\r\n"
            f"content-length: {len(body) if length is None else length}\r\n\r\n")
    h.wfile.write(head.encode("latin-1") + body)


def _reset(h: _Handler) -> None:
    """Abort the connection: an RST, no answer."""
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.rfile.close()  # the last reference but the socket's own: close() really closes it
    h.connection.close()
    h.close_connection = True


def _status(answer: Answer, fault: str | None) -> int | None:
    """The status line `_deliver` sends (None: none; a stalled answer may never get there)."""
    if fault in ("reset", "close"):
        return None
    if fault in ("http_500", "http_503"):
        return int(fault[-3:])
    return 200 if fault == "html" else answer.status


def _deliver(h: _Handler, answer: Answer, fault: str | None, rng: random.Random,
             server: FaultServer) -> None:
    """Write `answer` to the client, broken the way `fault` says."""
    body, status, ctype = answer.body, answer.status, answer.content_type
    if fault is None or fault == "wrong_content_type":
        if fault:
            ctype = rng.choice(["text/plain; charset=UTF-8", "text/html; charset=UTF-8",
                                "application/octet-stream"])
        _send(h, status, body, ctype)
        return
    if fault in ("stall", "slow"):
        if h.server.dead.wait(server.stall_s if fault == "stall" else server.slow_s):
            h.close_connection = True  # the process died meanwhile: no answer at all
            return
        _send(h, status, body, ctype)
        return
    if fault == "reset":
        _reset(h)
        return
    if fault == "close":
        h.close_connection = True
        return
    if fault == "short_body":
        _send(h, status, body[: len(body) // 2], ctype, length=len(body))
        h.close_connection = True
        return
    if fault in ("http_500", "http_503"):
        code = 500 if fault == "http_500" else 503
        _send(h, code, json.dumps(ERROR_500 if code == 500 else ERROR_503).encode(), JSON_TYPE)
        return
    if fault == "html":
        _send(h, 200, LOGIN_PAGE, "text/html; charset=UTF-8")
        return
    if fault == "empty_json":
        body = b""
    elif fault == "null_body":
        body = b"null"
    elif fault == "truncated_json":
        body = mutate.truncate_text(body, rng)
    elif fault == "invalid_json":
        body = mutate.corrupt_text(body, rng)
    elif fault in mutate.KIND_OPS:
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if doc is not None:
            count = rng.choice([1, 1, 2, 3])
            doc, _ = mutate.apply_all(doc, mutate.random_mutations(mutate.KIND_OPS[fault], rng,
                                                                   count))
            body = mutate.dumps(doc)
    _send(h, status, body, ctype)
