"""The PromQL of a fleet scan: each query aggregates every job server-side, so the number of
queries does not grow with the number of jobs, and drops every label it does not need.

Per subtask, over the `window` before the evaluation time:
  busy / backpressured / idle ratio (0..1) = delta(accumulate*TimeMs[w]) / w / 1000, or for
      the jobs without such counters (`fallback`), avg_over_time(*TimeMsPerSecond[w]) / 1000.
      Not rate(): Flink computes these "counters" from the current busy / idle / backpressure
      periods, and they step back by tens to hundreds of ms every few scrapes (measured on the
      lab's skew job: 10 decreases in 2 minutes). rate() takes each step back for a counter
      reset and adds the whole value: one subtask read 507% busy;
  records in / out per second = rate(numRecordsIn|Out[w]), or for those jobs the mean of the
      numRecords*PerSecond gauges;
  load = records in where there are any, else records out (a source takes none in).
A query returns one series per task and statistic, told apart by a `stat` label. `matcher`
restricts every selector (a job_id prefix when a query is split), "" for every job.
`fallback` restricts the gauge side: None when every job has the counters (Prometheus
evaluates both sides of an `or`, so a gauge side nobody needs doubles the work), "" for every
job, else a job_id matcher (see `missing_counters_query`).
"""

from __future__ import annotations

from flowscope.flink import metric_names as names
from flowscope.model import Quantity, TmQuantity

JOB, TASK, SUBTASK = names.PROM_LABEL_JOB_ID, names.PROM_LABEL_TASK_ID, names.PROM_LABEL_SUBTASK
TM = names.PROM_LABEL_TM
BY_TASK = f"{JOB}, {TASK}"
BY_SUBTASK = f"{JOB}, {TASK}, {SUBTASK}"
STAT = "stat"  # the label that names a statistic in an answer
# A task's hot subtasks each answer apart, the busiest this many.
MAX_HOT = 8


def _task_name(q: Quantity) -> str:
    return names.PROM_TASK + names.prom_task_metrics()[q][0]


def _tm_name(q: TmQuantity) -> str:
    return names.PROM_TASKMANAGER + names.prom_tm_metrics()[q][0]


# (counter, gauge) of each ratio, and of each record rate.
TIMES = {
    "busy": (_task_name(Quantity.BUSY_MS), _task_name(Quantity.BUSY_MS_PER_S)),
    "bp": (_task_name(Quantity.BACKPRESSURED_MS), _task_name(Quantity.BACKPRESSURED_MS_PER_S)),
    "idle": (_task_name(Quantity.IDLE_MS), _task_name(Quantity.IDLE_MS_PER_S)),
}
RECORDS = {
    "rin": (_task_name(Quantity.RECORDS_IN), _task_name(Quantity.RECORDS_IN_PER_S)),
    "rout": (_task_name(Quantity.RECORDS_OUT), _task_name(Quantity.RECORDS_OUT_PER_S)),
}
UPTIME = names.PROM_JOB + names.PROM_JOB_UPTIME
RESTARTS = names.PROM_JOB + names.PROM_JOB_RESTARTS
CHECKPOINTS = {stat: names.PROM_JOB + names.PROM_JOB_CHECKPOINTS[stat]
               for stat in ("completed", "failed")}


def _w(window_s: float) -> str:
    return f"{max(1, round(window_s))}s"


def _and(*matchers: str | None) -> str:
    return ",".join(m for m in matchers if m)


def ratio(kind: str, matcher: str, window_s: float, fallback: str | None) -> str:
    """A time ratio (0..1) per subtask attempt, with every label of its series."""
    counter, gauge = TIMES[kind]
    secs = max(1, round(window_s))
    return _or_gauge(f"delta({counter}{{{matcher}}}[{_w(window_s)}]) / {secs} / 1000", gauge,
                     matcher, window_s, fallback, " / 1000")


def rate(kind: str, matcher: str, window_s: float, fallback: str | None) -> str:
    """Records per second per subtask attempt."""
    counter, gauge = RECORDS[kind]
    return _or_gauge(f"rate({counter}{{{matcher}}}[{_w(window_s)}])", gauge, matcher,
                     window_s, fallback, "")


