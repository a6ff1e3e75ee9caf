"""Recordings: every REST response of every poll, in one SQLite file.

The file is SQLite in WAL mode with one transaction per poll, so it can be read while it is
written and survives a crash with every completed poll intact. Responses are stored by
content hash (zlib-compressed JSON): the JobManager refreshes metrics only every ~10 s, so most
polls repeat earlier bodies and cost a few bytes each.

Replay goes through the same collector as a live cluster (`RecordedTransport` is an httpx
transport), so a recording replays to the same samples, and the same diagnosis, as the run.

A recording is outside data: a damaged byte may sit anywhere in it (a stored path or job id
that the replay puts back into a request, a body, a column of another type than written,
SQLite's own structure). `Recording` checks every value it reads (`_text`, `_time`,
`_status`, `_blob`) and turns anything it cannot use into a one-line RecordingError.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import httpx

from flowscope.errors import RecordingError

FORMAT = "flowscope-recording"
FORMAT_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS polls (
    id INTEGER PRIMARY KEY, t REAL NOT NULL, job_id TEXT NOT NULL, url TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bodies (
    id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS paths (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS failed_polls (t REAL NOT NULL, error TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (t REAL NOT NULL, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS responses (
    path_id INTEGER NOT NULL, poll_id INTEGER NOT NULL, status INTEGER NOT NULL,
    body_id INTEGER NOT NULL, PRIMARY KEY (path_id, poll_id)
) WITHOUT ROWID;
"""


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    """A connection to the recording at `path`, opened by path (never as a URI: a `?` or `#`
    in a file name is part of the name)."""
    if readonly and not path.is_file():
        raise RecordingError(f"no recording at {path}")
    if not readonly and not path.parent.is_dir():
        raise RecordingError(f"cannot write {path}: no directory {path.parent}")
    try:
        # Replays are read from the collector's worker threads; Recording serialises access.
        conn = sqlite3.connect(path, timeout=5.0, check_same_thread=not readonly)
    except sqlite3.Error as exc:
        raise RecordingError(f"cannot open {path}: {exc}") from None
    try:
        if readonly:
            # A reader never changes the file, even one a writer left mid-poll.
            conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except (sqlite3.Error, ValueError) as exc:  # ValueError: undecodable text in the schema
        conn.close()
        raise RecordingError(f"{path} is not a flowscope recording ({_first_line(exc)})"
                             ) from None
    return conn


def _first_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]


def _damaged(path: Path, what: str) -> RecordingError:
    return RecordingError(f"{path} is damaged and cannot be read ({what})")


def _text(path: Path, value: object, what: str, *, ascii_only: bool = True) -> str:
    """A stored string that goes back into a request (a path, a job id) or a message: text,
    printable, and ASCII where the recorder only ever wrote ASCII."""
    if (isinstance(value, str) and value and value.isprintable()
            and (value.isascii() or not ascii_only)):
        return value
    raise _damaged(path, f"a stored {what} is not what the recorder writes: {value!r:.60}")


# Poll times are epoch seconds: anything outside these years is a damaged value.
EARLIEST_T, LATEST_T = 0.0, 2.0**32


def _time(path: Path, value: object) -> float:
    if (isinstance(value, int | float) and not isinstance(value, bool)
            and EARLIEST_T <= value < LATEST_T):
        return float(value)
    raise _damaged(path, f"a stored poll time is not an epoch time: {value!r:.60}")


