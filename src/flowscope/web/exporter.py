"""Prometheus exposition of the current diagnoses (`/metrics`).

A custom collector on its own registry reads each job's newest diagnosis at scrape time.
Series are per vertex, never per subtask (subtask labels multiply series by the parallelism);
labels are job_id, job_name and vertex, escaped by prometheus_client itself. Beside them, like
Prometheus's own `up`, flowscope_source_* series say whether each source (a cluster URL or a
recording, label `source`) could be read, so that an alert can tell "no bottleneck" from
"flowscope is blind".
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from flowscope.analysis.findings import Level, Verdict
from flowscope.web.hub import Hub

LABELS = ["job_id", "job_name", "vertex"]
LEVEL_VALUE = {Level.OK: 0.0, Level.LOW: 1.0, Level.HIGH: 2.0}


class DiagnosisCollector(Collector):
    """Yields flowscope_* gauges for every job feed of a hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def describe(self) -> list[Metric]:
        # Nothing to declare up front: the series depend on the jobs being watched.
        return []

    def collect(self) -> Iterator[Metric]:
        def gauge(name: str, doc: str, labels: list[str] = LABELS) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=labels)

        busy = gauge("flowscope_task_busy_ratio",
                     "Share of time busy (0..1), the max over the task's subtasks.")
        bp = gauge("flowscope_task_backpressured_ratio",
                   "Share of time backpressured (0..1), the max over the task's subtasks.")
        idle = gauge("flowscope_task_idle_ratio",
                     "Share of time idle (0..1), the max over the task's subtasks.")
        level = gauge("flowscope_task_backpressure_level",
                      "Flink's backpressure level: 0 OK (<= 0.10), 1 LOW (<= 0.5), 2 HIGH.")
        rin = gauge("flowscope_task_records_in_per_second",
                    "Records received per second, summed over the task's subtasks.")
        rout = gauge("flowscope_task_records_out_per_second",
                     "Records emitted per second, summed over the task's subtasks.")
        neck = gauge("flowscope_task_bottleneck",
                     "1 when the task is a source of backpressure (cause in the label), else 0.",
                     [*LABELS, "cause"])
        verdict = gauge("flowscope_job_verdict",
                        "1 for the job's current verdict, 0 for the others.",
                        ["job_id", "job_name", "verdict"])
        window = gauge("flowscope_job_window_seconds",
                       "Seconds of counters the current diagnosis covers.",
                       ["job_id", "job_name"])
        last = gauge("flowscope_job_last_sample_timestamp_seconds",
                     "When the newest sample of the job was taken (epoch seconds).",
                     ["job_id", "job_name"])
        for feed in self.hub.feeds():
            d = feed.latest
            if d is None:
                continue
            job = [d.job_id, d.job_name]
            causes = {f.vertex_id: str(f.cause) for f in d.bottlenecks}
            for t in d.tasks:
                labels = [*job, t.name]
                for family, value in ((busy, t.busy), (bp, t.backpressured), (idle, t.idle),
                                      (rin, t.records_in_per_s), (rout, t.records_out_per_s)):
                    if value is not None and math.isfinite(value):
                        family.add_metric(labels, value)
                if t.level in LEVEL_VALUE:
                    level.add_metric(labels, LEVEL_VALUE[t.level])
                cause = causes.get(t.vertex_id)
                neck.add_metric([*labels, cause or ""], 1.0 if cause else 0.0)
            for v in Verdict:
                verdict.add_metric([*job, str(v)], 1.0 if d.verdict == v else 0.0)
            window.add_metric(job, d.window_s)
            last.add_metric(job, d.t)
        yield from (busy, bp, idle, level, rin, rout, neck, verdict, window, last)
        yield from self._source_health()

    def _source_health(self) -> Iterator[Metric]:
        labels = ["source", "kind"]
        up = GaugeMetricFamily("flowscope_source_up",
                               "1 when the last read of the source (a poll round of a cluster, "
                               "or loading a recording) succeeded, else 0.", labels=labels)
        errors = CounterMetricFamily("flowscope_source_poll_errors",
                                     "Failed reads of the source (a job discovery or one job's "
                                     "poll) since flowscope started.", labels=labels)
        success = GaugeMetricFamily("flowscope_source_last_success_timestamp_seconds",
                                    "When the source was last read without an error "
                                    "(epoch seconds).", labels=labels)
        for info in list(self.hub.sources):
            ok, failed, last_success = info.health.state()
            labels_of = [_without_credentials(info.label), info.kind]
            up.add_metric(labels_of, 1.0 if ok else 0.0)
            errors.add_metric(labels_of, float(failed))
            if last_success is not None:
                success.add_metric(labels_of, last_success)
        yield from (up, errors, success)


def _without_credentials(label: str) -> str:
    """A cluster URL without any user:password in it: labels end up stored in Prometheus."""
    parts = urlsplit(label)
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return label


def registry_for(hub: Hub) -> CollectorRegistry:
    """A registry of its own holding only flowscope's collector (no process metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DiagnosisCollector(hub))
    return registry


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The text exposition format and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
