"""What the cluster has for a change of parallelism, over a window: slots, the cores of the
job's TaskManagers' hosts and the CPU time they use, the sources' splits, checkpoints failed
and completed, restarts. Pure (free and total slots come from the caller, who reads them)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from flowscope.analysis.numbers import finite_sum
from flowscope.analysis.window import distinct_snapshots, taskmanager_rates, window_samples
from flowscope.model import Quantity, Sample


@dataclass(frozen=True)
class HostCpu:
    """One host of the job's TaskManagers over the window."""

    host: str
    cores: float | None  # the host's cores, from Flink's /taskmanagers
    cores_used: float | None  # JVM CPU time per second of the job's TaskManagers on it


@dataclass(frozen=True)
class ClusterFacts:
    """What the plan needs beyond the diagnosis (None: not known)."""

    free_slots: int | None = None
    total_slots: int | None = None
    hosts: tuple[HostCpu, ...] = ()
    splits: dict[str, int] = field(default_factory=dict)  # source vertex id -> splits
    failed_checkpoints: int = 0  # in the window
    completed_checkpoints: int = 0  # in the window
    attempt: int = 0  # the latest attempt number of any subtask
    restarted_in_window: bool = False
    all_running: bool = True  # every subtask RUNNING at the newest sample



def facts_of(samples: list[Sample], window_s: float, free_slots: int | None = None,
             total_slots: int | None = None) -> ClusterFacts:
    """The cluster facts of the newest `window_s` seconds of `samples`: hosts' cores and the
    JVM CPU time of the job's TaskManagers on them, sources' splits, checkpoints failed and
    completed in the window, restarts. Free and total slots come from the caller."""
    if not samples:
        return ClusterFacts(free_slots=free_slots, total_slots=total_slots)
    recent = distinct_snapshots(window_samples(samples, window_s))
    latest = recent[-1]
    tms = taskmanager_rates(recent)
    by_host: dict[str, list[tuple[float | None, float | None]]] = {}
    for tm_id, facts in tms.items():
        sample = latest.taskmanagers.get(tm_id)
        host = host_of(sample.host if sample and sample.host else tm_id)
        by_host.setdefault(host, []).append((facts.cpu_cores, facts.cores_used))
    hosts = tuple(
        HostCpu(host, max((c for c, _ in vals if c is not None), default=None),
                finite_sum(u for _, u in vals))
        for host, vals in sorted(by_host.items()))
    splits: dict[str, int] = {}
    for vid, subs in latest.subtasks.items():
        counts = [s.get(Quantity.SPLITS) for s in subs]
        known = [int(c) for c in counts if c is not None and math.isfinite(c)]
        if known:
            splits[vid] = sum(known)
    first = recent[0]
    attempts = [s.attempt for subs in latest.subtasks.values() for s in subs]
    before = {(vid, s.index): s.attempt for vid, subs in first.subtasks.items() for s in subs}
    restarted = any(before.get((vid, s.index), s.attempt) < s.attempt
                    for vid, subs in latest.subtasks.items() for s in subs)
    return ClusterFacts(
        free_slots=free_slots, total_slots=total_slots, hosts=hosts, splits=splits,
        failed_checkpoints=max(0, latest.checkpoints.failed - first.checkpoints.failed),
        completed_checkpoints=max(0, latest.checkpoints.completed - first.checkpoints.completed),
        attempt=max(attempts, default=0), restarted_in_window=restarted,
        all_running=all(s.status == "RUNNING" for subs in latest.subtasks.values()
                        for s in subs),
    )


def host_of(endpoint: str) -> str:
    """The host of a `host:port` endpoint (a TaskManager's, as Flink reports it)."""
    if endpoint.startswith("["):  # [ipv6]:port
        return endpoint[1:].split("]", 1)[0]
    head, sep, port = endpoint.rpartition(":")
    return head if sep and head and (port.isdigit() or "-" in port) else endpoint
