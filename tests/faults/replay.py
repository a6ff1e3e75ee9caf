"""What a JobManager answers: a real recording's responses, poll by poll, as a live job.

A recording holds, for every poll, the response to each request the collector made then. The
replay answers a path with its response at the "current" poll, which advances with the wall
clock (at the recording's own pace times `speed`), with each request for the job itself, or
when told (`seek()`), so a client sees the job progress as it did on the real cluster. As
`RecordedTransport` does, a path answers with its latest response at or before the current
poll (bodies read once per job, such as the plan, are stored once); a path first asked later
in the recording answers with its first response.

Beyond a lookup, the real bodies are rewritten in a few consistent ways:
  - time: epoch timestamps (ms) are mapped so that the job runs now, not when it was recorded;
  - metric queries: `?get=a,b` that the recorded client never sent answers with the recorded
    values of the metrics asked for, leaving out unknown ones, as Flink does;
  - scenarios: a replaced job (a new id for the same name: the old one reads CANCELED, the new
    one starts from the recording's first poll) and a rescale (vertices change parallelism;
    new subtasks take the numbers of subtask `i mod p`).
"""

from __future__ import annotations

import copy
import json
import random
import sqlite3
import threading
import time
import zlib
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from flowscope.recording import SUBTASKS_METRICS, aggregate_items

JSON_TYPE = "application/json; charset=UTF-8"
ACTIVE = "RUNNING"
ENDED = "CANCELED"
# Numbers this close to the recording's polls (ms) are epoch timestamps, not counters.
TIMESTAMP_MARGIN_MS = 86_400_000


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = JSON_TYPE


def not_found(raw_path: str) -> Answer:
    # Flink's router answers an unknown path with this shape; kept minimal.
    return Answer(404, json.dumps({"errors": [f"Not found: {raw_path}"]}).encode())


@dataclass(frozen=True)
class Poll:
    id: int
    t: float


class RecordingStore:
    """A recording's responses in memory, for lookups by path and poll."""

    def __init__(self, path: Path) -> None:
        # By URI so that any file name works; read-only, the fixture is never touched.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT id, t, job_id FROM polls ORDER BY id").fetchall()
            if not rows:
                raise ValueError(f"{path} holds no polls")
            self.job_id = str(rows[-1][2])
            self.polls = [Poll(int(i), float(t)) for i, t, j in rows if j == self.job_id]
            self._by_path: dict[str, tuple[list[int], list[tuple[int, int]]]] = {}
            for p, poll_id, status, body_id in conn.execute(
                "SELECT p.path, r.poll_id, r.status, r.body_id FROM responses r "
                "JOIN paths p ON p.id = r.path_id ORDER BY p.path, r.poll_id"
            ):
                polls, answers = self._by_path.setdefault(p, ([], []))
                polls.append(int(poll_id))
                answers.append((int(status), int(body_id)))
            self._blobs: dict[int, bytes] = {
                int(i): bytes(d) for i, d in conn.execute("SELECT id, data FROM bodies")
            }
        finally:
            conn.close()
        self._bodies: dict[int, bytes] = {}

    def paths(self) -> list[str]:
        return list(self._by_path)

    def at(self, path: str, poll_id: int) -> tuple[int, int, bytes] | None:
        """(recorded at poll, status, body) of `path` as of `poll_id`, or None if never asked."""
        entry = self._by_path.get(path)
        if entry is None:
            return None
        polls, answers = entry
        i = max(0, bisect_right(polls, poll_id) - 1)
        status, body_id = answers[i]
        return polls[i], status, self.body(body_id)

    def body(self, body_id: int) -> bytes:
        body = self._bodies.get(body_id)
        if body is None:
            body = self._bodies[body_id] = zlib.decompress(self._blobs[body_id])
        return body


@dataclass
class Job:
    """One incarnation of the recorded job: its id, where its replay starts and how it stands."""

    id: str
    first: int  # index into the polls where this job's replay starts
    started: float  # monotonic seconds
    epoch: float  # wall-clock seconds at the start
    ended: float | None = None  # monotonic seconds
    ended_epoch: float | None = None
    frozen: int | None = None  # the poll index it stopped at
    job_requests: int = 0
    pinned: int | None = None  # the poll index set by seek() (advance="manual")
    parallelism: dict[str, int] = field(default_factory=dict)  # rescaled vertices