def _or_gauge(expr: str, gauge: str, matcher: str, window_s: float, fallback: str | None,
              scale: str) -> str:
    """`expr` from the counters, or for the `fallback` jobs the gauge's mean over the window
    (`scale` turns its unit into the expression's)."""
    if fallback is None:
        return expr
    return (f"({expr} or avg_over_time({gauge}{{{_and(matcher, fallback)}}}"
            f"[{_w(window_s)}]){scale})")


def missing_counters_query(matcher: str) -> str:
    """Per job, how many subtasks have the busy-time gauge but not its accumulated counter
    (stat `no_time_counters`), or the records-in rate gauge but not its counter
    (`no_record_counters`), now (instant selectors: the server's 5 min look-back)."""
    def missing(counter: str, gauge: str) -> str:
        return (f"count by ({JOB}) (max by ({BY_SUBTASK}) ({gauge}{{{matcher}}}) "
                f"unless on ({BY_SUBTASK}) {counter}{{{matcher}}})")
    return _stats({"no_time_counters": missing(*TIMES["busy"]),
                   "no_record_counters": missing(*RECORDS["rin"])})


def per_subtask(expr: str) -> str:
    return f"max by ({BY_SUBTASK}) ({expr})"


def _stats(parts: dict[str, str]) -> str:
    """Several vectors in one answer, each tagged with `stat`."""
    return " or ".join(f'label_replace({e}, "{STAT}", "{name}", "", "")'
                       for name, e in parts.items())


def _hottest(busy: str) -> str:
    """The busiest subtask of each task. topk breaks ties by the order of its input, which
    the server keeps sorted by labels: every evaluation in a scan picks the same subtask."""
    return f"topk by ({BY_TASK}) (1, {busy})"


def hot_mask(busy: str, relative_hot: float, busy_hot: float) -> str:
    """The subtasks of `busy` (per subtask) that are hot: busy >= max(busy_hot, relative_hot x
    their task's busiest), analysis.evidence's definition."""
    return (f"(({busy} >= on ({BY_TASK}) group_left () ({relative_hot:g} * max by ({BY_TASK}) "
            f"({busy}))) >= {busy_hot:g})")


def times_query(matcher: str, window_s: float, fallback: str | None, relative_hot: float,
                busy_hot: float) -> str:
    """Per task: busy max/avg/min, how many subtasks are hot (`hot_mask`), backpressured
    max/avg, idle max/avg."""
    busy = per_subtask(ratio("busy", matcher, window_s, fallback))
    bp = per_subtask(ratio("bp", matcher, window_s, fallback))
    idle = per_subtask(ratio("idle", matcher, window_s, fallback))
    hot = hot_mask(busy, relative_hot, busy_hot)
    return _stats({
        "busy_max": f"max by ({BY_TASK}) ({busy})",
        "busy_avg": f"avg by ({BY_TASK}) ({busy})",
        "busy_min": f"min by ({BY_TASK}) ({busy})",
        "busy_hot": f"count by ({BY_TASK}) ({hot})",
        "bp_max": f"max by ({BY_TASK}) ({bp})",
        "bp_avg": f"avg by ({BY_TASK}) ({bp})",
        "idle_max": f"max by ({BY_TASK}) ({idle})",
        "idle_avg": f"avg by ({BY_TASK}) ({idle})",
    })


