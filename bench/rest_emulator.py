#!/usr/bin/env python3
"""Flink's REST API for a job of V vertices x P parallelism, grown from a recorded real poll.

Benchmarks of flowscope at scale need a job far bigger than this machine can run. Every response
shape here comes from a fixture recorded from a real Flink 2.3 cluster (`tests/fixtures/*.fsrec`,
replayed through flowscope's own collector, so the bodies are exactly those of one real poll):
the job, plan, vertex detail, checkpoint, TaskManager and overview bodies are the recorded ones
with ids, names, counts and values replaced, and each subtask lists the metric names its
recorded counterpart listed (82 for a source subtask, 75 or 76 for the others).

The job is a chain source -> parse.. -> enrich -> format.. -> sink with hash exchanges and slot
sharing (a slot holds one subtask of every vertex; 8 slots per TaskManager, so ceil(P/8)
TaskManagers). Each vertex behaves like its role in the fixture (by default `compute-bound`):
vertices before `enrich` are backpressured, `enrich` is busy ~100%, vertices after it idle, and
with --skew the first vertex after `enrich` has one subtask that gets 4x the records. Busy/idle/
backpressured ratios, record and byte rates, buffer counters and pool usages are those measured in
the fixture, varied per subtask and per snapshot. Accumulated times are closed-form in time, so
busy + idle + backpressured ms always equals the subtask's elapsed ms.

Like Flink's JobManager (`metrics.fetcher.update-interval`), metric values come from a snapshot
refreshed at most every --refresh-s (10 s); with --fast every `GET /jobs/:jid` (the start of a
flowscope poll) takes a new snapshot and moves the job's clock --step-s forward, so a benchmark can
take 30 polls "2 s apart" without waiting a minute. Request lines over Netty's 4096 bytes are
answered as Flink answers them: Netty turns them into a request for `/bad-request`, which Flink's
router does not know (404), and the connection is closed.

Served: /jobs/overview, /jobs/:jid, /jobs/:jid/plan, /jobs/:jid/checkpoints,
/jobs/:jid/vertices/:vid, /jobs/:jid/vertices/:vid/metrics[?get=],
/jobs/:jid/vertices/:vid/subtasks/metrics[?get=&agg=&subtasks=], /taskmanagers,
/taskmanagers/:tm/metrics[?get=], /taskmanagers/metrics[?get=&agg=&taskmanagers=].

The recorder drops fields that change with every request (`now`, `duration`, `status-duration`,
`timeSinceLastHeartbeat`); they come back from the raw capture of the same scenario in
`tests/fixtures/profiling/<scenario>.json.xz` (unstripped responses of the same cluster), whose
job, vertex detail, overview and TaskManager bodies serve as the templates when it exists.
Checkpoint counts stay those of the fixture (only their timestamps follow the clock). CPU time
comes from the fixture's lab host (2 cores shared by every TaskManager), so without flame graphs
the busy vertex reads as off-CPU rather than compute-bound.

    python bench/rest_emulator.py --vertices 40 --parallelism 250 [--port 8081] [--fast]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import lzma
import math
import random
import re
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx

from flowscope.recording import RecordedTransport, Recording

try:  # the collector is moving from sources/ to flink/
    from flowscope.flink.rest import FlinkRestSource
except ImportError:
    from flowscope.sources.rest import FlinkRestSource

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
DEFAULT_FIXTURE = FIXTURES / "compute-bound.fsrec"
SLOTS_PER_TM = 8
# Netty's HttpObjectDecoder default maxInitialLineLength, which Flink's REST endpoint keeps.
MAX_REQUEST_LINE = 4096
# The time gauges derived from the modelled ratios rather than copied from the fixture.
TIME_GAUGES = ("busyTimeMsPerSecond", "idleTimeMsPerSecond", "backPressuredTimeMsPerSecond",
               "softBackPressuredTimeMsPerSecond", "hardBackPressuredTimeMsPerSecond")
ACCUMULATED = {"accumulateBusyTimeMs": "busy", "accumulateIdleTimeMs": "idle",
               "accumulateBackPressuredTimeMs": "bp"}
DETAIL_COUNTERS = ("read-bytes", "write-bytes", "read-records", "write-records")
SPLIT = re.compile(r"\.split\.\d+\.")
JSON_HEADERS = (("Content-Type", "application/json; charset=UTF-8"),
                ("Access-Control-Allow-Origin", "*"))


# ---- what the fixture teaches ---------------------------------------------------------------


class _Capture(RecordedTransport):
    """Serves a recording like RecordedTransport and keeps every body the collector asked for."""

    def __init__(self, recording: Recording, poll_id: int) -> None:
        super().__init__(recording)
        self.poll_id = poll_id
        self.bodies: dict[str, Any] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = super().handle_request(request)
        if resp.status_code == 200:
            self.bodies[request.url.raw_path.decode("ascii")] = json.loads(resp.content)
        return resp


def _replay_poll(recording: Recording, poll_id: int, t: float, job_id: str) -> dict[str, Any]:
    """Every body of one recorded poll, as flowscope's collector requested them (so get= lists
    are exactly the ones a live poll sends)."""
    capture = _Capture(recording, poll_id)
    source = FlinkRestSource("http://fixture", transport=capture, clock=lambda: t)
    try:
        source.poll(job_id)
        capture.bodies.setdefault("/jobs/overview", source.get("/jobs/overview"))
    finally:
        source.close()
    return capture.bodies


@dataclass
class Role:
    """How one vertex of the fixture looked and behaved."""

    name: str
    op: str  # its operator's metric prefix in the listing ("Source__gen")
    listing: list[str]  # one subtask's bare metric names, "{op}" for the operator prefix
    ratios: tuple[float, float, float]  # busy, idle, backpressured shares of time
    soft_share: float  # soft / (soft + hard) backpressure
    rates: dict[str, float]  # detail counter (read-records, ...) per second per subtask
    counters: dict[str, float]  # get= counter (numBuffersOut, ...) per second per subtask
    gauges: dict[str, float]  # get= gauge (outPoolUsage, ...) as recorded
    kinds: dict[str, str]  # bare name -> "int" | "float": how Flink printed it


@dataclass
class TmValue:
    """One TaskManager metric as recorded: its value, growth per second, how Flink printed it."""

    value: float
    growth: float
    kind: str
    counter: bool


@dataclass
class Fixture:
    """The recorded bodies the emulator scales, and the roles of the fixture's vertices."""

    overview_job: dict[str, Any]
    job: dict[str, Any]
    plan: dict[str, Any]
    checkpoints: dict[str, Any]
    detail: dict[str, Any]
    taskmanager: dict[str, Any]
    tm_listing: list[str]
    tm_values: dict[str, TmValue]
    roles: dict[str, Role]  # "source", "pre", "hot", "post", "sink"
    vertex_start_ms: int  # a vertex's start-time after the job's RUNNING timestamp
    t: float  # when the fixture's last poll was taken


