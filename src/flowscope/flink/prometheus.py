"""Reads a past window of a job from a Prometheus-compatible store that scrapes Flink's
PrometheusReporter, as the same `Sample`s the REST poller makes (one per query step).

Queries per window do not grow with the number of subtasks or metric names:
  - `GET /api/v1/status/config`          the scrape interval (the step); optional: Thanos or
                                          Mimir do not serve it, then 15 s is assumed
  - `GET /api/v1/series`                  which jobs have task series in the window
  - `GET /api/v1/label/__name__/values`   which metric names the job has (Flink versions differ)
  - `GET /api/v1/query_range` x 3         every task metric of every subtask (one selector
                                          over the names), when each TaskManager was last
                                          scraped (staleness), TaskManager and job metrics
A range the server refuses for its size is split in halves until it passes. Values are never
interpolated: a step at which a subtask's TaskManager was not scraped freshly is a gap, said in
`History.notes`, and yields no sample. Task attempts are kept apart: a restart inside the
window starts a new series, and each sample carries the newest attempt seen at its step.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from flowscope.errors import JobNotFound
from flowscope.flink import metric_names as names
from flowscope.flink.promql import PromClient, PrometheusError, QueryTooLarge
from flowscope.flink.promwindow import History, PromJob, build
from flowscope.model import Quantity

__all__ = ["History", "PromJob", "PrometheusSource"]

DEFAULT_STEP_S = 15.0
# A value older than this many scrape intervals at a step is a carried-forward value (the
# server looks back up to 5 min), not a measurement: the step is a gap.
STALE_INTERVALS = 2.0
# Halving a refused range stops here: a server that refuses this few points per series
# refuses for another reason (series or samples limits) that splitting time will not fix.
MIN_SPLIT_POINTS = 8
BUSY_GAUGE = names.PROM_TASK + "busyTimeMsPerSecond"
BUSY_COUNTER = names.PROM_TASK + "accumulateBusyTimeMs"
COUNTERS = (Quantity.BUSY_MS, Quantity.IDLE_MS, Quantity.BACKPRESSURED_MS)
_ID = re.compile(r"^[0-9a-f]{32}$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def parse_duration(text: str) -> float | None:
    """A Prometheus duration (`15s`, `1m30s`, `500ms`) in seconds, or None."""
    parts = _DURATION.findall(text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(n) * _UNITS[u] for n, u in parts)


def scrape_intervals(config_yaml: str) -> tuple[float | None, dict[str, float]]:
    """The global scrape interval and each scrape job's own, in seconds, from the YAML of
    `/api/v1/status/config` (Prometheus writes it normalised: one key per line)."""
    default: float | None = None
    per_job: dict[str, float] = {}
    section, job = "", ""
    for line in config_yaml.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            section, job = line.strip()[:-1], ""
        key, _, value = line.strip().lstrip("- ").partition(":")
        value = value.strip().strip("'\"")
        if key == "job_name" and section == "scrape_configs":
            job = value
        elif key == "scrape_interval":
            secs = parse_duration(value)
            if secs is None:
                continue
            if section == "global":
                default = secs
            elif section == "scrape_configs" and job and job not in per_job:
                per_job[job] = secs
    return default, per_job


class PrometheusSource:
    """A Prometheus-compatible store, read through its HTTP API; `transport` is the seam tests
    and recordings use."""

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None,
                 timeout_s: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        self.http = PromClient(url, headers=headers, timeout_s=timeout_s, transport=transport)
        self.url = self.http.url
        # Learned from the first refusal: the most points per series the server accepts.
        self.max_points: int | None = None

    @property
    def requests(self) -> int:
        return self.http.requests

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PrometheusSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs ---------------------------------------------------------------------------------

    def jobs(self, start: float, end: float, job_id: str | None = None) -> list[PromJob]:
        """Jobs with task series in [start, end] (one `/api/v1/series` request)."""
        match = f'{BUSY_GAUGE}{{{names.PROM_LABEL_SUBTASK}="0"'
        match += f',{names.PROM_LABEL_JOB_ID}="{job_id}"}}' if job_id else "}"
        body = self.http.get("/api/v1/series", {"match[]": match, "start": _ts(start),
                                                "end": _ts(end)})
        found: dict[str, PromJob] = {}
        for labels in body if isinstance(body, list) else []:
            if not isinstance(labels, dict):
                continue
            jid = str(labels.get(names.PROM_LABEL_JOB_ID, ""))
            if jid:
                found.setdefault(jid, PromJob(jid, str(labels.get(names.PROM_LABEL_JOB_NAME, "")),
                                              str(labels.get("job", ""))))
        return sorted(found.values(), key=lambda j: (j.name, j.id))

    def select_job(self, selector: str, start: float, end: float) -> PromJob:
        """A job by id (or id prefix), by exact or unique partial name (Flink's or as the
        reporter mangles it)."""
        exact_id = selector if _ID.match(selector) else None
        jobs = self.jobs(start, end, exact_id)
        window = f"between {_when(start)} and {_when(end)}"
        if not jobs:
            what = f"job {selector}" if exact_id else "Flink task series"
            raise JobNotFound(f"Prometheus at {self.url} has no {what} {window} (is Flink's "
                              "PrometheusReporter scraped, and is the window right?)")
        by_id = [j for j in jobs if j.id.startswith(selector)]
        wanted = names.prom_mangle(selector).lower()
        matches = (by_id or [j for j in jobs if j.name.lower() == wanted]
                   or [j for j in jobs if wanted in j.name.lower()])
        if len(matches) == 1:
            return matches[0]
        if not matches:
            listing = ", ".join(f"{j.name} ({j.id[:8]})" for j in jobs[:5])
            raise JobNotFound(f"no job matches {selector!r} {window} on {self.url}; "
                              f"jobs with series: {listing}")
        listing = ", ".join(f"{j.name} ({j.id[:8]})" for j in matches[:5])
        raise JobNotFound(f"{selector!r} matches several jobs {window}: {listing}; give a job id")

    def scrape_interval_s(self, scrape_job: str = "") -> float | None:
        """The scrape interval of `scrape_job` (or the global one) in seconds, None when the
        server does not serve its configuration."""
        try:
            body = self.http.get("/api/v1/status/config")
        except PrometheusError:
            return None
        text = body.get("yaml") if isinstance(body, dict) else None
        if not isinstance(text, str):
            return None
        default, per_job = scrape_intervals(text)
        return per_job.get(scrape_job, default)

    def metric_names(self, job_id: str, start: float, end: float) -> set[str]:
        """Every metric name with a series of the job in [start, end]."""
        body = self.http.get("/api/v1/label/__name__/values", {
            "match[]": f'{{{names.PROM_LABEL_JOB_ID}="{job_id}"}}',
            "start": _ts(start), "end": _ts(end)})
        return {str(n) for n in body} if isinstance(body, list) else set()

    # -- the window ---------------------------------------------------------------------------

    def history(self, job: PromJob, start: float, end: float,
                step_s: float | None = None) -> History:
        """The job's samples over [start, end] (epoch seconds), one per `step_s` (default: the
        scrape interval). Raises JobNotFound when the job has no task series there."""
        before = self.requests
        notes: list[str] = []
        if step_s is None:
            step_s = self.scrape_interval_s(job.scrape_job)
            if step_s is None:
                step_s = DEFAULT_STEP_S
                notes.append(f"the server does not say its scrape interval: steps of "
                             f"{DEFAULT_STEP_S:g} s assumed")
        step_s = max(step_s, 0.001)
        present = self.metric_names(job.id, start, end)
        task = names.resolve((n.removeprefix(names.PROM_TASK) for n in present
                              if n.startswith(names.PROM_TASK)), names.prom_task_metrics())
        if not task:
            raise JobNotFound(f"Prometheus at {self.url} has no task metrics of job {job.id} "
                              f"between {_when(start)} and {_when(end)}")
        sel = f'{names.PROM_LABEL_JOB_ID}="{job.id}"'
        task_query = _selector([names.PROM_TASK + n for n in set(task.values())], sel)
        stamp = names.PROM_TASK + (task.get(Quantity.BUSY_MS_PER_S) or next(iter(task.values())))
        fresh_query = f"max by ({names.PROM_LABEL_TM}) (timestamp({stamp}{{{sel}}}))"
        rows = self._map(lambda q: self.query_range(q, start, end, step_s),
                         [task_query, fresh_query])
        task_rows, fresh_rows = rows
        tm_ids = sorted({str(r[0].get(names.PROM_LABEL_TM, "")) for r in task_rows} - {""})
        # TaskManager series carry no job_id, so the job's name list does not show them: ask
        # for every candidate name and rank what comes back.
        tm_names = {n: (q, rank) for q, cands in names.prom_tm_metrics().items()
                    for rank, n in enumerate(cands)}
        job_names = [names.PROM_JOB_UPTIME, *names.PROM_JOB_CHECKPOINTS.values()]
        other = _selector([names.PROM_JOB + n for n in job_names], sel)
        if tm_ids:
            other += " or " + _selector([names.PROM_TASKMANAGER + n for n in tm_names],
                                        f'{names.PROM_LABEL_TM}=~"{_alternation(tm_ids)}"')
        other_rows = self.query_range(other, start, end, step_s)
        missing = [q for q in COUNTERS if str(q) not in task]
        if missing:
            notes.append("no accumulated-time counters for this job (" + ", ".join(
                names.prom_mangle(names.TASK_METRICS[q][0]) for q in missing)
                + "): busy / idle / backpressured come from Flink's *TimeMsPerSecond gauges "
                "(averages over up to 60 s)")
        history = build(
            job, start, end, step_s, task_rows, fresh_rows, other_rows,
            {v: k for k, v in task.items()}, tm_names,
            stale_after_s=STALE_INTERVALS * step_s)
        history.notes[:0] = notes
        history.queries = self.requests - before
        if not history.samples:
            raise JobNotFound(
                f"Prometheus at {self.url} has series of job {job.id} but no step between "
                f"{_when(start)} and {_when(end)} with fresh values of all its subtasks"
                + (f" ({history.notes[-1]})" if history.notes else ""))
        return history

    def query_range(self, query: str, start: float, end: float, step_s: float
                    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """`query` evaluated every `step_s` over [start, end]: (labels, [(t, value)]) per
        series. A range the server refuses for its size is split until it passes."""
        points = int((end - start) // step_s) + 1
        if self.max_points is not None and points > self.max_points:
            return self._split(query, start, end, step_s, points, self.max_points)
        try:
            body = self.http.get("/api/v1/query_range", {
                "query": query, "start": _ts(start), "end": _ts(end), "step": f"{step_s:g}"})
        except QueryTooLarge:
            if points < 2 * MIN_SPLIT_POINTS:
                raise
            self.max_points = min(self.max_points or points, points // 2)
            return self._split(query, start, end, step_s, points, self.max_points)
        return _matrix(body)

    def _split(self, query: str, start: float, end: float, step_s: float, points: int,
               limit: int) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        merged: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        first = 0
        while first < points:
            last = min(first + limit, points) - 1
            for labels, values in self.query_range(query, start + first * step_s,
                                                   start + last * step_s, step_s):
                merged.setdefault(tuple(sorted(labels.items())), []).extend(values)
            first = last + 1
        return [(dict(k), v) for k, v in merged.items()]

    def _map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        with ThreadPoolExecutor(len(items), thread_name_prefix="flowscope-prom") as pool:
            return list(pool.map(fn, items))


def _matrix(body: Any) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
    """A query_range answer's series; unreadable points are left out, "NaN" stays NaN."""
    if not isinstance(body, dict) or body.get("resultType") != "matrix":
        raise PrometheusError("a query_range answer is not a matrix: is this a "
                              "Prometheus-compatible server?")
    out = []
    for series in body.get("result") or []:
        if not isinstance(series, dict):
            continue
        labels = {str(k): str(v) for k, v in (series.get("metric") or {}).items()}
        values: list[tuple[float, float]] = []
        for point in series.get("values") or []:
            try:
                t, v = float(point[0]), float(point[1])
            except (TypeError, ValueError, IndexError):
                continue
            if math.isfinite(t):
                values.append((t, v))
        out.append((labels, values))
    return out


def _alternation(items: Sequence[str]) -> str:
    """A regex matching exactly `items`, written inside a PromQL string literal (RE2
    metacharacters escaped, and the escaping backslashes escaped for the string)."""
    special = set(".+*?()|[]{}^$\\")
    return "|".join("".join("\\\\" + c if c in special else c for c in item)
                    for item in sorted(set(items)))


def _selector(metric_names: Sequence[str] | set[str], matchers: str) -> str:
    """One selector over several metric names: one query for all of them."""
    return '{__name__=~"' + _alternation(sorted(metric_names)) + '",' + matchers + "}"


def _ts(t: float) -> str:
    return f"{t:.3f}"


def _when(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