def records_query(matcher: str, window_s: float, fallback: str | None) -> str:
    """Per task: records in / out per second summed over subtasks (the hottest subtask's come
    with it: hot_query), and its
    subtasks with the job's and the task's names (from the busy gauge now); per job: its
    uptime in ms (the JobManager's gauge, 0 while not running), its restarts and its completed
    and failed checkpoints within the window (the JobManager's counters' growth)."""
    rin = per_subtask(rate("rin", matcher, window_s, fallback))
    rout = per_subtask(rate("rout", matcher, window_s, fallback))
    named = f"{BY_SUBTASK}, {names.PROM_LABEL_JOB_NAME}, task_name"
    return _stats({
        "rin_sum": f"sum by ({BY_TASK}) ({rin})",
        "rout_sum": f"sum by ({BY_TASK}) ({rout})",
        "subtasks": (f"count by ({BY_TASK}, {names.PROM_LABEL_JOB_NAME}, task_name) "
                     f"(max by ({named}) ({TIMES['busy'][1]}{{{matcher}}}))"),
        "uptime_ms": f"max by ({JOB}) ({UPTIME}{{{matcher}}})",
        "restarts": f"max by ({JOB}) (increase({RESTARTS}{{{matcher}}}[{_w(window_s)}]))",
        "cp_completed": (f"max by ({JOB}) (increase({CHECKPOINTS['completed']}{{{matcher}}}"
                         f"[{_w(window_s)}]))"),
        "cp_failed": (f"max by ({JOB}) (increase({CHECKPOINTS['failed']}{{{matcher}}}"
                      f"[{_w(window_s)}]))"),
    })


def _load(matcher: str, window_s: float, fallback: str | None) -> str:
    """Records per second per subtask: in where it takes any, else out (a source)."""
    rin = per_subtask(rate("rin", matcher, window_s, fallback))
    rout = per_subtask(rate("rout", matcher, window_s, fallback))
    return f"(({rin} > 0) or {rout})"


def _since_start(matcher: str) -> str:
    """Busy seconds per record since the attempt started, per subtask: the accumulated busy
    time over the records taken in (out, for a subtask that takes none in), now."""
    spent = f"max by ({BY_SUBTASK}) ({TIMES['busy'][0]}{{{matcher}}})"
    rin = f"max by ({BY_SUBTASK}) ({RECORDS['rin'][0]}{{{matcher}}})"
    rout = f"max by ({BY_SUBTASK}) ({RECORDS['rout'][0]}{{{matcher}}})"
    return f"({spent} / 1000 / (({rin} > 0) or ({rout} > 0)))"


def hot_query(matcher: str, window_s: float, fallback: str | None, relative_hot: float,
              busy_hot: float) -> str:
    """Per task its hot subtasks (`hot_mask`, the MAX_HOT busiest): busy with the TaskManager
    (`tm_id`), backpressured, records in and out, and busy seconds per record since the start,
    each with `subtask_index`; and the subtask that takes the most records (`load_top`)."""
    busy = per_subtask(ratio("busy", matcher, window_s, fallback))
    on = (f"and on ({BY_SUBTASK}) topk by ({BY_TASK}) ({MAX_HOT}, "
          f"{hot_mask(busy, relative_hot, busy_hot)})")
    with_tm = (f"max by ({BY_SUBTASK}, {TM}) "
               f"({ratio('busy', matcher, window_s, fallback)})")
    return _stats({
        "hot_busy": f"{with_tm} {on}",
        "hot_bp": f"{per_subtask(ratio('bp', matcher, window_s, fallback))} {on}",
        "hot_rin": f"{per_subtask(rate('rin', matcher, window_s, fallback))} {on}",
        "hot_rout": f"{per_subtask(rate('rout', matcher, window_s, fallback))} {on}",
        "hot_start": f"{_since_start(matcher)} {on}",
        "load_top": f"topk by ({BY_TASK}) (1, {_load(matcher, window_s, fallback)})",
    })


def peers_query(matcher: str, window_s: float, fallback: str | None) -> str:
    """Per task the medians over the subtasks other than the hottest: busy ratio, load
    (records/s), cost (busy seconds per record, subtasks with records only) and cost since the
    start (for the peers that took no records: a load median of 0)."""
    busy = per_subtask(ratio("busy", matcher, window_s, fallback))
    load = _load(matcher, window_s, fallback)
    peers = f"unless on ({BY_SUBTASK}) {_hottest(busy)}"
    return _stats({
        "peers_busy": f"quantile by ({BY_TASK}) (0.5, {busy} {peers})",
        "peers_load": f"quantile by ({BY_TASK}) (0.5, {load} {peers})",
        "peers_cost": f"quantile by ({BY_TASK}) (0.5, ({busy} / ({load} > 0)) {peers})",
        "peers_start": f"quantile by ({BY_TASK}) (0.5, {_since_start(matcher)} {peers})",
    })