def _status(path: Path, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
        return value
    raise _damaged(path, f"a stored HTTP status is not one: {value!r:.60}")


def _blob(path: Path, value: object, where: str) -> bytes:
    """A stored body, decompressed (each body carries zlib's checksum)."""
    if not isinstance(value, bytes):
        raise _damaged(path, f"the stored response to {where} is not a body")
    try:
        return zlib.decompress(value)
    except zlib.error:
        raise _damaged(path, f"the stored response to {where} is corrupt") from None


@contextlib.contextmanager
def _corruption_as_error(path: Path) -> Iterator[None]:
    """SQLite's errors about a damaged file (and text that does not decode) as RecordingError:
    a corrupt recording is the user's problem to hear about, not a crash."""
    try:
        yield
    except (sqlite3.Error, ValueError) as exc:
        raise _damaged(path, _first_line(exc)) from None


class Recorder:
    """Appends polls to a recording. A file that is not a recording is never overwritten."""

    def __init__(self, path: str | Path, url: str = "") -> None:
        self.path = Path(path)
        self.url = url
        existed = self.path.exists() and self.path.stat().st_size > 0
        self._conn = _connect(self.path, readonly=False)
        if existed:
            _check_format(self._conn, self.path)
        try:
            with _corruption_as_error(self.path):
                self._open()
        except RecordingError:
            self._conn.close()
            raise
        self.failed = 0

    def _open(self) -> None:
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        with self._conn:
            self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))
            self._conn.execute(
                "INSERT OR IGNORE INTO meta VALUES ('format_version', ?)", (str(FORMAT_VERSION),)
            )
            self._conn.execute(
                "INSERT OR IGNORE INTO meta VALUES ('created', ?)", (str(time.time()),)
            )
        self._pending: list[tuple[str, int, bytes]] = []
        self._bodies: dict[bytes, int] = {
            bytes(h): i for i, h in self._conn.execute("SELECT id, hash FROM bodies")
        }
        self._paths: dict[str, int] = {
            p: i for i, p in self._conn.execute("SELECT id, path FROM paths")
        }
        self.polls = self._conn.execute("SELECT COUNT(*) FROM polls").fetchone()[0]

    def capture(self, path: str, status: int, body: bytes) -> None:
        self._pending.append((path, status, body))

    def commit_poll(self, t: float, job_id: str) -> int:
        """Write the responses captured since the last poll, in one transaction."""
        with self._conn:
            cur = self._conn.execute(
                "INSERT INTO polls (t, job_id, url) VALUES (?, ?, ?)", (t, job_id, self.url)
            )
            poll_id = int(cur.lastrowid or 0)
            for path, status, body in self._pending:
                h = hashlib.blake2b(body, digest_size=16).digest()
                body_id = self._bodies.get(h)
                if body_id is None:
                    cur = self._conn.execute(
                        "INSERT INTO bodies (hash, data) VALUES (?, ?)",
                        (h, zlib.compress(body, 6)),
                    )
                    body_id = self._bodies[h] = int(cur.lastrowid or 0)
                path_id = self._paths.get(path)
                if path_id is None:
                    cur = self._conn.execute("INSERT INTO paths (path) VALUES (?)", (path,))
                    path_id = self._paths[path] = int(cur.lastrowid or 0)
                self._conn.execute(
                    "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)",
                    (path_id, poll_id, status, body_id),
                )
        self._pending.clear()
        self.polls += 1
        self._checkpoint("PASSIVE")
        return poll_id

    def fail_poll(self, t: float, error: str) -> None:
        """Note a poll that failed: a recording says what it missed. Its metric values are
        dropped; its other good answers go with the next poll, which a replay needs when
        they are read once per job (the plan, a vertex's metric listing) and the source
        caches them."""
        self._pending = [(path, status, body) for path, status, body in self._pending
                         if status == 200 and "?" not in path]
        with self._conn:
            self._conn.execute("INSERT INTO failed_polls VALUES (?, ?)", (t, error[:500]))
        self.failed += 1

    def discard_pending(self) -> None:
        self._pending.clear()

    def journal(self, t: float, entry: str) -> None:
        """Append one journal entry (`flowscope.journal`'s JSON) of a change made to the job
        while it was recorded."""
        with self._conn:
            self._conn.execute("INSERT INTO journal VALUES (?, ?)", (t, entry))

    def _checkpoint(self, mode: str) -> None:
        # Move the WAL into the main file, so a copy of the file alone (without its -wal) holds
        # every poll up to here. PASSIVE never waits for readers.
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()

    def close(self) -> None:
        self._checkpoint("TRUNCATE")
        self._conn.close()


def _check_format(conn: sqlite3.Connection, path: Path) -> None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    except sqlite3.DatabaseError:
        row = None
    if not row or row[0] != FORMAT:
        conn.close()
        raise RecordingError(
            f"{path} exists and is not a flowscope recording; refusing to write to it"
        )