class Replay:
    """Answers REST paths the way the recorded JobManager did at the current poll."""

    def __init__(self, recording: str | Path, *, speed: float = 1.0, start: int = 0,
                 advance: str = "clock", other_jobs: bool = False, seed: int = 1,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        if advance not in ("clock", "request", "manual"):
            raise ValueError("advance is 'clock', 'request' or 'manual'")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.store = RecordingStore(Path(recording))
        self.polls = self.store.polls
        self.recorded_id = self.store.job_id
        self.speed = speed
        self.advance = advance
        self.other_jobs = other_jobs
        self.clock, self.wall = clock, wall
        self._rng = random.Random(f"job-ids:{seed}")
        self._times = [p.t for p in self.polls]
        self._lo = self.polls[0].t * 1000 - TIMESTAMP_MARGIN_MS
        self._hi = self.polls[-1].t * 1000 + TIMESTAMP_MARGIN_MS
        self._lock = threading.RLock()
        self._cache: dict[tuple[object, ...], Answer] = {}
        first = min(max(0, start), len(self.polls) - 1)
        self.jobs = [Job(self.recorded_id, first, clock(), wall())]
        job = self._recorded_json(f"/jobs/{self.recorded_id}", self.polls[-1].id)
        self.job_name = str(job.get("name", "")) if isinstance(job, dict) else ""
        # Vertex id -> (parallelism, max parallelism) as recorded: rescales start from these.
        self.recorded_parallelism: dict[str, tuple[int, int]] = {
            v["id"]: (int(v.get("parallelism", 1)), int(v.get("maxParallelism", -1)))
            for v in (job.get("vertices", []) if isinstance(job, dict) else [])
        }
        self._get_variants: dict[str, list[str]] = {}
        for p in self.store.paths():
            base, sep, query = p.partition("?")
            if sep and query.startswith("get="):
                self._get_variants.setdefault(base, []).append(p)

    # -- the job and its poll ------------------------------------------------------------------

    @property
    def job(self) -> Job:
        """The job running now (the newest one)."""
        with self._lock:
            return self.jobs[-1]

    def index(self, job: Job | None = None) -> int:
        """Index into `polls` of what `job` (default: the current one) answers now."""
        job = job or self.job
        if job.frozen is not None:
            return job.frozen
        if self.advance == "manual":
            i = job.first if job.pinned is None else job.pinned
        elif self.advance == "request":
            i = job.first + max(0, job.job_requests - 1)
        else:
            t = self.polls[job.first].t + (self.clock() - job.started) * self.speed
            i = max(job.first, bisect_right(self._times, t) - 1)
        return min(i, len(self.polls) - 1)

    def begin(self) -> None:
        """Start the job's clock now (the replay is built before its first client asks)."""
        with self._lock:
            if len(self.jobs) == 1:
                self.jobs[0].started, self.jobs[0].epoch = self.clock(), self.wall()
                self._cache.clear()

    def job_at(self, epoch: float) -> str | None:
        """The id of the job that was running at wall-clock time `epoch`."""
        with self._lock:
            running = [j for j in self.jobs if j.epoch <= epoch
                       and (j.ended_epoch is None or epoch < j.ended_epoch)]
            return running[-1].id if running else None

    def seek(self, index: int) -> Poll:
        """Answer as at poll `index` from now on (advance="manual")."""
        with self._lock:
            self.jobs[-1].pinned = min(max(0, index), len(self.polls) - 1)
            return self.polls[self.jobs[-1].pinned]

    def replace_job(self) -> str:
        """The job is cancelled and the same job resubmitted under a new id (as a deployment
        tool does): the old id reads CANCELED from now on, the new one starts from the
        recording's first poll. Returns the new id."""
        with self._lock:
            old = self.jobs[-1]
            old.frozen = self.index(old)
            old.ended, old.ended_epoch = self.clock(), self.wall()
            new_id = f"{self._rng.getrandbits(128):032x}"
            self.jobs.append(Job(new_id, 0, self.clock(), self.wall()))
            self._cache.clear()
            return new_id

    def rescale(self, parallelism: int | Mapping[str, int] | None = None) -> dict[str, int]:
        """Change the current job's parallelism: every vertex to `parallelism`, the vertices
        of a mapping to theirs, or (None) every vertex one up, within its max parallelism.
        Returns the new parallelism of every vertex changed."""
        with self._lock:
            job = self.jobs[-1]
            if isinstance(parallelism, Mapping):
                wanted = {vid: int(p) for vid, p in parallelism.items()}
            else:
                wanted = {}
                for vid, (p, maxp) in self.recorded_parallelism.items():
                    now = job.parallelism.get(vid, p)
                    target = now + 1 if parallelism is None else int(parallelism)
                    wanted[vid] = min(target, maxp) if maxp > 0 else target
            unknown = set(wanted) - set(self.recorded_parallelism)
            if unknown or any(p < 1 for p in wanted.values()):
                raise ValueError(f"cannot rescale {wanted}")
            job.parallelism.update(wanted)
            self._cache.clear()
            return dict(wanted)

    # -- answers -------------------------------------------------------------------------------

    def answer(self, raw_path: str) -> Answer:
        """The answer to a GET of `raw_path` (path and query as sent) at this moment."""
        with self._lock:
            path, _, query = raw_path.partition("?")
            parts = path.split("/")
            if path == "/jobs/overview":
                return self._overview()
            if len(parts) >= 3 and parts[1] == "jobs":
                job = next((j for j in self.jobs if j.id == parts[2]), None)
                if job is None:
                    return not_found(raw_path)
                if len(parts) == 3 and job.ended is None:
                    job.job_requests += 1
                recorded = "/".join(["", "jobs", self.recorded_id, *parts[3:]])
                recorded += f"?{query}" if query else ""
            else:
                job, recorded = self.jobs[-1], raw_path
            poll = self.polls[self.index(job)]
            key = (job.id, poll.id, raw_path, tuple(sorted(job.parallelism.items())),
                   job.ended is not None)
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            answer = self._answer(job, recorded, poll, raw_path)
            if len(self._cache) > 4000:
                self._cache.clear()
            self._cache[key] = answer
            return answer

    def _answer(self, job: Job, recorded: str, poll: Poll, raw_path: str) -> Answer:
        path, _, query = recorded.partition("?")
        parts = path.split("/")
        vertex = parts[4] if len(parts) >= 5 and parts[3] == "vertices" else None
        rescaled = vertex in job.parallelism
        doc: Any
        if (path.endswith(SUBTASKS_METRICS) and vertex is not None and "get=" in query
                and self.store.at(recorded, poll.id) is None):
            # Gauges read aggregated over subtasks (a two-tier poll or a scan), from a
            # recording of polls that read them subtask by subtask: Flink's aggregates of them.
            params = parse_qs(query)
            wanted = ",".join(params.get("get", [])).split(",")
            par = job.parallelism.get(vertex) or self.recorded_parallelism.get(vertex, (0, 0))[0]
            per_subtask = ",".join(f"{i}.{n}" for i in range(par) for n in wanted)
            items = self._metric_values(path[: -len(SUBTASKS_METRICS)] + "/metrics",
                                        "get=" + per_subtask, poll.id, job, vertex)
            if items is None:
                return not_found(raw_path)
            doc = aggregate_items(items, wanted, ",".join(params.get("agg", [])))
        elif query.startswith("get=") and (rescaled or self.store.at(recorded, poll.id) is None):
            values = self._metric_values(path, query, poll.id, job, vertex)
            if values is None:
                return not_found(raw_path)
            doc = values
        else:
            found = self.store.at(recorded, poll.id)
            if found is None:
                return not_found(raw_path)
            _, status, body = found
            if status != 200:
                return Answer(status, body)
            doc = self._parse(body, job)
            if rescaled or (job.parallelism and vertex is None):
                doc = self._rescale_doc(doc, parts, query, job)
        if job.ended is not None and len(parts) in (3, 5) and isinstance(doc, dict):
            doc = self._ended_doc(doc, job, vertex is not None)
        doc = self._map_times(doc, job)
        return Answer(200, json.dumps(doc, separators=(",", ":")).encode())

    def _parse(self, body: bytes, job: Job) -> Any:
        text = body.decode()
        if job.id != self.recorded_id:
            text = text.replace(self.recorded_id, job.id)
        return json.loads(text)

    def _recorded_json(self, path: str, poll_id: int) -> Any:
        found = self.store.at(path, poll_id)
        return json.loads(found[2]) if found else None

    def _overview(self) -> Answer:
        found = self.store.at("/jobs/overview", self.polls[-1].id)
        if found is None:
            return not_found("/jobs/overview")
        body = json.loads(found[2])
        recorded = [j for j in body.get("jobs", []) if j.get("jid") == self.recorded_id]
        others = [j for j in body.get("jobs", []) if j.get("jid") != self.recorded_id]
        entries = []
        for job in reversed(self.jobs):  # the newest first
            for template in recorded:
                entry = json.loads(json.dumps(template).replace(self.recorded_id, job.id))
                entry = self._map_times(entry, job)
                if job.ended is not None:
                    entry["state"] = ENDED
                    entry["end-time"] = int(job.ended_epoch * 1000) if job.ended_epoch else -1
                    entry["last-modification"] = entry["end-time"]
                entries.append(entry)
        if self.other_jobs:
            entries.extend(self._map_times(j, self.jobs[0]) for j in others)
        body["jobs"] = entries
        return Answer(200, json.dumps(body, separators=(",", ":")).encode())

    def _metric_values(self, path: str, query: str, poll_id: int, job: Job,
                       vertex: str | None) -> list[dict[str, Any]] | None:
        """Flink's answer to `?get=...`: the metrics asked for that it knows, from the values
        recorded for this path up to this poll (every query the recorded client sent)."""
        variants = self._get_variants.get(path, [])
        if not variants and self.store.at(path, poll_id) is None:
            return None
        found = sorted((f for f in (self.store.at(v, poll_id) for v in variants) if f),
                       key=lambda f: f[0])
        known: dict[str, dict[str, Any]] = {}
        for _, status, body in found:
            items = json.loads(body) if status == 200 else []
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and "id" in item:
                    known[str(item["id"])] = item
        old = self.recorded_parallelism.get(vertex or "", (0, 0))[0]
        new = job.parallelism.get(vertex or "")
        out = []
        for wanted in unquote(query[len("get="):]).split(","):
            source = wanted
            sub, dot, rest = wanted.partition(".")
            if new is not None and dot and sub.isdigit() and old > 0:
                if int(sub) >= new:
                    continue
                source = f"{int(sub) % old}.{rest}"
            item = known.get(source)
            if item is not None:
                out.append({**item, "id": wanted})
        text = json.dumps(out)
        if job.id != self.recorded_id:
            text = text.replace(self.recorded_id, job.id)
        return list(json.loads(text))

    # -- rewrites ------------------------------------------------------------------------------

    def _rescale_doc(self, doc: Any, parts: list[str], query: str, job: Job) -> Any:
        """The recorded body as it reads after a rescale (parts: the recorded path split)."""
        par = job.parallelism
        if len(parts) == 3 and isinstance(doc, dict):  # /jobs/:jid
            for v in doc.get("vertices", []) or []:
                new = par.get(str(v.get("id"))) if isinstance(v, dict) else None
                if new is not None:
                    v["parallelism"] = new
                    if isinstance(v.get("tasks"), dict):
                        v["tasks"] = _scale_counts(v["tasks"], new)
        elif len(parts) == 4 and parts[3] == "plan" and isinstance(doc, dict):
            for node in (doc.get("plan") or {}).get("nodes", []) or []:
                if isinstance(node, dict) and node.get("id") in par:
                    node["parallelism"] = par[node["id"]]
        elif len(parts) == 5 and isinstance(doc, dict) and parts[4] in par:  # a vertex
            new = par[parts[4]]
            subtasks = doc.get("subtasks") or []
            if subtasks:
                doc["subtasks"] = [
                    {**copy.deepcopy(subtasks[i % len(subtasks)]), "subtask": i}
                    for i in range(new)
                ]
            doc["parallelism"] = new
        elif (len(parts) == 6 and parts[5] == "metrics" and not query
              and parts[4] in par and isinstance(doc, list)):
            doc = _rescale_listing(doc, self.recorded_parallelism[parts[4]][0], par[parts[4]])
        return doc

    def _ended_doc(self, doc: dict[str, Any], job: Job, is_vertex: bool) -> dict[str, Any]:
        end_ms = int((job.ended_epoch or self.wall()) * 1000)
        if is_vertex:
            for st in doc.get("subtasks", []) or []:
                if isinstance(st, dict):
                    st["status"] = ENDED
            return doc
        doc["state"] = ENDED
        doc["end-time"] = end_ms
        if isinstance(doc.get("timestamps"), dict):
            doc["timestamps"][ENDED] = end_ms
        for v in doc.get("vertices", []) or []:
            if isinstance(v, dict):
                v["status"] = ENDED
        return doc

    def _map_times(self, value: Any, job: Job) -> Any:
        """Epoch timestamps (ms) moved from the recording's time to this job's time."""
        if isinstance(value, dict):
            return {k: self._map_times(v, job) for k, v in value.items()}
        if isinstance(value, list):
            return [self._map_times(v, job) for v in value]
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        if not self._lo <= value <= self._hi:
            return value
        base = self.polls[job.first].t * 1000
        mapped = job.epoch * 1000 + (value - base) / self.speed
        return round(mapped) if isinstance(value, int) else mapped


def _scale_counts(counts: dict[str, Any], new: int) -> dict[str, Any]:
    """Task counts per state for `new` tasks, in the recorded proportions."""
    numbers = {k: v for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)}
    total = sum(numbers.values())
    if total <= 0:
        return counts
    out = {k: v * new // total for k, v in numbers.items()}
    top = max(numbers, key=lambda k: numbers[k])
    out[top] += new - sum(out.values())
    return {**counts, **out}


def _rescale_listing(items: list[Any], old: int, new: int) -> list[Any]:
    """A vertex's metric list for `new` subtasks: subtask i lists what subtask i mod old did."""
    out: list[Any] = []
    for i in range(new):
        for item in items:
            ident = item.get("id") if isinstance(item, dict) else None
            sub, dot, rest = str(ident).partition(".")
            if not (dot and sub.isdigit()):
                if i == 0:
                    out.append(item)
                continue
            if int(sub) == i % old:
                out.append({**item, "id": f"{i}.{rest}"})
    return out