def _num(raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


def _kind(raw: Any) -> str:
    return "float" if isinstance(raw, float) or (isinstance(raw, str) and "." in raw) else "int"


def _op_prefix(listing: Iterable[str]) -> str:
    for name in listing:
        head, _, counter = name.rpartition(".")
        if counter == "numRecordsIn" and head and not head.startswith(("Shuffle", "buffers")):
            return head
    return ""


def _raw_capture(path: Path) -> tuple[str, dict[str, Any]]:
    """The unstripped responses captured for the same scenario (job id, path -> last body)."""
    raw = path.parent / "profiling" / f"{path.stem}.json.xz"
    if not raw.exists():
        return "", {}
    with lzma.open(raw) as f:
        data = json.load(f)
    bodies = {p: body for p, status, body, *_ in data["responses"] if status == 200}
    return str(data["meta"]["job_id"]), bodies


def load_fixture(path: Path = DEFAULT_FIXTURE, window_polls: int = 30) -> Fixture:
    """Replay the fixture's last poll and one `window_polls` earlier; roles from their deltas."""
    recording = Recording(path)
    try:
        polls = recording.polls()
        job_id = polls[-1].job_id
        first, last = polls[max(0, len(polls) - 1 - window_polls)], polls[-1]
        a = _replay_poll(recording, first.id, first.t, job_id)
        b = _replay_poll(recording, last.id, last.t, job_id)
    finally:
        recording.close()
    job = b[f"/jobs/{job_id}"]
    plan = b[f"/jobs/{job_id}/plan"]["plan"]
    inputs = {n["id"]: [i["id"] for i in n.get("inputs", []) or []] for n in plan["nodes"]}
    has_output = {u for ins in inputs.values() for u in ins}
    vertices = job["vertices"]

    def values(bodies: dict[str, Any], vid: str) -> dict[str, list[str]]:
        """bare name -> recorded value of each subtask, from the vertex's get= responses."""
        out: dict[str, list[str]] = {}
        for p, body in bodies.items():
            if p.startswith(f"/jobs/{job_id}/vertices/{vid}/metrics?get="):
                for item in body:
                    bare = str(item["id"]).partition(".")[2]
                    out.setdefault(bare, []).append(item["value"])
        return out

    def role(v: dict[str, Any]) -> Role:
        vid = v["id"]
        da, db = (x[f"/jobs/{job_id}/vertices/{vid}"] for x in (a, b))
        totals = {k: 0.0 for k in ("busy", "idle", "bp", *DETAIL_COUNTERS)}
        for sa, sb in zip(da["subtasks"], db["subtasks"], strict=True):
            ma, mb = sa["metrics"], sb["metrics"]
            for key, f in (("busy", "accumulated-busy-time"), ("idle", "accumulated-idle-time"),
                           ("bp", "accumulated-backpressured-time")):
                totals[key] += max(mb[f] - ma[f], 0.0)
            for f in DETAIL_COUNTERS:
                totals[f] += max(mb[f] - ma[f], 0.0)
        n = len(db["subtasks"])
        spent_ms = max(totals["busy"] + totals["idle"] + totals["bp"], 1e-9)
        # The window as the subtasks measured it (busy + idle + backpressured), per subtask.
        span_s = spent_ms / 1000.0 / n
        listing = [str(i["id"]) for i in b[f"/jobs/{job_id}/vertices/{vid}/metrics"]]
        bare = [name.partition(".")[2] for name in listing if name.startswith("0.")]
        op = _op_prefix(bare)
        templ = [SPLIT.sub(".split.{split}.", nm.replace(op + ".", "{op}.", 1) if op else nm)
                 for nm in bare]
        va, vb = values(a, vid), values(b, vid)
        counters, gauges, kinds = {}, {}, {}
        for name, raws in vb.items():
            t_name = name.replace(op + ".", "{op}.", 1) if op else name
            kinds[t_name] = _kind(raws[0])
            now = [_num(r) for r in raws]
            before = [_num(r) for r in va.get(name, [])]
            if name.rpartition(".")[2].startswith("num") and not name.endswith("PerSecond"):
                # Flink's counters: kept as growth per second per subtask; the rest are gauges.
                grown = sum(now) - sum(before) if len(before) == len(now) else 0.0
                counters[t_name] = max(grown, 0.0) / n / span_s
            else:
                gauges[t_name] = sum(now) / len(now)
        soft, hard = gauges.get("softBackPressuredTimeMsPerSecond", 0.0), gauges.get(
            "hardBackPressuredTimeMsPerSecond", 0.0)
        return Role(
            name=v["name"], op=op, listing=list(dict.fromkeys(templ)),
            ratios=(totals["busy"] / spent_ms, totals["idle"] / spent_ms,
                    totals["bp"] / spent_ms),
            soft_share=soft / (soft + hard) if soft + hard > 0 else 1.0,
            rates={f: totals[f] / n / span_s for f in DETAIL_COUNTERS},
            counters=counters, gauges=gauges, kinds=kinds,
        )

    by_id = {v["id"]: role(v) for v in vertices}
    source = next(v["id"] for v in vertices if not inputs.get(v["id"]))
    sink = next(v["id"] for v in vertices if v["id"] not in has_output)
    middles = [v["id"] for v in vertices if v["id"] not in (source, sink)]
    if not middles:
        raise SystemExit(f"{path}: the emulator needs a fixture with a vertex between source and "
                         "sink")
    hot = max(middles, key=lambda vid: by_id[vid].ratios[0])
    pre = next((u for u in inputs[hot] if u in middles), source)
    roles = {"source": by_id[source], "pre": by_id[pre], "hot": by_id[hot], "sink": by_id[sink]}
    # A middle vertex after the bottleneck: the sink's idle behaviour with a middle vertex's
    # metric names, passing its records on at the bottleneck's bytes per record.
    post = copy.deepcopy(by_id[sink])
    post.listing, post.op = list(by_id[hot].listing), by_id[hot].op
    post.kinds = {**by_id[hot].kinds, **post.kinds}
    post.rates["write-records"] = post.rates["read-records"]
    hot_rates = by_id[hot].rates
    post.rates["write-bytes"] = post.rates["read-records"] * (
        hot_rates["write-bytes"] / max(hot_rates["write-records"], 1e-9))
    for k in ("numBuffersOut", "{op}.numRecordsOut"):
        if k in by_id[hot].counters:
            post.counters[k] = by_id[hot].counters[k]
    out_pool = "Shuffle.Netty.Output.Buffers.outPoolUsage"
    post.gauges[out_pool] = by_id[hot].gauges.get(out_pool, 0.0)
    roles["post"] = post

    tms = b["/taskmanagers"]["taskmanagers"]
    tm_id = sorted(t["id"] for t in tms)[0]
    tm_path = f"/taskmanagers/{quote(tm_id, safe='')}/metrics"
    tm_get_a = next(v for p, v in a.items() if p.startswith(tm_path + "?get="))
    tm_get_b = next(v for p, v in b.items() if p.startswith(tm_path + "?get="))
    before = {i["id"]: _num(i["value"]) for i in tm_get_a}
    tm_values = {}
    for item in tm_get_b:
        name, now = item["id"], _num(item["value"])
        # CPU and GC time and GC counts only grow; loads, heap and thread counts are gauges.
        counter = name.endswith((".Time", ".Count")) and ".Threads." not in name
        growth = (now - before.get(name, now)) / max(last.t - first.t, 1e-9)
        tm_values[name] = TmValue(now, max(growth, 0.0), _kind(item["value"]), counter)
    overview = next(j for j in b["/jobs/overview"]["jobs"] if j["jid"] == job_id)
    running = int((job.get("timestamps") or {}).get("RUNNING") or job["start-time"])
    detail, taskmanager = b[f"/jobs/{job_id}/vertices/{hot}"], next(
        t for t in tms if t["id"] == tm_id)
    raw_id, raw = _raw_capture(path)
    # The same bodies with every field Flink sent (templates only: values are replaced).
    raw_job = raw.get(f"/jobs/{raw_id}")
    if raw_job is not None:
        raw_vertices = {rv["id"]: rv for rv in raw_job["vertices"]}
        job = {**raw_job, "vertices": [{**raw_vertices.get(v["id"], {}), **v}
                                       for v in job["vertices"]]}
    detail = raw.get(f"/jobs/{raw_id}/vertices/{hot}", detail)
    if raw.get("/taskmanagers"):
        taskmanager = raw["/taskmanagers"]["taskmanagers"][0]
    overview = next((j for j in (raw.get("/jobs/overview") or {}).get("jobs", [])
                     if j["jid"] == raw_id), overview)
    return Fixture(
        overview_job=overview, job=job, plan=plan, checkpoints=b[f"/jobs/{job_id}/checkpoints"],
        detail=detail, taskmanager=taskmanager,
        tm_listing=[str(i["id"]) for i in b[tm_path]], tm_values=tm_values, roles=roles,
        vertex_start_ms=max(0, int(vertices[0]["start-time"]) - running), t=last.t,
    )


# ---- the scaled job -------------------------------------------------------------------------


def _hex_id(*parts: object) -> str:
    return hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()


def _uniform(seed: str, n: int) -> list[float]:
    """n deterministic values in [0, 1): the same job looks the same on every run."""
    rng = random.Random(zlib.crc32(seed.encode()))
    return [rng.random() for _ in range(n)]


def _fmt(kind: str, v: float) -> str:
    """A metric value as Flink's MetricFetcher stores it (String.valueOf of a long or double)."""
    if kind == "int":
        return str(round(v))
    return repr(float(v))


def _default_max_parallelism(p: int) -> int:
    # Flink's KeyGroupRangeAssignment.computeDefaultMaxParallelism: 1.5 x P rounded up to a
    # power of two, within [128, 32768].
    return min(max(1 << math.ceil(math.log2(p + p // 2)), 128), 32768) if p > 1 else 128


@dataclass
class VertexModel:
    """One vertex of the scaled job: role, ids and per-subtask constants."""

    index: int
    id: str
    name: str
    op: str
    role: Role
    parallelism: int
    busy: list[float]
    idle: list[float]
    bp: list[float]
    rate_factor: list[float]
    phase: list[float]
    start_ms: list[int]
    listing: list[str] = field(default_factory=list)


class Job:
    """A V x P job whose values are functions of the snapshot time."""

    # The busy share wobbles with this period; its integral is closed-form, so accumulated busy
    # + idle stays equal to elapsed time and both stay monotonic.
    WOBBLE_S = 120.0

    def __init__(self, fx: Fixture, vertices: int, parallelism: int, *, skew: bool = True,
                 uptime_s: float = 600.0, now: float | None = None) -> None:
        if vertices < 3:
            raise SystemExit("the emulated job needs at least 3 vertices (source, enrich, sink)")
        self.fx = fx
        self.v, self.p = vertices, parallelism
        now = time.time() if now is None else now
        self.t0 = now
        self.running_ms = int((now - uptime_s) * 1000)
        self.id = _hex_id("job", vertices, parallelism)
        self.name = f"flowscope-scale-{vertices}x{parallelism}"
        self.n_tms = math.ceil(parallelism / SLOTS_PER_TM)
        self.tms = [self._tm(k) for k in range(self.n_tms)]
        hot = max(1, min(vertices - 2, round(0.6 * (vertices - 1))))
        self.hot = hot
        self.vertices: list[VertexModel] = []
        for i in range(vertices):
            if i == 0:
                role, name = fx.roles["source"], fx.roles["source"].name
            elif i == vertices - 1:
                role, name = fx.roles["sink"], fx.roles["sink"].name
            elif i < hot:
                role = fx.roles["pre"]
                name = role.name if hot == 2 else f"{role.name}{i}"
            elif i == hot:
                role, name = fx.roles["hot"], fx.roles["hot"].name
            else:
                role, name = fx.roles["post"], f"format{i}"
            op = role.op if name == role.name else re.sub(r"[^A-Za-z0-9_]", "_", name)
            self.vertices.append(self._vertex(i, name, op, role, skew and i == hot + 1
                                              and i < vertices - 1))
        self.by_id = {v.id: v for v in self.vertices}
        # CPU follows busy time: each TaskManager burns the fixture TaskManager's CPU scaled by
        # how many busy core-equivalents its slots hold compared with the fixture's (where each
        # TaskManager held one subtask of every vertex).
        recorded = sum(r.ratios[0] for k, r in fx.roles.items() if k != "post")
        self.tm_cpu_scale = [
            sum(v.busy[s] for v in self.vertices
                for s in range(k * SLOTS_PER_TM, min((k + 1) * SLOTS_PER_TM, parallelism)))
            / max(recorded, 1e-9)
            for k in range(self.n_tms)]

    def _tm(self, k: int) -> dict[str, Any]:
        rpc, data = 34000 + k, 42000 + k
        return {"id": f"localhost:{rpc}-{_hex_id('tm', k)[:6]}", "rpc": rpc, "data": data,
                "endpoint": f"localhost:{data}",
                "slots": min(SLOTS_PER_TM, self.p - k * SLOTS_PER_TM)}

    def _vertex(self, i: int, name: str, op: str, role: Role, skewed: bool) -> VertexModel:
        p = self.p
        vid = _hex_id("vertex", self.id, i)
        u = _uniform(f"{vid}|ratios", 3 * p)
        rb, _, rp = role.ratios
        busy, idle, bp, factor = [], [], [], []
        for k in range(p):
            # +-4% of each share per subtask, renormalised to 1.
            b = rb * (0.96 + 0.08 * u[3 * k])
            pr = rp * (0.96 + 0.08 * u[3 * k + 1])
            b, pr = min(b, 1.0), min(pr, 1.0 - min(b, 1.0))
            busy.append(b)
            bp.append(pr)
            idle.append(max(1.0 - b - pr, 0.0))
            factor.append(0.9 + 0.2 * u[3 * k + 2])
        if skewed:
            # One hot key: subtask 0 reads 4x its share and is busy 40% of the time.
            factor[0] *= 4.0
            busy[0] = max(busy[0], 0.40)
            idle[0] = max(1.0 - busy[0] - bp[0], 0.0)
        start = self.running_ms + self.fx.vertex_start_ms
        starts = [start + int(40 * x) for x in _uniform(f"{vid}|start", p)]
        phase = [2 * math.pi * x for x in _uniform(f"{vid}|phase", p)]
        listing = [n.replace("{op}", op) for n in role.listing]
        return VertexModel(i, vid, name, op, role, p, busy, idle, bp, factor, phase, starts,
                           listing)

    # -- time ---------------------------------------------------------------------------------

    def times(self, v: VertexModel, t: float) -> tuple[list[float], list[float], list[float]]:
        """Accumulated busy, idle, backpressured ms of each subtask at time t."""
        w = 2 * math.pi / self.WOBBLE_S
        busy, idle, bp = [], [], []
        for k in range(v.parallelism):
            el = max(t * 1000.0 - v.start_ms[k], 0.0)
            b, i, p = v.busy[k], v.idle[k], v.bp[k]
            amp = 0.2 * min(b, i)  # moves time between busy and idle only
            wob = amp * (math.sin(w * el / 1000.0 + v.phase[k]) - math.sin(v.phase[k])) / w * 1000
            busy.append(b * el + wob)
            idle.append(i * el - wob)
            bp.append(p * el)
        return busy, idle, bp

    def shares_now(self, v: VertexModel, t: float) -> tuple[list[float], list[float], list[float]]:
        """Busy, idle, backpressured share of each subtask at time t (the derivatives)."""
        w = 2 * math.pi / self.WOBBLE_S
        busy, idle = [], []
        for k in range(v.parallelism):
            el = max(t - v.start_ms[k] / 1000.0, 0.0)
            amp = 0.2 * min(v.busy[k], v.idle[k])
            d = amp * math.cos(w * el + v.phase[k])
            busy.append(v.busy[k] + d)
            idle.append(v.idle[k] - d)
        return busy, idle, list(v.bp)

    def elapsed_s(self, v: VertexModel, t: float) -> list[float]:
        return [max(t - s / 1000.0, 0.0) for s in v.start_ms]

    def local_share(self) -> float:
        """Share of a subtask's input that comes from its own TaskManager under a hash exchange
        with slot sharing: the upstream subtasks on the same TaskManager out of all of them."""
        return min(1.0, SLOTS_PER_TM / self.p)


# ---- one metric snapshot --------------------------------------------------------------------


class Snapshot:
    """Everything the JobManager's metric store holds at one fetch, built lazily per vertex."""

    def __init__(self, job: Job, epoch: int, t: float) -> None:
        self.job, self.epoch, self.t = job, epoch, t
        self._lock = threading.Lock()
        self._details: dict[str, dict[str, Any]] = {}
        self._series: dict[tuple[str, str], list[float] | None] = {}
        self._tm_series: dict[str, list[float] | None] = {}

    # -- per-subtask values -----------------------------------------------------------------

    def detail_metrics(self, v: VertexModel) -> list[dict[str, Any]]:
        """The `metrics` object of each subtask in the vertex detail."""
        with self._lock:
            cached = self._details.get(v.id)
            if cached is not None:
                return cached["metrics"]
            busy, idle, bp = self.job.times(v, self.t)
            el = self.job.elapsed_s(v, self.t)
            rates = v.role.rates
            out = []
            for k in range(v.parallelism):
                f, e = v.rate_factor[k], el[k]
                # Key order and types as in the fixture: busy is a double, the rest longs.
                out.append({
                    "read-bytes": round(rates["read-bytes"] * f * e), "read-bytes-complete": True,
                    "write-bytes": round(rates["write-bytes"] * f * e),
                    "write-bytes-complete": True,
                    "read-records": round(rates["read-records"] * f * e),
                    "read-records-complete": True,
                    "write-records": round(rates["write-records"] * f * e),
                    "write-records-complete": True,
                    "accumulated-backpressured-time": round(bp[k]),
                    "accumulated-idle-time": round(idle[k]),
                    "accumulated-busy-time": float(round(busy[k])),
                })
            self._details[v.id] = {"metrics": out}
            return out

    def series(self, v: VertexModel, name: str) -> list[float] | None:
        """Every subtask's value of one bare metric name (template form), None if unlisted."""
        key = (v.id, name)
        with self._lock:
            if key in self._series:
                return self._series[key]
        values = self._compute(v, name)
        with self._lock:
            self._series[key] = values
        return values

    def _compute(self, v: VertexModel, name: str) -> list[float] | None:
        role, p, t = v.role, v.parallelism, self.t
        if name not in role.listing:
            return None
        noise = _uniform(f"{v.id}|{name}|{self.epoch}", p)
        if name in TIME_GAUGES:
            busy, idle, bp = self.job.shares_now(v, t)
            if name == "busyTimeMsPerSecond":
                return [1000.0 * x for x in busy]
            if name == "idleTimeMsPerSecond":
                return [1000.0 * x for x in idle]
            soft = role.soft_share
            share = {"backPressuredTimeMsPerSecond": 1.0,
                     "softBackPressuredTimeMsPerSecond": soft,
                     "hardBackPressuredTimeMsPerSecond": 1.0 - soft}[name]
            return [1000.0 * x * share for x in bp]
        if name in ACCUMULATED:
            busy, idle, bp = self.job.times(v, t)
            return {"busy": busy, "idle": idle, "bp": bp}[ACCUMULATED[name]]
        el = self.job.elapsed_s(v, t)
        f = v.rate_factor
        detail = {"numRecordsIn": "read-records", "numRecordsOut": "write-records",
                  "numBytesIn": "read-bytes", "numBytesOut": "write-bytes",
                  "{op}.numRecordsIn": "read-records", "{op}.numRecordsOut": "write-records"}
        if name in detail:
            r = role.rates[detail[name]]
            return [r * f[k] * el[k] for k in range(p)]
        per_second = {"numRecordsInPerSecond": "read-records",
                      "numRecordsOutPerSecond": "write-records",
                      "numBytesInPerSecond": "read-bytes", "numBytesOutPerSecond": "write-bytes",
                      "{op}.numRecordsInPerSecond": "read-records",
                      "{op}.numRecordsOutPerSecond": "write-records"}
        if name in per_second:
            r = role.rates[per_second[name]]
            return [r * f[k] * (0.97 + 0.06 * noise[k]) for k in range(p)]
        if name in role.counters:
            r = role.counters[name]
            pair = _local_remote_pair(name)
            if pair is not None:
                # The fixture's 2 TaskManagers split local/remote input ~1:1; at P the split
                # follows how many upstream subtasks share the TaskManager.
                total = role.counters.get(pair[0], 0.0) + role.counters.get(pair[1], 0.0)
                share = self.job.local_share()
                r = total * (share if name == pair[0] else 1.0 - share)
            return [r * f[k] * el[k] for k in range(p)]
        if name in role.gauges:
            g = role.gauges[name]
            if "Usage" in name:
                # A usage of 0 or 1 (empty or full pools) stays put; anything between moves.
                if 0.0 < g < 1.0:
                    return [min(max(g * (0.8 + 0.4 * x), 0.0), 1.0) for x in noise]
                return [g] * p
            return [g * (0.9 + 0.2 * x) for x in noise]
        # Listed but never read in the fixture (latency histograms, watermarks, ...): Flink
        # reports something; flowscope does not ask for them.
        return [0.0] * p

    # -- TaskManagers -------------------------------------------------------------------------

    def tm_series(self, name: str) -> list[float] | None:
        with self._lock:
            if name in self._tm_series:
                return self._tm_series[name]
        fx, job = self.job.fx, self.job
        if name not in fx.tm_listing:
            values = None
        else:
            rec = fx.tm_values.get(name, TmValue(0.0, 0.0, "int", False))
            noise = _uniform(f"tm|{name}|{self.epoch}", job.n_tms)
            up = self.t - job.running_ms / 1000.0
            cpu = name.startswith("Status.JVM.CPU.")
            scale = job.tm_cpu_scale if cpu else [1.0] * job.n_tms
            if rec.counter and rec.growth > 0:
                values = [rec.growth * up * scale[k] for k in range(job.n_tms)]
            elif rec.counter:
                values = [rec.value] * job.n_tms  # a counter that did not move (old-gen GCs)
            else:
                values = [rec.value * scale[k] * (0.9 + 0.2 * x) for k, x in enumerate(noise)]
                if name.endswith(".Load"):  # a share of the host's CPU
                    values = [min(x, 1.0) for x in values]
        with self._lock:
            self._tm_series[name] = values
        return values


def _local_remote_pair(name: str) -> tuple[str, str] | None:
    for local in ("Local", "LocalPerSecond"):
        for base in ("numBytesIn", "numBuffersIn"):
            for prefix in ("Shuffle.Netty.Input.", ""):
                lo = f"{prefix}{base}{local}"
                re_ = lo.replace("Local", "Remote")
                if name in (lo, re_):
                    return lo, re_
    return None


# ---- the REST API ---------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class FlinkEmulator:
    """Answers REST paths for one Job; thread-safe."""

    def __init__(self, job: Job, *, fast: bool = False, step_s: float = 2.0,
                 refresh_s: float = 10.0, refuse_aggregates: bool = False) -> None:
        self.job = job
        self.fast, self.step_s, self.refresh_s = fast, step_s, refresh_s
        # A proxy that passes only some paths: the aggregated metric endpoints answer 404.
        self.refuse_aggregates = refuse_aggregates
        self.requests = 0
        self._lock = threading.Lock()
        self._snap = Snapshot(job, 0, job.t0)
        self._routes: list[tuple[re.Pattern[str], Callable[..., Any]]] = [
            (re.compile(r"/jobs/overview"), self._overview),
            (re.compile(r"/jobs/([0-9a-f]{32})"), self._job),
            (re.compile(r"/jobs/([0-9a-f]{32})/plan"), self._plan),
            (re.compile(r"/jobs/([0-9a-f]{32})/checkpoints"), self._checkpoints),
            (re.compile(r"/jobs/([0-9a-f]{32})/vertices/([0-9a-f]{32})"), self._vertex),
            (re.compile(r"/jobs/([0-9a-f]{32})/vertices/([0-9a-f]{32})/metrics"),
             self._vertex_metrics),
            (re.compile(r"/jobs/([0-9a-f]{32})/vertices/([0-9a-f]{32})/subtasks/metrics"),
             self._refusable(self._subtasks_metrics)),
            (re.compile(r"/taskmanagers"), self._taskmanagers),
            (re.compile(r"/taskmanagers/metrics"), self._refusable(self._tms_metrics)),
            (re.compile(r"/taskmanagers/([^/]+)/metrics"), self._tm_metrics),
        ]

    def _refusable(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        def refused(*args: Any, **kw: Any) -> Any:
            if self.refuse_aggregates:
                raise ApiError(404, "Not found: aggregated metrics")
            return handler(*args, **kw)
        return refused

    # -- snapshots ----------------------------------------------------------------------------

    def snapshot(self, poll_starts: bool = False) -> Snapshot:
        """The metric store as a handler sees it; refreshed like Flink's MetricFetcher."""
        with self._lock:
            snap = self._snap
            if self.fast:
                if poll_starts:
                    self._snap = Snapshot(self.job, snap.epoch + 1, snap.t + self.step_s)
            elif time.time() - snap.t >= self.refresh_s:
                self._snap = Snapshot(self.job, snap.epoch + 1, time.time())
            return self._snap

    def now_ms(self) -> int:
        """The JobManager's clock: the job's own under --fast, else the wall's."""
        with self._lock:
            return int((self._snap.t if self.fast else time.time()) * 1000)

    def set_step(self, step_s: float) -> None:
        with self._lock:
            self.step_s = step_s

    # -- dispatch -----------------------------------------------------------------------------

    def handle(self, target: str) -> tuple[int, bytes]:
        with self._lock:
            self.requests += 1
        parts = urlsplit(target)
        path = unquote(parts.path).rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        for pattern, handler in self._routes:
            m = pattern.fullmatch(path)
            if m:
                try:
                    body = handler(*m.groups(), query=query)
                except ApiError as exc:
                    return exc.status, _json({"errors": [str(exc)]})
                return 200, body if isinstance(body, bytes) else _json(body)
        return 404, _json({"errors": [f"Not found: {target}"]})

    def _check_job(self, jid: str) -> None:
        if jid != self.job.id:
            raise ApiError(404, f"Job {jid} not found")

    def _vertex_of(self, jid: str, vid: str) -> VertexModel:
        self._check_job(jid)
        v = self.job.by_id.get(vid)
        if v is None:
            raise ApiError(404, f"Vertex {vid} not found in job {jid}")
        return v

    # -- jobs ---------------------------------------------------------------------------------

    def _overview(self, *, query: dict[str, str]) -> Any:
        job, entry = self.job, copy.deepcopy(self.job.fx.overview_job)
        entry.update({"jid": job.id, "name": job.name, "start-time": job.running_ms - 120,
                      "last-modification": job.running_ms, "state": "RUNNING"})
        if "duration" in entry:
            entry["duration"] = self.now_ms() - entry["start-time"]
        entry["tasks"] = {k: 0 for k in entry["tasks"]}
        entry["tasks"].update(running=job.v * job.p, total=job.v * job.p)
        return {"jobs": [entry]}

    def _plan_body(self) -> dict[str, Any]:
        job, fx = self.job, self.job.fx
        plan = {k: v for k, v in fx.plan.items() if k != "nodes"}
        plan.update(jid=job.id, name=job.name)
        node_t = next(n for n in fx.plan["nodes"] if n.get("inputs"))
        input_t = node_t["inputs"][0]
        nodes = []
        for v in reversed(job.vertices):  # Flink lists the sink first
            node = {k: val for k, val in node_t.items() if k != "inputs"}
            node.update(id=v.id, parallelism=v.parallelism, description=f"{v.name}<br/>")
            if v.index > 0:
                up = job.vertices[v.index - 1]
                node["inputs"] = [{**input_t, "id": up.id, "num": 0, "ship_strategy": "HASH"}]
            nodes.append(node)
        plan["nodes"] = nodes
        return plan

    def _job(self, jid: str, *, query: dict[str, str]) -> Any:
        self._check_job(jid)
        snap = self.snapshot(poll_starts=True)
        job, fx = self.job, self.job.fx
        body = {k: v for k, v in fx.job.items()}
        now = int(snap.t * 1000)
        body.update({"jid": job.id, "name": job.name, "start-time": job.running_ms - 1200,
                     "maxParallelism": -1})
        if "now" in body:
            body.update(now=now, duration=now - body["start-time"])
        if "application-id" in body:
            body["application-id"] = job.id
        shift = job.running_ms - int((fx.job.get("timestamps") or {}).get("RUNNING", 0))
        body["timestamps"] = {k: (v + shift if v else 0)
                              for k, v in (fx.job.get("timestamps") or {}).items()}
        v_t = fx.job["vertices"][0]
        vertices = []
        for v in job.vertices:
            entry = dict(v_t)
            metrics = snap.detail_metrics(v)
            summed: dict[str, Any] = {}
            for key, val in v_t["metrics"].items():
                if key.endswith("-complete"):
                    summed[key] = True
                else:
                    total = sum(m[key] for m in metrics)
                    summed[key] = float(total) if isinstance(val, float) else int(total)
            entry.update({"id": v.id, "name": v.name, "parallelism": v.parallelism,
                          "maxParallelism": _default_max_parallelism(v.parallelism),
                          "start-time": min(v.start_ms), "metrics": summed,
                          "duration": now - min(v.start_ms),
                          "tasks": {k: (v.parallelism if k == "RUNNING" else 0)
                                    for k in v_t["tasks"]}})
            if "duration" not in v_t:
                del entry["duration"]
            if "slotSharingGroupId" in entry:
                entry["slotSharingGroupId"] = _hex_id("ssg", job.id)
            vertices.append(entry)
        body["vertices"] = vertices
        body["status-counts"] = {k: (job.v if k == "RUNNING" else 0)
                                 for k in fx.job.get("status-counts", {})}
        if "plan" in body:
            body["plan"] = self._plan_body()
        return body

    def _plan(self, jid: str, *, query: dict[str, str]) -> Any:
        self._check_job(jid)
        return {"plan": self._plan_body()}

    def _checkpoints(self, jid: str, *, query: dict[str, str]) -> Any:
        self._check_job(jid)
        snap = self.snapshot()
        body = copy.deepcopy(self.job.fx.checkpoints)
        shift = int(snap.t * 1000) - int(self.job.fx.t * 1000)
        fixture_subtasks = sum(int(v["parallelism"]) for v in self.job.fx.job["vertices"])
        scale = self.job.v * self.job.p / max(fixture_subtasks, 1)

        def move(node: Any) -> None:
            if isinstance(node, dict):
                for k, val in node.items():
                    if k.endswith("_timestamp") and isinstance(val, int) and val > 0:
                        node[k] = val + shift
                    elif k in ("num_subtasks", "num_acknowledged_subtasks") and isinstance(
                            val, int):
                        node[k] = round(val * scale)
                    else:
                        move(val)
            elif isinstance(node, list):
                for item in node:
                    move(item)

        move(body)
        return body

    # -- vertices -----------------------------------------------------------------------------

    def _vertex(self, jid: str, vid: str, *, query: dict[str, str]) -> Any:
        v = self._vertex_of(jid, vid)
        snap = self.snapshot()
        job, tmpl = self.job, self.job.fx.detail
        sub_t = tmpl["subtasks"][0]
        metrics = snap.detail_metrics(v)
        now = int(snap.t * 1000)
        # Time in each state before RUNNING as the template's subtask spent it; RUNNING since.
        before_running = {k: d for k, d in (sub_t.get("status-duration") or {}).items()
                          if k != "RUNNING"}
        subtasks, states = [], []
        for k in range(v.parallelism):
            tm = job.tms[k // SLOTS_PER_TM]
            st = dict(sub_t)
            st.update({"subtask": k, "status": "RUNNING", "attempt": 0,
                       "endpoint": tm["endpoint"], "start-time": v.start_ms[k],
                       "metrics": metrics[k], "taskmanager-id": tm["id"]})
            if "duration" in st:
                st["duration"] = now - v.start_ms[k]
            if "status-duration" in st:
                running = max(now - v.start_ms[k] - sum(before_running.values()), 0)
                st["status-duration"] = {s: (running if s == "RUNNING" else before_running[s])
                                         for s in sub_t["status-duration"]}
                states.append(st["status-duration"])
            if "start_time" in st:
                st["start_time"] = v.start_ms[k]
            subtasks.append(st)
        body = {k: val for k, val in tmpl.items() if k not in ("subtasks", "aggregated")}
        body.update({"id": v.id, "name": v.name, "parallelism": v.parallelism,
                     "maxParallelism": _default_max_parallelism(v.parallelism),
                     "subtasks": subtasks})
        if "now" in body:
            body["now"] = now
        if "aggregated" in tmpl:
            agg = {"metrics": {key: _percentiles([m[key] for m in metrics], stats)
                               for key, stats in tmpl["aggregated"]["metrics"].items()}}
            if "status-duration" in tmpl["aggregated"] and states:
                agg["status-duration"] = {
                    key: _percentiles([d[key] for d in states], stats)
                    for key, stats in tmpl["aggregated"]["status-duration"].items()}
            body["aggregated"] = agg
        return body

    def _resolve(self, v: VertexModel, bare: str, sub: int) -> str | None:
        """The template name behind a concrete bare name of subtask `sub` (None: not listed)."""
        name = "{op}." + bare[len(v.op) + 1:] if v.op and bare.startswith(v.op + ".") else bare
        if ".split." in name:
            m = SPLIT.search(name)
            if m is None or name[m.start() + 7:m.end() - 1] != str(sub):
                return None
            name = SPLIT.sub(".split.{split}.", name)
        return name

    def _vertex_metrics(self, jid: str, vid: str, *, query: dict[str, str]) -> Any:
        v = self._vertex_of(jid, vid)
        if "get" not in query:
            # Every subtask's names, `<subtask>.<name>`, as Flink lists a vertex's metrics.
            return _json([{"id": f"{k}.{n.replace('{split}', str(k))}"}
                          for k in range(v.parallelism) for n in v.listing])
        snap = self.snapshot()
        kinds = v.role.kinds
        parts = []
        for full in query["get"].split(","):
            sub, _, bare = full.partition(".")
            if not sub.isdigit() or int(sub) >= v.parallelism:
                continue
            name = self._resolve(v, bare, int(sub))
            values = snap.series(v, name) if name is not None else None
            if values is None:
                continue  # Flink leaves out what it does not have
            value = _fmt(kinds.get(name, "float"), values[int(sub)])
            # Names are plain ASCII; json.dumps only for the odd one that needs escaping.
            quoted = json.dumps(full) if '"' in full or "\\" in full else f'"{full}"'
            parts.append(f'{{"id":{quoted},"value":"{value}"}}')
        return ("[" + ",".join(parts) + "]").encode()

    def _subtasks_metrics(self, jid: str, vid: str, *, query: dict[str, str]) -> Any:
        v = self._vertex_of(jid, vid)
        subs = _ranges(query.get("subtasks"), v.parallelism)
        if "get" not in query:
            names: dict[str, None] = {}
            for k in subs:
                for n in v.listing:
                    names[n.replace("{split}", str(k))] = None
            return [{"id": n} for n in names]
        snap = self.snapshot()
        columns = []
        for bare in query["get"].split(","):
            per_sub = []
            for k in subs:
                name = self._resolve(v, bare, k)
                values = snap.series(v, name) if name is not None else None
                if values is not None:
                    per_sub.append(values[k])
            columns.append((bare, per_sub))
        return _aggregate(columns, query.get("agg"))

    # -- TaskManagers -------------------------------------------------------------------------

    def _tm_entry(self, tm: dict[str, Any]) -> dict[str, Any]:
        entry = copy.deepcopy(self.job.fx.taskmanager)
        entry.update({"id": tm["id"], "dataPort": tm["data"], "slotsNumber": SLOTS_PER_TM,
                      "freeSlots": SLOTS_PER_TM - tm["slots"]})
        if "assignedTasks" in entry:
            entry["assignedTasks"] = tm["slots"] * self.job.v
        if "timeSinceLastHeartbeat" in entry:  # Flink sends the heartbeat's time, a few s ago
            entry["timeSinceLastHeartbeat"] = self.now_ms() - 3000
        if "path" in entry:
            entry["path"] = re.sub(r"@[^/]+/", f"@localhost:{tm['rpc']}/", entry["path"])
        return entry

    def _taskmanagers(self, *, query: dict[str, str]) -> Any:
        return {"taskmanagers": [self._tm_entry(tm) for tm in self.job.tms]}

    def _tm_index(self, tm_id: str) -> int:
        for k, tm in enumerate(self.job.tms):
            if tm["id"] == tm_id:
                return k
        raise ApiError(404, f"TaskManager {tm_id} not found")

    def _tm_metrics(self, tm_id: str, *, query: dict[str, str]) -> Any:
        k = self._tm_index(tm_id)
        fx = self.job.fx
        if "get" not in query:
            return [{"id": n} for n in fx.tm_listing]
        snap = self.snapshot()
        out = []
        for name in query["get"].split(","):
            values = snap.tm_series(name)
            if values is not None:
                rec = fx.tm_values.get(name)
                kind = rec.kind if rec is not None else "int"
                out.append({"id": name, "value": _fmt(kind, values[k])})
        return out

    def _tms_metrics(self, *, query: dict[str, str]) -> Any:
        fx, job = self.job.fx, self.job
        wanted = query.get("taskmanagers")
        picked = ([self._tm_index(t) for t in wanted.split(",")] if wanted
                  else list(range(job.n_tms)))
        if "get" not in query:
            return [{"id": n} for n in fx.tm_listing]
        snap = self.snapshot()
        columns = []
        for name in query["get"].split(","):
            values = snap.tm_series(name)
            columns.append((name, [values[k] for k in picked] if values is not None else []))
        return _aggregate(columns, query.get("agg"))


def _json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _percentiles(values: list[float], template: dict[str, Any]) -> dict[str, Any]:
    """Flink's per-vertex aggregate of a detail field, with the fixture's keys and types."""
    ordered = sorted(values)
    n = len(ordered)

    def q(p: float) -> float:
        return ordered[min(n - 1, max(0, math.ceil(p * n) - 1))]

    known = {"min": ordered[0], "max": ordered[-1], "sum": sum(ordered),
             "avg": sum(ordered) / n, "median": q(0.5), "p25": q(0.25), "p75": q(0.75),
             "p95": q(0.95)}
    return {s: (float(known[s]) if isinstance(t, float) else round(known[s]))
            for s, t in template.items() if s in known}


def _ranges(spec: str | None, n: int) -> list[int]:
    """Flink's `subtasks=0-3,7` filter; all subtasks when absent."""
    if not spec:
        return list(range(n))
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        if lo.strip().isdigit():
            out.extend(range(int(lo), (int(hi) if hi.strip().isdigit() else int(lo)) + 1))
    return [k for k in dict.fromkeys(out) if k < n]


def _aggregate(columns: list[tuple[str, list[float]]], agg: str | None) -> list[dict[str, Any]]:
    """AbstractAggregatingMetricsHandler: min/max/avg/sum/skew of each requested name over the
    selected components; all five when `agg` is absent. As in Flink, a requested name that no
    component has empties the whole answer."""
    modes = [a for a in (agg or "min,max,avg,sum,skew").split(",") if a]
    out = []
    for name, values in columns:
        if not values:
            return []
        total = sum(values)
        avg = total / len(values)
        item: dict[str, Any] = {"id": name}
        for mode in ("min", "max", "avg", "sum", "skew"):
            if mode not in modes:
                continue
            if mode == "min":
                item["min"] = float(min(values))
            elif mode == "max":
                item["max"] = float(max(values))
            elif mode == "avg":
                item["avg"] = float(avg)
            elif mode == "sum":
                item["sum"] = float(total)
            else:
                # DoubleDataSkew: mean absolute deviation over the mean, as a percentage <= 100.
                dev = sum(abs(avg - x) for x in values) / len(values)
                item["skew"] = 0.0 if avg == 0 else min(dev / avg * 100.0, 100.0)
        out.append(item)
    return out


# ---- HTTP -----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Flink's Netty endpoint does
    disable_nagle_algorithm = True
    emulator: FlinkEmulator

    def do_GET(self) -> None:
        if len(self.requestline) > MAX_REQUEST_LINE:
            # Netty replaces an over-long request line by a request for /bad-request and drops
            # the rest of the connection; Flink's router has no such route.
            self._send(404, _json({"errors": ["Not found: /bad-request"]}), close=True)
            return
        status, body = self.emulator.handle(self.path)
        self._send(status, body)

    def _send(self, status: int, body: bytes, close: bool = False) -> None:
        # Status line, headers and body in one write: split small writes meet Nagle's
        # algorithm and the client's delayed ACK, which would add ~40 ms to every request.
        head = [f"HTTP/1.1 {status} {self.responses[status][0]}",
                *(f"{k}: {v}" for k, v in JSON_HEADERS), f"Content-Length: {len(body)}"]
        if close:
            head.append("Connection: close")
            self.close_connection = True
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # thousands of requests per poll; the benchmark counts them instead


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-connection (a finished `watch`) is routine, not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve(emulator: FlinkEmulator, port: int = 0) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"emulator": emulator})
    return _Server(("127.0.0.1", port), handler)


def _control(emulator: FlinkEmulator, server: ThreadingHTTPServer) -> None:
    """Commands from the benchmark on stdin (`step <s>`); end of input stops the server."""
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "step":
            emulator.set_step(float(arg))
        print(f"ok {cmd}", flush=True)
    server.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vertices", "-V", type=int, default=4)
    ap.add_argument("--parallelism", "-P", type=int, default=2)
    ap.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    ap.add_argument("--fixture", type=Path, default=DEFAULT_FIXTURE)
    ap.add_argument("--fast", action="store_true",
                    help="a new metric snapshot with every GET /jobs/:jid, --step-s later")
    ap.add_argument("--step-s", type=float, default=2.0)
    ap.add_argument("--refresh-s", type=float, default=10.0,
                    help="metric snapshot age limit without --fast (Flink's default: 10 s)")
    ap.add_argument("--uptime-s", type=float, default=600.0, help="the job's age at start")
    ap.add_argument("--no-skew", action="store_true", help="no subtask with a hot key")
    ap.add_argument("--refuse-aggregates", action="store_true",
                    help="answer 404 to the aggregated metric endpoints (a proxy that passes "
                         "only some paths)")
    ap.add_argument("--control-stdin", action="store_true",
                    help="read `step <s>` lines from stdin; stop at end of input")
    args = ap.parse_args()
    fx = load_fixture(args.fixture)
    job = Job(fx, args.vertices, args.parallelism, skew=not args.no_skew,
              uptime_s=args.uptime_s)
    emulator = FlinkEmulator(job, fast=args.fast, step_s=args.step_s, refresh_s=args.refresh_s,
                             refuse_aggregates=args.refuse_aggregates)
    server = serve(emulator, args.port)
    host, port = server.server_address[:2]
    print(f"listening http://{host}:{port} job {job.id} {job.v}x{job.p} "
          f"taskmanagers {job.n_tms}", flush=True)
    if args.control_stdin:
        threading.Thread(target=_control, args=(emulator, server), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
