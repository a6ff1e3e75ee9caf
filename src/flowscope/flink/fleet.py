"""Every job of a fleet from a Prometheus-compatible store, in a constant number of queries,
as the evidence `analysis.rules` judges (analysis.evidence): the same model a REST window fills.

`read_fleet` asks, whatever the number of jobs (see flowscope.flink.fleetql):
  - `GET /api/v1/status/config`        the scrape interval (the history's step); optional
  - `GET /api/v1/query`                 which jobs lack the accumulated counters (their
                                        ratios then come from Flink's gauges)
  - `GET /api/v1/query` x 5            at `at`: per-task time ratios, record rates and job
                                        uptimes, the hot subtasks of each task, the medians of
                                        their peers, and the TaskManagers' CPU, GC and heap
  - `GET /api/v1/query_range` x 2      each job's state over the lookback ("for how long"),
                                        and each task over the last `history_s` at ~10 s steps
                                        (where the bottleneck was: moving bottlenecks, GC that
                                        holds)
and turns the answers into one `JobEvidence` per job. A query the server refuses for its size
is split by job_id prefix ([0-7] then [89a-f], then halves again) and the parts merged; only a
refused query is split. The reader decides nothing: `flowscope.scan.scan_prometheus` judges.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

import httpx

from flowscope.analysis.evidence import (
    RELATIVE_HOT,
    Checkpointing,
    JobEvidence,
    Loads,
    Peers,
    Quality,
    Restarts,
    SubtaskFacts,
    TaskEvidence,
)
from flowscope.analysis.findings import (
    BUSY_HOT,
    LOW_THRESHOLD,
    Fact,
    Note,
    NoteKind,
    SubtaskState,
    TaskManagerFacts,
    TaskState,
    level_of,
)
from flowscope.analysis.rules import keeps_restarting
from flowscope.analysis.sources import HEAD_BUSY
from flowscope.analysis.temporal import TemporalView, view_of
from flowscope.analysis.window import host_cores
from flowscope.errors import JobNotFound
from flowscope.flink import fleetql
from flowscope.flink import metric_names as names
from flowscope.flink.prometheus import DEFAULT_STEP_S, PrometheusSource
from flowscope.flink.promql import PrometheusError, QueryTooLarge
from flowscope.flink.promwindow import when
from flowscope.model import JobGraph

__all__ = ["FleetReading", "Shard", "TaskAnswers", "history_of", "job_evidence", "read_fleet"]

HEX = "0123456789abcdef"
# A job_id prefix longer than this that is still refused is not a matter of size.
MAX_PREFIX = 3
HISTORY_POINTS = 60  # steps of the "for how long" history over the lookback
# Jobs without counters named one by one in the gauge fallback; more than this: every job.
MAX_FALLBACK_JOBS = 50
# Where the bottleneck was: steps of about this many seconds over the last history_s.
STEP_S = 10.0

Row = tuple[dict[str, str], float]
Series = list[tuple[dict[str, str], list[tuple[float, float]]]]


@dataclass
class FleetReading:
    """What a fleet read found at one time: a job's evidence each, the state history each
    job's "for how long" is read from, and what the reading cost. `evidence(job_id, graph)`
    reads a job's answers again with its graph's edges (from a JobManager)."""

    jobs: list[JobEvidence]
    states: Series  # per job_id: (epoch s, state code) every `step_s`
    step_s: float
    queries: int  # HTTP requests sent
    bytes_in: int  # response bytes received
    notes: list[str] = field(default_factory=list)
    answers: Answers | None = None
    at: float = 0.0
    window_s: float = 0.0

    def evidence(self, job_id: str, graph: JobGraph | None) -> JobEvidence | None:
        """The job's evidence from the same answers, located along `graph`'s edges."""
        if self.answers is None:
            return None
        found = _evidence(self.answers, self.at, self.window_s, {job_id: graph} if graph
                          else {}, only=job_id)
        return found[0] if found else None


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


def read_fleet(url: str, *, at: float, window_s: float = 120.0, lookback_s: float = 3600.0,
               history_s: float = 180.0, headers: Mapping[str, str] | None = None,
               graphs: Mapping[str, JobGraph] | None = None,
               transport: httpx.BaseTransport | None = None,
               progress: Callable[[str], None] | None = None) -> FleetReading:
    """The evidence of every job with task series in the `window_s` seconds before `at`
    (epoch s), where its bottleneck was over the last `history_s` seconds, and each job's
    state over `lookback_s`. `graphs` (job_id -> JobGraph) gives the jobs it holds their
    edges. Raises a one-line PrometheusError (PrometheusUnreachable, QueryTooLarge) or
    JobNotFound."""
    say = progress or (lambda _: None)
    with PrometheusSource(url, headers=headers, transport=transport) as src:
        scan = _Scan(src, at, window_s, say)
        say(f"reading every job's tasks from {src.url} at {when(at)}")
        scrape = src.scrape_interval_s()
        if scrape is None:
            scrape = DEFAULT_STEP_S
            scan.notes.append(f"the server does not say its scrape interval: {scrape:g} s "
                              "assumed")
        step = max(scrape, lookback_s / HISTORY_POINTS)
        answers = scan.run(lookback_s, step, history_s, scrape)
        jobs = _evidence(answers, at, window_s, graphs or {})
        if not jobs:
            raise JobNotFound(
                f"Prometheus at {src.url} has no Flink task series in the {window_s:g} s "
                f"before {when(at)} (is Flink's PrometheusReporter scraped, and is the time "
                "right?)")
        say(f"{len(jobs)} jobs: judging")
        return FleetReading(jobs, answers.states, step, src.http.requests, src.http.bytes_in,
                            scan.notes, answers, at, window_s)


@dataclass
class Answers:
    """The rows of one fleet read."""

    rows: list[Row]  # the instant queries'
    legacy: set[str]  # jobs without accumulated-time counters
    states: Series  # the state history's
    steps: Series  # the recent history's, per task and TaskManager


class _Scan:
    """The queries of one scan, at one time."""

    def __init__(self, src: PrometheusSource, at: float, window_s: float,
                 say: Callable[[str], None]) -> None:
        self.src, self.at, self.window_s, self.say = src, at, window_s, say
        self.notes: list[str] = []
        self.refused: dict[str, int] = {}  # what -> refusals split

    def run(self, lookback_s: float, step_s: float, history_s: float,
            scrape_s: float) -> Answers:
        """Every answer of the read: after the counter check, the rest runs side by side."""
        w = self.window_s
        with ThreadPoolExecutor(7, thread_name_prefix="flowscope-fleet") as pool:
            missing = self.sharded(lambda m: self.instant(fleetql.missing_counters_query(m)),
                                   "the counter check")
            legacy = sorted({lab.get(fleetql.JOB, "") for lab, v in missing if v > 0} - {""})
            fb = _fallback(legacy)
            if legacy:
                self.notes.append(f"{len(legacy)} jobs lack Flink's accumulated-time or record "
                                  "counters: their ratios come from the *PerSecond gauges")
            queries: list[Callable[[str], str]] = [
                lambda m: fleetql.times_query(m, w, fb, RELATIVE_HOT, BUSY_HOT),
                lambda m: fleetql.records_query(m, w, fb),
                lambda m: fleetql.hot_query(m, w, fb, RELATIVE_HOT, BUSY_HOT),
                lambda m: fleetql.peers_query(m, w, fb),
                lambda m: fleetql.taskmanagers_query(m, w, fb, RELATIVE_HOT, BUSY_HOT),
            ]
            futures = [pool.submit(self.sharded, self._asker(q), "a per-task query")
                       for q in queries]

            def states(m: str) -> Series:
                query = fleetql.state_query(m, w, fb, LOW_THRESHOLD, HEAD_BUSY)
                return self.history(query, lookback_s, step_s)

            # Each step reads the ratios over two scrapes at least: a delta needs two points.
            step = max(STEP_S, scrape_s)
            over = max(step, 2 * scrape_s)

            def steps(m: str) -> Series:
                return self.history(fleetql.steps_query(m, over, fb), history_s, step)

            state_rows = pool.submit(self.sharded, states, "the state history")
            step_rows = pool.submit(self.sharded, steps, "the recent history")
            rows = [row for f in futures for row in f.result()]
            answers = Answers(rows, set(legacy), state_rows.result(), step_rows.result())
        for what, n in sorted(self.refused.items()):
            self.notes.append(f"the server refused {what} for its size {n} time(s): it was split "
                              "by job_id prefix and the parts merged")
        return answers

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
RATIOS = {"busy_max", "busy_avg", "busy_min", "bp_max", "bp_avg", "idle_max",
          "idle_avg", "peers_busy", "hot_busy", "hot_bp"}
# Stats with one answer per subtask (each labelled with its subtask_index).
PER_SUBTASK = {"hot_busy", "hot_bp", "hot_rin", "hot_rout", "hot_start", "load_top"}
PER_TM = {"cores", "gc", "load", "heap_used", "heap_max"}


def _clamped(stat: str, v: float) -> float:
    return min(max(v, 0.0), 1.0) if stat in RATIOS and math.isfinite(v) else v


@dataclass
class TaskAnswers:
    """What the fleet's queries answer of one task: `stats` by the name each query gives it
    (flink.fleetql), its hot subtasks' stats by index, the subtask that takes the most
    records, and per TaskManager its hot subtasks' busy ratios summed and its busiest's."""

    stats: dict[str, float | None] = field(default_factory=dict)
    subtasks: dict[int, dict[str, Any]] = field(default_factory=dict)
    top_load: tuple[int, float] | None = None  # the subtask that takes most records
    busy_by_tm: dict[str, float] = field(default_factory=dict)
    busy_on_tm: dict[str, float] = field(default_factory=dict)
    job_name: str = ""
    name: str = ""


# Per-job stats: the uptime (ms), and restarts and checkpoints within the window.
PER_JOB = {"uptime_ms", "restarts", "cp_completed", "cp_failed"}


def _sorted_rows(rows: list[Row]) -> tuple[dict[tuple[str, str], TaskAnswers],
                                            dict[str, dict[str, float]],
                                            dict[str, dict[str, float]]]:
    """The rows by task, the jobs' own stats (PER_JOB), and the TaskManagers' stats."""
    tasks: dict[tuple[str, str], TaskAnswers] = {}
    jobs: dict[str, dict[str, float]] = {}
    tms: dict[str, dict[str, float]] = {}
    for lab, raw in rows:
        stat, job, task = (lab.get(fleetql.STAT, ""), lab.get(fleetql.JOB, ""),
                           lab.get(fleetql.TASK, ""))
        v = _clamped(stat, raw)
        if stat in PER_JOB:
            if job and math.isfinite(v):
                jobs.setdefault(job, {})[stat] = v
            continue
        if stat in PER_TM:
            tm = lab.get(fleetql.TM, "")
            if tm and math.isfinite(v):
                tms.setdefault(tm, {})[stat] = v
            continue
        if not job or not task:
            continue
        t = tasks.setdefault((job, task), TaskAnswers())
        if stat in ("tm_hot", "tm_busy") and math.isfinite(v):
            (t.busy_by_tm if stat == "tm_hot" else t.busy_on_tm)[lab.get(fleetql.TM, "")] = v
        elif stat in PER_SUBTASK:
            index = lab.get(fleetql.SUBTASK, "")
            if not index.isdigit():
                continue
            if stat == "load_top":
                if math.isfinite(v):
                    t.top_load = (int(index), v)
                continue
            slot = t.subtasks.setdefault(int(index), {})
            if stat == "hot_busy":
                # A subtask that moved TaskManager in the window has a series on each.
                if v >= slot.get("busy", -math.inf):
                    slot["busy"], slot["tm"] = v, lab.get(fleetql.TM, "")
            else:
                slot[stat] = _value(v)
        elif stat == "subtasks":
            t.stats["subtasks"] = v
            t.job_name, t.name = (lab.get(names.PROM_LABEL_JOB_NAME, ""),
                                  lab.get("task_name", task))
        else:
            t.stats[stat] = _value(v)
    return tasks, jobs, tms


def _evidence(answers: Answers, at: float, window_s: float,
              graphs: Mapping[str, JobGraph], only: str | None = None) -> list[JobEvidence]:
    """One JobEvidence per job with task series in the window (`only`: that job's)."""
    tasks, per_job, tms = _sorted_rows(answers.rows)
    by_job: dict[str, dict[str, TaskAnswers]] = {}
    for (job, task), t in tasks.items():
        if t.name and t.stats.get("subtasks") and only in (None, job):
            by_job.setdefault(job, {})[task] = t
    steps = _steps(answers.steps)
    gc = _gc_steps(answers.steps, window_s, at)
    out = [restarting_evidence(job, graphs.get(job), mine, at, window_s)
           for job, mine in per_job.items()
           if job not in by_job and only in (None, job) and _keeps_restarting(mine, window_s)]
    for job, ts in by_job.items():
        graph = graphs.get(job)
        mine = per_job.get(job, {})
        ev = job_evidence(job, ts, graph, tms, at, window_s, _uptime_s(mine),
                          job in answers.legacy)
        ev.restarts, ev.checkpointing = _lifecycle(mine, window_s)
        ev.history = history_of(steps.get(job, {}), ev)
        for tm, facts in ev.taskmanagers.items():
            ev.taskmanagers[tm] = replace(facts, gc_intervals=gc.get(tm, ()))
        out.append(ev)
    return sorted(out, key=lambda e: (e.job_name, e.job_id))


def _uptime_s(stats: dict[str, float]) -> float | None:
    """The job's uptime (s) from its stats; None while it does not run."""
    up = stats.get("uptime_ms")
    return up / 1000.0 if up and up > 0 else None


def _keeps_restarting(stats: dict[str, float], window_s: float) -> bool:
    """Restarts as the rules count a loop: without task series, a job is judged on nothing
    else."""
    return keeps_restarting(_lifecycle(stats, window_s)[0], _uptime_s(stats))


def restarting_evidence(job: str, graph: JobGraph | None, stats: dict[str, float], at: float,
                        window_s: float) -> JobEvidence:
    """A job that restarted within the window and whose tasks left no series in it (each
    attempt lives too short for a rate): the JobManager's counters are its evidence. Its
    name is the graph's where one is known, else its id."""
    ev = JobEvidence(job_id=job, job_name=graph.name if graph is not None else job,
                     job_state="RUNNING", t=at, window_s=window_s,
                     uptime_s=_uptime_s(stats), tasks={}, graph=None,
                     taskmanagers={}, quality=Quality())  # no task evidence to place on it
    ev.restarts, ev.checkpointing = _lifecycle(stats, window_s)
    return ev


def _lifecycle(stats: dict[str, float], window_s: float
               ) -> tuple[Restarts | None, Checkpointing | None]:
    """A job's restarts and checkpoints within the window, from the JobManager's counters (no
    exception history nor checkpoint details: Prometheus holds neither)."""
    count = round(stats.get("restarts", 0.0))
    restarts = Restarts(count=count, span_s=window_s, attempt=0) if count > 0 else None
    done, failed = stats.get("cp_completed"), stats.get("cp_failed")
    checkpoints = None
    if done is not None or failed is not None:
        checkpoints = Checkpointing(completed=round(done or 0.0), failed=round(failed or 0.0))
    return restarts, checkpoints


def job_evidence(job: str, ts: dict[str, TaskAnswers], graph: JobGraph | None,
                 tms: dict[str, dict[str, float]], at: float, window_s: float,
                 uptime: float | None, legacy: bool = False) -> JobEvidence:
    """A job's evidence from what the fleet's queries answered of its tasks (`ts`, by task
    id) and of the TaskManagers (`tms`, stats by tm_id)."""
    heads = {tid for tid, t in ts.items() if not t.stats.get("rin_sum")}
    # A job whose every task counts records in: none can be told to be its first.
    if not heads:
        heads = set(ts)
    evidence = {tid: _task(tid, t, graph, tid in heads if graph is None
                           else not graph.inputs(tid)) for tid, t in ts.items()}
    if graph is not None:
        order = [v.id for v in graph.topological() if v.id in evidence]
    else:
        order = sorted(evidence, key=lambda tid: (evidence[tid].takes_input,
                                                  -(evidence[tid].state.backpressured or 0.0),
                                                  evidence[tid].name))
    used = {tm for t in ts.values() for tm in t.busy_on_tm}
    name = graph.name if graph is not None else next(iter(ts.values())).job_name
    ev = JobEvidence(job_id=job, job_name=name, job_state="RUNNING", t=at, window_s=window_s,
                     uptime_s=uptime, tasks={tid: evidence[tid] for tid in order}, graph=graph,
                     taskmanagers={tm: _tm(tms[tm]) for tm in sorted(used) if tm in tms},
                     quality=Quality())
    if legacy:
        ev.notes.append(Note(NoteKind.GAUGE_RATIOS,
                             {Fact.SUBJECTS: tuple(t.name for t in ev.tasks.values())}))
    if graph is not None:
        ev.notes.append(Note(NoteKind.ALONG_EDGES))
    return ev


def _tm(stats: dict[str, float]) -> TaskManagerFacts:
    cores = stats.get("cores")
    return TaskManagerFacts(
        cores_used=cores, gc_ms_per_s=stats.get("gc"), cpu_load=stats.get("load"),
        heap_used_bytes=stats.get("heap_used"), heap_max_bytes=stats.get("heap_max"),
        cpu_cores=host_cores(cores, stats.get("load")))


def _task(tid: str, t: TaskAnswers, graph: JobGraph | None, head: bool) -> TaskEvidence:
    """A task's evidence from its answers: the hot subtasks against their peers' medians."""
    s = t.stats
    n = int(s.get("subtasks") or 0)
    # Busy time a task does not measure (NaN, every subtask's) leaves no maximum.
    measured = n if s.get("busy_max") is not None else 0
    takes_input = not head
    hot = [_subtask(i, v, takes_input) for i, v in sorted(t.subtasks.items())
           if "busy" in v and math.isfinite(v["busy"])]
    hottest = max(hot, key=lambda x: (x.busy or 0.0, -x.index), default=None)
    # The peers took no records in the window (most of them: the median): their cost per
    # record is read since the start, as analysis.gather reads it.
    starved = measured > 1 and s.get("peers_load") == 0
    if starved:  # the peers took no records: costs since the start, as analysis.gather
        hot = [_subtask(x.index, t.subtasks[x.index], takes_input, since_start=True)
               for x in hot]
        hottest = max(hot, key=lambda x: (x.busy or 0.0, -x.index), default=None)
    vertex = graph.vertex(tid) if graph is not None else None
    state = TaskState(
        vertex_id=tid, name=vertex.name if vertex else t.name,
        parallelism=vertex.parallelism if vertex else n,
        max_parallelism=vertex.max_parallelism if vertex else 0,
        busy=s.get("busy_max"), backpressured=s.get("bp_max"), idle=s.get("idle_max"),
        level=level_of(s.get("bp_max")), records_in_per_s=s.get("rin_sum"),
        records_out_per_s=s.get("rout_sum"), true_rate_per_subtask=None,
        subtasks=[SubtaskState(x.index, x.taskmanager, x.busy, x.backpressured,
                               None, None, None, None, None, None, None, "counters")
                  for x in hot],
        upstream=graph.upstream(tid) if graph else [],
        downstream=graph.downstream(tid) if graph else [],
        ship_strategies=[e.ship_strategy for e in graph.inputs(tid)] if graph else [])
    load_total = (s.get("rin_sum") if takes_input else s.get("rout_sum")) or 0.0
    busy_avg = s.get("busy_avg")
    if load_total and busy_avg and measured and takes_input:
        state.true_rate_per_subtask = load_total / (busy_avg * measured)
    costs = [c for x in hot if (c := x.cost_s) is not None]
    top_cost = max(costs, default=0.0)
    costly = tuple(x for x in hot if (x.cost_s or 0.0) >= RELATIVE_HOT * top_cost)
    peers = None
    if measured > 1:
        peers = Peers(busy_median=s.get("peers_busy"), load_median=s.get("peers_load"),
                      cost_median=s.get("peers_start") if starved else s.get("peers_cost"),
                      starved=starved)
    return TaskEvidence(
        state=state, takes_input=takes_input, measured=measured,
        hot=int(s.get("busy_hot") or 0), busy_min=s.get("busy_min"), busy_avg=busy_avg,
        backpressured_avg=s.get("bp_avg"), busy_unmeasured=n > 0 and measured == 0,
        hottest=hottest, hot_subtasks=tuple(hot),
        busiest=tuple(sorted(hot, key=lambda x: -(x.busy or 0.0))[:4]),
        costly=costly or ((hottest,) if hottest else ()), peers=peers,
        loads=(Loads(load_total, n, t.top_load[0], t.top_load[1])
               if t.top_load and n >= 2 else None),
        busy_by_tm=dict(t.busy_by_tm), busy_on_tm=dict(t.busy_on_tm))


def _subtask(index: int, v: dict[str, Any], takes_input: bool,
             since_start: bool = False) -> SubtaskFacts:
    load = v.get("hot_rin") if takes_input else v.get("hot_rout")
    busy = float(v["busy"])
    cost = v.get("hot_start") if since_start else (busy / load if load else None)
    return SubtaskFacts(index, str(v.get("tm", "")), busy, v.get("hot_bp"), load, cost)


def _steps(series: Series) -> dict[str, dict[str, dict[str, dict[float, float]]]]:
    """The recent history's task series: job -> task -> stat -> {t: value}."""
    out: dict[str, dict[str, dict[str, dict[float, float]]]] = {}
    for lab, values in series:
        job, task, stat = (lab.get(fleetql.JOB, ""), lab.get(fleetql.TASK, ""),
                           lab.get(fleetql.STAT, ""))
        if not job or not task:
            continue
        out.setdefault(job, {}).setdefault(task, {})[stat] = {
            t: _clamped(stat, v) for t, v in values if math.isfinite(v)}
    return out


def history_of(tasks: dict[str, dict[str, dict[float, float]]],
               ev: JobEvidence) -> TemporalView | None:
    """Where the bottleneck was at each step, located as the window is (with the graph's
    edges, or without them)."""
    times = sorted({t for stats in tasks.values() for t in stats.get("busy_max", {})})
    if len(times) < 2:
        return None
    steps = []
    for before, now in pairwise(times):
        states: dict[str, TaskState] = {}
        for tid, stats in tasks.items():
            if tid not in ev.tasks:
                continue
            busy, bp = stats.get("busy_max", {}).get(now), stats.get("bp_max", {}).get(now)
            hot = SubtaskState(0, "", busy, bp, None, None, None, None, None, None, None,
                               "counters")
            base = ev.tasks[tid].state
            states[tid] = TaskState(
                vertex_id=tid, name=base.name, parallelism=base.parallelism,
                max_parallelism=base.max_parallelism, busy=busy, backpressured=bp, idle=None,
                level=level_of(bp), records_in_per_s=None, records_out_per_s=None,
                true_rate_per_subtask=None, subtasks=[hot], upstream=base.upstream,
                downstream=base.downstream, ship_strategies=base.ship_strategies)
        if len(states) == len(ev.tasks):  # a step that misses a task says nothing of it
            steps.append((before, now, states))
    return view_of(steps, ev.graph) if steps else None


def _gc_steps(series: Series, window_s: float, at: float) -> dict[str, tuple[float, ...]]:
    """Each TaskManager's GC ms per second at the steps within the window."""
    return {lab.get(fleetql.TM, ""): tuple(v for t, v in values
                                           if t > at - window_s and math.isfinite(v))
            for lab, values in series if lab.get(fleetql.STAT) == "gc"}


def job_states(reading: FleetReading) -> dict[str, list[tuple[float, float]]]:
    """Each job's state history: (epoch s, state code) points."""
    return {lab.get(fleetql.JOB, ""): values for lab, values in reading.states}
