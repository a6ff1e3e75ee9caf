"""Every job of a fleet from a Prometheus-compatible store, in a constant number of queries.

`scan_prometheus` asks, whatever the number of jobs (see flowscope.flink.fleetql):
  - `GET /api/v1/status/config`        the scrape interval (the history's step); optional
  - `GET /api/v1/query`                 which jobs lack the accumulated counters (their
                                        ratios then come from Flink's gauges)
  - `GET /api/v1/query` x 4            at `at`: per-task time ratios, record rates and job
                                        uptimes, the hottest subtask of each task, and the
                                        medians of its peers
  - `GET /api/v1/query_range` x 1      each job's state over the lookback ("for how long"),
                                        from the same ratios, asked alongside the others
and turns the answers into per-job aggregates that analysis.triage judges. A query the
server refuses for its size is split by job_id prefix ([0-7] then [89a-f], then halves
again) and the parts merged; only a refused query is split.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from flowscope.analysis import triage
from flowscope.analysis.findings import BUSY_HOT, LOW_THRESHOLD, Diagnosis
from flowscope.errors import JobNotFound
from flowscope.flink import fleetql
from flowscope.flink import metric_names as names
from flowscope.flink.prometheus import DEFAULT_STEP_S, PrometheusSource
from flowscope.flink.promql import PrometheusError, QueryTooLarge
from flowscope.flink.promwindow import when
from flowscope.model import JobGraph

__all__ = ["FleetScan", "scan_prometheus"]

HEX = "0123456789abcdef"
# A job_id prefix longer than this that is still refused is not a matter of size.
MAX_PREFIX = 3
HISTORY_POINTS = 60  # steps of the "for how long" history over the lookback
# Jobs without counters named one by one in the gauge fallback; more than this: every job.
MAX_FALLBACK_JOBS = 50

Row = tuple[dict[str, str], float]
Series = list[tuple[dict[str, str], list[tuple[float, float]]]]


@dataclass
class FleetScan:
    """What a fleet scan found at one time."""

    diagnoses: list[Diagnosis]  # one per job seen in the window
    since_s: dict[str, float | None]  # job_id -> seconds the current verdict has held
    queries: int  # HTTP requests sent
    bytes_in: int  # response bytes received
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Shard:
    """The jobs whose id starts with `prefix` then one of `digits`."""

    prefix: str = ""
    digits: str = HEX

    @property
    def matcher(self) -> str:
        if not self.prefix and self.digits == HEX:
            return ""
        return f'{fleetql.JOB}=~"{self.prefix}[{self.digits}].*"'

    def halves(self) -> list[Shard]:
        if len(self.digits) > 1:
            mid = len(self.digits) // 2
            return [Shard(self.prefix, self.digits[:mid]), Shard(self.prefix, self.digits[mid:])]
        if len(self.prefix) + 1 >= MAX_PREFIX:
            return []
        return Shard(self.prefix + self.digits).halves()


def scan_prometheus(url: str, *, at: float, window_s: float = 120.0,
                    lookback_s: float = 3600.0, headers: Mapping[str, str] | None = None,
                    graphs: Mapping[str, JobGraph] | None = None,
                    transport: httpx.BaseTransport | None = None,
                    progress: Callable[[str], None] | None = None) -> FleetScan:
    """Diagnose every job with task series in the `window_s` seconds before `at` (epoch s),
    and how long each job's state has held within `lookback_s` seconds. `graphs` (job_id ->
    JobGraph) lets the jobs it holds be located along their edges. Raises a one-line
    PrometheusError (PrometheusUnreachable, QueryTooLarge) or JobNotFound."""
    say = progress or (lambda _: None)
    with PrometheusSource(url, headers=headers, transport=transport) as src:
        scan = _Scan(src, at, window_s, say)
        say(f"reading every job's tasks from {src.url} at {when(at)}")
        step = src.scrape_interval_s()
        if step is None:
            step = DEFAULT_STEP_S
            scan.notes.append(f"the server does not say its scrape interval: {step:g} s assumed")
        step = max(step, lookback_s / HISTORY_POINTS)
        rows, legacy, state_rows = scan.run(lookback_s, step)
        jobs = _aggregate(rows, set(legacy))
        if not jobs:
            raise JobNotFound(
                f"Prometheus at {src.url} has no Flink task series in the {window_s:g} s "
                f"before {when(at)} (is Flink's PrometheusReporter scraped, and is the time "
                "right?)")
        say(f"{len(jobs)} jobs: judging")
        diagnoses = [triage.triage(j, t=at, window_s=window_s,
                                   graph=(graphs or {}).get(j.job_id)) for j in jobs]
        since = _since(diagnoses, state_rows, at, step)
        whole = sum(1 for v in since.values() if v is not None and v >= lookback_s - step)
        if whole:
            scan.notes.append(f"{whole} jobs held their state through the whole lookback: "
                              f"their time is at least {lookback_s:g} s")
        return FleetScan(diagnoses, since, src.http.requests, src.http.bytes_in, scan.notes)


class _Scan:
    """The queries of one scan, at one time."""

    def __init__(self, src: PrometheusSource, at: float, window_s: float,
                 say: Callable[[str], None]) -> None:
        self.src, self.at, self.window_s, self.say = src, at, window_s, say
        self.notes: list[str] = []
        self.refused: dict[str, int] = {}  # what -> refusals split

    def run(self, lookback_s: float, step_s: float) -> tuple[list[Row], list[str], Series]:
        """(the rows of the per-task queries, the jobs without counters, the state history's
        series): after the counter check, the rest runs side by side."""
        w = self.window_s
        with ThreadPoolExecutor(5, thread_name_prefix="flowscope-fleet") as pool:
            missing = self.sharded(lambda m: self.instant(fleetql.missing_counters_query(m)),
                                   "the counter check")
            legacy = sorted({lab.get(fleetql.JOB, "") for lab, v in missing if v > 0} - {""})
            fb = _fallback(legacy)
            if legacy:
                self.notes.append(f"{len(legacy)} jobs lack Flink's accumulated-time or record "
                                  "counters: their ratios come from the *PerSecond gauges")
            queries: list[Callable[[str], str]] = [
                lambda m: fleetql.times_query(m, w, fb, triage.RELATIVE_HOT, BUSY_HOT),
                lambda m: fleetql.records_query(m, w, fb),
                lambda m: fleetql.hot_query(m, w, fb),
                lambda m: fleetql.peers_query(m, w, fb),
            ]
            futures = [pool.submit(self.sharded, self._asker(q), "a per-task query")
                       for q in queries]

            def history(m: str) -> Series:
                query = fleetql.state_query(m, w, fb, LOW_THRESHOLD, triage.HEAD_BUSY)
                return self.history(query, lookback_s, step_s)

            states = pool.submit(self.sharded, history, "the state history")
            rows = [row for f in futures for row in f.result()]
            history_rows = states.result()
        for what, n in sorted(self.refused.items()):
            self.notes.append(f"the server refused {what} for its size {n} time(s): it was split "
                              "by job_id prefix and the parts merged")
        return rows, legacy, history_rows

    def _asker(self, query: Callable[[str], str]) -> Callable[[str], list[Row]]:
        return lambda matcher: self.instant(query(matcher))

    def instant(self, query: str) -> list[Row]:
        body = self.src.http.get("/api/v1/query", {"query": query, "time": f"{self.at:.3f}"})
        if not isinstance(body, dict) or body.get("resultType") != "vector":
            raise PrometheusError("an instant query's answer is not a vector: is this a "
                                  "Prometheus-compatible server?")
        out = []
        for series in body.get("result") or []:
            try:
                value = float(series["value"][1])
            except (TypeError, ValueError, KeyError, IndexError):
                continue
            out.append(({str(k): str(v) for k, v in (series.get("metric") or {}).items()},
                        value))
        return out

    def history(self, query: str, lookback_s: float, step_s: float) -> Series:
        steps = max(1, int(lookback_s // step_s))
        return self.src.query_range(query, self.at - steps * step_s, self.at, step_s)

    def sharded(self, ask: Callable[[str], list[Any]], what: str,
                shard: Shard = Shard()) -> list[Any]:
        """`ask(matcher)` for every job, split by job_id prefix while the server refuses it
        for its size."""
        try:
            return ask(shard.matcher)
        except QueryTooLarge:
            parts = shard.halves()
            if not parts:
                raise
            self.say(f"the server refused {what} for its size: splitting by job id")
            self.refused[what] = self.refused.get(what, 0) + 1
            return [row for part in parts for row in self.sharded(ask, what, part)]


def _fallback(legacy: list[str]) -> str | None:
    """The matcher of the gauge side of each ratio: None when no job needs it."""
    if not legacy:
        return None
    if len(legacy) > MAX_FALLBACK_JOBS:
        return ""
    return f'{fleetql.JOB}=~"{"|".join(legacy)}"'


def _value(v: float) -> float | None:
    return v if math.isfinite(v) else None


# Stats that are time ratios (0..1). `rate()` extrapolates to the window's edges, so a counter
# read a moment late can give 1.06: clamped, as the REST window clamps its ratios.
RATIOS = {"busy_max", "busy_avg", "busy_min", "bp_max", "bp_avg", "idle_max", "idle_avg",
          "peers_busy", "hot_busy", "hot_bp"}


def _clamped(stat: str, v: float) -> float:
    return min(max(v, 0.0), 1.0) if stat in RATIOS and math.isfinite(v) else v


def _aggregate(rows: list[Row], legacy: set[str]) -> list[triage.JobAggregate]:
    """Per-job aggregates from the rows of the four instant queries; `legacy`: the jobs
    without accumulated-time counters."""
    stats: dict[tuple[str, str], dict[str, float | None]] = {}
    labels: dict[tuple[str, str], tuple[str, str]] = {}
    hot: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    uptime: dict[str, float] = {}
    job_names: dict[str, str] = {}
    for lab, raw in rows:
        stat, job, task = lab.get(fleetql.STAT, ""), lab.get(fleetql.JOB, ""), lab.get(
            fleetql.TASK, "")
        v = _clamped(stat, raw)
        if stat == "uptime_ms":
            if math.isfinite(v) and v > 0:
                uptime[job] = v / 1000.0
            continue
        if not job or not task:
            continue
        key = (job, task)
        if stat.startswith("hot_"):
            sub = lab.get(fleetql.SUBTASK, "")
            slot = hot.setdefault(key, {}).setdefault(sub, {})
            if stat == "hot_busy":
                # A subtask that moved TaskManager in the window has a series on each.
                if v >= slot.get("busy", -math.inf):
                    slot["busy"], slot["tm"] = v, lab.get(names.PROM_LABEL_TM, "")
            else:
                slot[stat] = _value(v)
            continue
        stats.setdefault(key, {})[stat] = _value(v) if stat != "subtasks" else v
        if stat == "subtasks":
            labels[key] = (lab.get(names.PROM_LABEL_JOB_NAME, ""), lab.get("task_name", task))
            job_names[job] = labels[key][0]
    tasks: dict[str, list[triage.TaskAggregate]] = {}
    for key, s in stats.items():
        if key not in labels or s.get("busy_max") is None:
            continue
        n = int(s.get("subtasks") or 0)
        tasks.setdefault(key[0], []).append(triage.TaskAggregate(
            task_id=key[1], name=labels[key][1], subtasks=n,
            busy_max=s.get("busy_max"), busy_avg=s.get("busy_avg"), busy_min=s.get("busy_min"),
            hot_subtasks=int(s.get("busy_hot") or 0),
            backpressured_max=s.get("bp_max"), backpressured_avg=s.get("bp_avg"),
            idle_max=s.get("idle_max"), idle_avg=s.get("idle_avg"),
            records_in_per_s=s.get("rin_sum"), records_out_per_s=s.get("rout_sum"),
            hottest=_hottest(hot.get(key, {})),
            peers_busy_median=s.get("peers_busy") if n > 1 else None,
            peers_load_median=s.get("peers_load") if n > 1 else None,
            peers_cost_median=s.get("peers_cost") if n > 1 else None,
            counted=0 if key[0] in legacy else n))
    return sorted((triage.JobAggregate(job, job_names.get(job, ""), tuple(
        sorted(ts, key=lambda t: t.name)), uptime.get(job)) for job, ts in tasks.items()),
        key=lambda j: (j.name, j.job_id))


def _hottest(subs: dict[str, dict[str, Any]]) -> triage.HotSubtask | None:
    """The hottest subtask (the lowest index among equally busy ones)."""
    found = [(-float(v["busy"]), int(i), v) for i, v in subs.items()
             if "busy" in v and i.isdigit() and math.isfinite(v["busy"])]
    if not found:
        return None
    _, index, v = min(found, key=lambda f: (f[0], f[1]))
    return triage.HotSubtask(index=index, taskmanager=str(v.get("tm", "")),
                             busy=float(v["busy"]), backpressured=v.get("hot_bp"),
                             records_in_per_s=v.get("hot_rin"),
                             records_out_per_s=v.get("hot_rout"))


def _since(diagnoses: list[Diagnosis], rows: Series, at: float,
           step_s: float) -> dict[str, float | None]:
    by_job = {lab.get(fleetql.JOB, ""): values for lab, values in rows}
    return {d.job_id: triage.held_for(by_job.get(d.job_id, []), d.verdict, at, step_s)
            for d in diagnoses}