class RecordingTransport(httpx.BaseTransport):
    """Passes requests to a real transport and hands each response to a Recorder."""

    def __init__(self, inner: httpx.BaseTransport, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = self.inner.handle_request(request)
        body = resp.read()
        key = _key(request.url)
        self.recorder.capture(key, resp.status_code, _stable(body, key))
        return httpx.Response(resp.status_code, headers=resp.headers, content=body,
                              request=request)

    def close(self) -> None:
        self.inner.close()


# Fields that change on every request without carrying information flowscope uses; dropping
# them lets the content-hash store keep one copy of a body per JobManager metric refresh.
VOLATILE_FIELDS = frozenset({"now", "duration", "timeSinceLastHeartbeat", "status-duration"})
# Answers whose `duration` is a measurement that does not change between requests: a
# checkpoint's details (a subtask's barrier alignment) and the exception history.
KEEPS_DURATION = ("/checkpoints", "/exceptions")


def _strip(value: object, volatile: frozenset[str]) -> object:
    if isinstance(value, dict):
        return {k: _strip(v, volatile) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [_strip(v, volatile) for v in value]
    return value


def _stable(body: bytes, path: str = "") -> bytes:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    volatile = VOLATILE_FIELDS
    if any(part in path for part in KEEPS_DURATION):
        volatile = volatile - {"duration"}
    return json.dumps(_strip(parsed, volatile), separators=(",", ":")).encode()


def _key(url: httpx.URL) -> str:
    return url.raw_path.decode("ascii")


@dataclass(frozen=True)
class PollInfo:
    id: int
    t: float
    job_id: str
    url: str


class Recording:
    """A recording opened for reading (it may still be written by another process)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn = _connect(self.path, readonly=True)
        self._lock = threading.Lock()
        self._parsed: dict[int, Any] = {}  # body id -> parsed metric answer
        try:
            _check_format(self._conn, self.path)
        except RecordingError:
            raise RecordingError(f"{self.path} is not a flowscope recording") from None

    def polls(self, job_id: str | None = None) -> list[PollInfo]:
        q = "SELECT id, t, job_id, url FROM polls"
        with self._lock, _corruption_as_error(self.path):
            rows = (self._conn.execute(q + " WHERE job_id = ? ORDER BY id", (job_id,)) if job_id
                    else self._conn.execute(q + " ORDER BY id")).fetchall()
        return [PollInfo(int(i), _time(self.path, t), _text(self.path, j, "job id"),
                         u if u == "" else _text(self.path, u, "URL", ascii_only=False))
                for i, t, j, u in rows]

    def job_ids(self) -> list[str]:
        with self._lock, _corruption_as_error(self.path):
            rows = self._conn.execute(
                "SELECT job_id FROM polls GROUP BY job_id ORDER BY MIN(id)").fetchall()
        return [_text(self.path, r[0], "job id") for r in rows]

    def failed_polls(self) -> list[tuple[float, str]]:
        """(time, error) of every poll that failed while recording (none in older files)."""
        with self._lock, _corruption_as_error(self.path):
            try:
                rows = self._conn.execute("SELECT t, error FROM failed_polls ORDER BY t"
                                          ).fetchall()
            except sqlite3.OperationalError:  # a recording from before the table existed
                return []
        return [(_time(self.path, t), str(e)) for t, e in rows]

    def journal(self) -> list[tuple[float, str]]:
        """(time, JSON entry) of every change journaled into the recording, oldest first
        (none in files from before the table existed)."""
        with self._lock, _corruption_as_error(self.path):
            try:
                return [(float(t), str(e)) for t, e in self._conn.execute(
                    "SELECT t, entry FROM journal ORDER BY t, rowid")]
            except sqlite3.OperationalError:
                return []

    def response(self, poll_id: int, path: str) -> tuple[int, bytes] | None:
        """The response to `path` at `poll_id`, or the latest earlier one (responses read once
        per job, like the plan, are stored once)."""
        with self._lock, _corruption_as_error(self.path):
            row = self._conn.execute(
                "SELECT r.status, b.data FROM paths p JOIN responses r ON r.path_id = p.id "
                "JOIN bodies b ON b.id = r.body_id "
                "WHERE p.path = ? AND r.poll_id <= ? ORDER BY r.poll_id DESC LIMIT 1",
                (path, poll_id),
            ).fetchone()
        if row is None:
            return None
        where = f"{path} at poll {poll_id}"
        return _status(self.path, row[0]), _blob(self.path, row[1], where)

    def metric_items(self, poll_id: int, base: str) -> list[Any] | None:
        """Every item the `base?get=...` requests of the newest poll up to `poll_id` answered
        (one metric per item), or None when no such request was recorded. A metric request
        names metrics, and Flink answers with those of them that exist: so any request for
        names this poll's answers hold can be answered, whatever the grouping of the names
        into requests (the collector may ask in other groups than the recorder did)."""
        like = base.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "?get=%"
        with self._lock, _corruption_as_error(self.path):
            rows = self._conn.execute(
                "SELECT r.body_id, b.data FROM paths p JOIN responses r ON r.path_id = p.id "
                "JOIN bodies b ON b.id = r.body_id WHERE p.path LIKE ? ESCAPE '\\' "
                "AND r.status = 200 AND r.poll_id = (SELECT MAX(r2.poll_id) FROM paths p2 "
                "JOIN responses r2 ON r2.path_id = p2.id WHERE p2.path LIKE ? ESCAPE '\\' "
                "AND r2.poll_id <= ?)",
                (like, like, poll_id),
            ).fetchall()
        if not rows:
            return None
        items: list[Any] = []
        for body_id, data in rows:
            parsed = self._parsed.get(body_id)
            if parsed is None:
                where = f"{base} at poll {poll_id}"
                try:
                    parsed = json.loads(_blob(self.path, data, where))
                except ValueError:
                    raise _damaged(self.path, f"the stored response to {where} is not JSON"
                                   ) from None
                self._parsed[body_id] = parsed
            if isinstance(parsed, list):
                items.extend(parsed)
        return items

    def _paths_at(self, poll_id: int, like: str) -> list[str]:
        """Paths matching a LIKE pattern requested with exactly this poll."""
        with self._lock, _corruption_as_error(self.path):
            rows = self._conn.execute(
                "SELECT p.path FROM paths p JOIN responses r ON r.path_id = p.id "
                "WHERE r.poll_id = ? AND p.path LIKE ? ORDER BY p.path",
                (poll_id, like),
            ).fetchall()
        return [_text(self.path, path, "request path") for (path,) in rows]

    def thread_dumps_at(self, poll_id: int) -> list[str]:
        """TaskManager ids whose thread dump was taken with exactly this poll."""
        return [unquote(p.split("/")[2])
                for p in self._paths_at(poll_id, "/taskmanagers/%/thread-dump")]

    def flamegraphs_at(self, poll_id: int) -> list[str]:
        """Vertex ids whose flame graphs were read with exactly this poll."""
        return [p.split("/")[4]
                for p in self._paths_at(poll_id, "/jobs/%/vertices/%/flamegraph?type=on_cpu")]

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RecordedTransport(httpx.BaseTransport):
    """Serves a recording's responses as if the cluster answered them at `poll_id`."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.poll_id = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = _key(request.url)
        path, _, query = key.partition("?")
        params = parse_qs(query)
        if list(params) == ["get"]:
            items = self.recording.metric_items(self.poll_id, path)
            if items is not None:
                wanted = set(",".join(params["get"]).split(","))
                answer = [i for i in items if isinstance(i, dict) and i.get("id") in wanted]
                return httpx.Response(200, content=json.dumps(answer).encode(), request=request,
                                      headers={"content-type": "application/json"})
        found = self.recording.response(self.poll_id, key)
        if found is None and path.endswith(SUBTASKS_METRICS) and "get" in params:
            # A poll that reads a vertex's gauges aggregated, replaying a recording of polls
            # that read them subtask by subtask: aggregate the recorded values.
            items = self.recording.metric_items(
                self.poll_id, path[: -len(SUBTASKS_METRICS)] + "/metrics")
            if items is not None:
                answer = aggregate_items(items, ",".join(params["get"]).split(","),
                                         ",".join(params.get("agg", [])))
                return httpx.Response(200, content=json.dumps(answer).encode(), request=request,
                                      headers={"content-type": "application/json"})
        if found is None and path == TASKMANAGERS_METRICS:
            # Polls that read TaskManagers aggregated, replaying polls that read them one by
            # one: Flink's answer from the recorded TaskManagers' answers.
            tm_answer = self._taskmanagers_aggregated(params)
            if tm_answer is not None:
                return httpx.Response(200, content=json.dumps(tm_answer).encode(),
                                      request=request,
                                      headers={"content-type": "application/json"})
        if found is None:
            body = json.dumps({"errors": ["not in the recording"]}).encode()
            return httpx.Response(404, content=body, request=request)
        status, content = found
        return httpx.Response(status, content=content, request=request,
                              headers={"content-type": "application/json"})


    def _taskmanagers_aggregated(self, params: dict[str, list[str]]) -> list[Any] | None:
        """`/taskmanagers/metrics[?get=..&agg=..&taskmanagers=..]` over the TaskManagers whose
        metrics this poll recorded (listing: the names any of them has)."""
        tms = ",".join(params.get("taskmanagers", [])).split(",")
        if tms == [""]:
            tms = [unquote(p.split("/")[2]) for p in self.recording._paths_at(
                self.poll_id, "/taskmanagers/%/metrics?get=%")]
        if "get" not in params:
            names: dict[str, None] = {}
            for tm in tms:
                found = self.recording.response(self.poll_id,
                                                f"/taskmanagers/{quote(tm, safe='')}/metrics")
                if found is not None and found[0] == 200:
                    for item in self._listing(found[1], tm):
                        if isinstance(item, dict) and "id" in item:
                            names[str(item["id"])] = None
            return [{"id": n} for n in names] if names else None
        items: list[Any] = []
        for k, tm in enumerate(tms):
            got = self.recording.metric_items(self.poll_id,
                                              f"/taskmanagers/{quote(tm, safe='')}/metrics")
            # Numbered like subtasks, so the subtasks' aggregation applies as it is.
            items.extend({**i, "id": f"{k}.{i.get('id')}"}
                         for i in got or [] if isinstance(i, dict))
        if not items:
            return None
        return aggregate_items(items, ",".join(params["get"]).split(","),
                               ",".join(params.get("agg", [])))

    def _listing(self, body: bytes, tm: str) -> list[Any]:
        """A recorded metric listing of TaskManager `tm` (a list; anything else is damage)."""
        try:
            items = json.loads(body)
        except ValueError:
            items = None
        if not isinstance(items, list):
            raise _damaged(self.recording.path, f"the stored metric listing of {tm} is not one")
        return items


SUBTASKS_METRICS = "/subtasks/metrics"
TASKMANAGERS_METRICS = "/taskmanagers/metrics"


def aggregate_items(items: list[Any], names: list[str], agg: str) -> list[dict[str, Any]]:
    """What Flink's aggregating handler answers for `names` over subtasks, from the items of
    `/metrics?get=<subtask>.<name>` answers: min/max/avg/sum/skew (those in `agg`, all five
    when empty) of each name's numeric values; `[]` when a name has no value at all, as Flink
    answers when a requested metric is missing on every subtask."""
    modes = [m for m in (agg or "min,max,avg,sum,skew").split(",") if m]
    wanted = set(names)
    values: dict[str, list[float]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        sub, _, bare = str(item.get("id", "")).partition(".")
        if not sub.isdigit() or bare not in wanted:
            continue
        try:
            v = float(item.get("value"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        values.setdefault(bare, []).append(v)
    out: list[dict[str, Any]] = []
    for name in names:
        vals = values.get(name)
        if not vals:
            return []
        total = sum(vals)
        avg = total / len(vals)
        dev = sum(abs(avg - x) for x in vals) / len(vals)
        stats = {"min": min(vals), "max": max(vals), "avg": avg, "sum": total,
                 "skew": 0.0 if avg == 0 else min(dev / avg * 100.0, 100.0)}
        out.append({"id": name, **{m: stats[m] for m in modes if m in stats}})
    return out

def file_size(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal"):
        p = Path(str(path) + suffix)
        if p.exists():
            total += os.path.getsize(p)
    return total