def taskmanagers_query(matcher: str, window_s: float, fallback: str | None,
                       relative_hot: float, busy_hot: float) -> str:
    """Per TaskManager (`tm_id`): cores used (JVM CPU time per second), GC ms per second, its
    share of the machine (`Status.JVM.CPU.Load`, mean), heap used (mean) and max; per task and
    TaskManager: its hot subtasks' busy ratios summed (`tm_hot`) and its busiest subtask's
    (`tm_busy`). The TaskManagers' series carry no job: every TaskManager answers whatever
    `matcher` the tasks get."""
    w = _w(window_s)
    busy_tm = f"max by ({BY_SUBTASK}, {TM}) ({ratio('busy', matcher, window_s, fallback)})"
    busy = per_subtask(ratio("busy", matcher, window_s, fallback))
    hot = hot_mask(busy, relative_hot, busy_hot)
    return _stats({
        "cores": f"max by ({TM}) (rate({_tm_name(TmQuantity.CPU_TIME_NS)}[{w}])) / 1e9",
        "gc": f"max by ({TM}) (rate({_tm_name(TmQuantity.GC_TIME_MS)}[{w}]))",
        "load": f"max by ({TM}) (avg_over_time({_tm_name(TmQuantity.CPU_LOAD)}[{w}]))",
        "heap_used": f"max by ({TM}) (avg_over_time({_tm_name(TmQuantity.HEAP_USED)}[{w}]))",
        "heap_max": f"max by ({TM}) ({_tm_name(TmQuantity.HEAP_MAX)})",
        "tm_hot": f"sum by ({BY_TASK}, {TM}) ({busy_tm} and on ({BY_SUBTASK}) {hot})",
        "tm_busy": f"max by ({BY_TASK}, {TM}) ({busy_tm})",
    })


def steps_query(matcher: str, over_s: float, fallback: str | None) -> str:
    """For a range query, each step's view of each task over the `over_s` seconds before it:
    busy and backpressured (max over subtasks), and each TaskManager's GC ms per second
    (`gc`). Where the bottleneck was at each step is told from these (a task backpressured at
    least as much as it is busy is held back), as a dashboard's history is read."""
    busy = per_subtask(ratio("busy", matcher, over_s, fallback))
    bp = per_subtask(ratio("bp", matcher, over_s, fallback))
    return _stats({
        "busy_max": f"max by ({BY_TASK}) ({busy})",
        "bp_max": f"max by ({BY_TASK}) ({bp})",
        "gc": f"max by ({TM}) (rate({_tm_name(TmQuantity.GC_TIME_MS)}[{_w(over_s)}]))",
    })


def state_query(matcher: str, window_s: float, fallback: str | None, low: float,
                head_busy: float) -> str:
    """Per job, a state code: 2 when some task is backpressured more than `low`, else 1 when
    its busiest first task (one that takes no records in; any task when none does) is busy at
    least `head_busy`, else 0 (analysis.fleet.STATE_CODES). The same ratios over the same
    window as the verdict, so the last step agrees with it. Written as the larger of
    2 x (backpressured) and (busy at the head), each evaluated once."""
    bp = f"max by ({JOB}) ({ratio('bp', matcher, window_s, fallback)})"
    busy = f"max by ({BY_TASK}) ({ratio('busy', matcher, window_s, fallback)})"
    sources = f"(max by ({BY_TASK}) ({rate('rin', matcher, window_s, fallback)}) == 0)"
    head = (f"(max by ({JOB}) ({busy} and on ({BY_TASK}) {sources}) "
            f"or max by ({JOB}) ({busy}))")
    parts = {"bp": f"2 * ({bp} > bool {low:g})", "head": f"({head} >= bool {head_busy:g})"}
    return f"max by ({JOB}) ({_stats(parts)})"
