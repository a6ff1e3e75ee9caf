"""On-CPU or off-CPU: the one rule for what a busy task's threads are doing. Pure.

A task is busy while it processes records, whether it computes or waits inside user code
(a sleep, a lock, a remote call). `diagnose` (compute-bound vs off-CPU) and `profile` (the
flame graph's verdict) both decide with `work_of`, over the same counts:

- work samples: stack samples of the task's threads that were neither waiting in the task
  mailbox (idle or soft backpressure) nor blocked requesting an output buffer (hard
  backpressure); on-CPU ones were RUNNABLE outside native I/O, off-CPU ones waited;
- next to no work samples (< WAITING_SHARE of all): the task was waiting, not working;
- otherwise off-CPU when at least half of the work samples waited, else on-CPU.

Stack samples come from Flink's flame graphs (`rest.flamegraph.enabled`: Flink samples the
vertex's own task threads, so they belong to this job only) or, where those cannot be read,
from thread dumps of the TaskManagers (a thread whose name occurs twice in one dump, two jobs
with equal vertex names, is dropped rather than guessed).

Without stack samples the TaskManagers' JVM CPU time is the fallback (`jvm_cpu_is_off_cpu`),
and it tells one thing only: a JVM that uses far less CPU than its busy subtasks would need is
waiting. It cannot say the reverse: a TaskManager of a session cluster runs other jobs' subtasks,
whose CPU it counts too, and on a shared host a thread starved of a core looks like one that
waits. Measured on the lab's recorded runs (JVM CPU time over the busy subtasks' busy time):
off-CPU jobs 0.10-0.29, compute-bound ones 0.42-0.53 beside other jobs, and off-CPU jobs read as
high as 0.79 with other jobs busy on the same TaskManagers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flowscope.analysis.findings import (
    FLAME_GRAPH,
    THREAD_DUMPS,
    CpuSplit,
    StackUnavailable,
    Work,
)
from flowscope.analysis.flame import FlameSummary, is_user, summarise
from flowscope.analysis.threads import thread_kind, thread_on_cpu, vertex_threads
from flowscope.model import FlameGraph, JobGraph, Sample

WAITING_SHARE = 0.05  # work samples below this share of all: the task was waiting
# Work samples on CPU within this band read as "mixed" (said, not a class of its own).
MIXED_BAND = (0.3, 0.7)
MIN_FLAME_SAMPLES = 10
MIN_THREAD_SAMPLES = 6
# TaskManager JVM CPU below this share of its busy subtasks' busy time: the time is off-CPU.
# Other jobs' subtasks and the JVM's own threads only add CPU, so below it the busy threads
# cannot be computing; above it nothing is told (see the module docstring's figures).
OFF_CPU_SHARE = 0.35


def work_of(split: CpuSplit) -> Work:
    """The rule: waiting, off-CPU or on-CPU (see the module docstring)."""
    total = split.samples + split.waiting
    if not total or split.samples < WAITING_SHARE * total:
        return Work.WAITING
    return Work.OFF_CPU if split.off_cpu >= split.on_cpu else Work.ON_CPU


def is_mixed(split: CpuSplit) -> bool:
    """Neither clearly on- nor off-CPU: a share of on-CPU work samples inside MIXED_BAND."""
    share = 1.0 - split.off_share
    return bool(split.samples) and MIXED_BAND[0] < share < MIXED_BAND[1]


def jvm_cpu_is_off_cpu(cores_used: float, busy_cores: float) -> bool:
    """The fallback without stack samples: does the JVM use too little CPU for the busy time
    of its subtasks (`busy_cores`: the sum of their busy ratios) to be on-CPU work?"""
    return cores_used < OFF_CPU_SHARE * busy_cores


def split_summaries(on: FlameSummary, off: FlameSummary) -> CpuSplit:
    """The work samples of a vertex's on_cpu and off_cpu flame graph views."""
    on_work = max(on.samples - on.mailbox_samples - on.buffer_wait_samples, 0)
    off_work = max(off.samples - off.mailbox_samples - off.buffer_wait_samples, 0)
    main = on if on_work >= off_work else off
    # Where the time is spent: the method that names the busiest operator's work (its own
    # class's, not a helper's), else the user frame that is most often the innermost one.
    inner = max(main.hot_frames, key=lambda h: h.self_samples, default=None)
    op = next((o for o in main.operators if o.top_method), None)
    top = op.top_method if op else (inner.method if inner else None)
    operator = op.operator if op else (inner.operator if inner else None)
    waiting = (on.mailbox_samples + on.buffer_wait_samples + off.mailbox_samples
               + off.buffer_wait_samples)
    python = on.python or off.python
    return CpuSplit(on_work, off_work, FLAME_GRAPH, top, waiting,
                    python.mode if python else None, operator)


@dataclass
class WorkSplit:
    """A profile's view of on-CPU versus blocking work of a vertex: the rule's class with
    the counts behind it, and the user-code samples of each view."""

    on_cpu_user: int  # samples with user code on the stack, thread RUNNABLE
    off_cpu_user: int  # ... thread WAITING / TIMED_WAITING / BLOCKED
    on_cpu_samples: int
    off_cpu_samples: int
    mailbox_samples: int  # waiting in the mailbox: idle or soft backpressure
    kind: Work
    split: CpuSplit

    @property
    def on_cpu_share(self) -> float | None:
        """Share of user samples that were on CPU, 0..1 (None without user samples)."""
        total = self.on_cpu_user + self.off_cpu_user
        return self.on_cpu_user / total if total else None


def split_work(on: FlameSummary, off: FlameSummary) -> WorkSplit:
    """Tell on-CPU work (computation) from blocking work (I/O, sleeps, locks)."""
    split = split_summaries(on, off)
    return WorkSplit(on.user_samples, off.user_samples, on.samples, off.samples,
                     on.mailbox_samples + off.mailbox_samples, work_of(split), split)


def _ready(views: Mapping[str, FlameGraph]
           ) -> tuple[FlameGraph, FlameGraph] | StackUnavailable | None:
    """A vertex's finished on_cpu and off_cpu views; StackUnavailable says why there are none
    (disabled, an error); None while Flink is still sampling."""
    failed = next((v for v in views.values() if v.status == "error"), None)
    if failed is not None:
        return StackUnavailable(FLAME_GRAPH, failed.error)
    on, off = views.get("on_cpu"), views.get("off_cpu")
    if on is None or off is None:
        return None
    if "disabled" in (on.status, off.status):
        return StackUnavailable(FLAME_GRAPH, "disabled")
    if on.status != "ready" or off.status != "ready":
        return None
    return on, off


def _split(on: FlameGraph, off: FlameGraph, vertex_id: str, vertex_name: str) -> CpuSplit | None:
    split = split_summaries(summarise(on, vertex_name, vertex_id),
                            summarise(off, vertex_name, vertex_id))
    return split if split.samples >= MIN_FLAME_SAMPLES else None


def from_views(views: dict[str, FlameGraph], vertex_id: str,
               vertex_name: str) -> CpuSplit | StackUnavailable | None:
    """A vertex's flame graph views (read now) as a split, or why there is none."""
    ready = _ready(views)
    return ready if not isinstance(ready, tuple) else _split(*ready, vertex_id, vertex_name)


def ready_views(views: Mapping[str, FlameGraph]) -> tuple[FlameGraph, FlameGraph] | None:
    """A vertex's on_cpu and off_cpu views when both are finished."""
    ready = _ready(views)
    return ready if isinstance(ready, tuple) else None


def newest_ready_views(samples: Sequence[Sample],
                       vertex_id: str) -> tuple[FlameGraph, FlameGraph] | None:
    """The newest finished on_cpu and off_cpu views of a vertex among the samples."""
    for s in reversed(samples):
        views = s.flamegraphs.get(vertex_id)
        ready = ready_views(views) if views else None
        if ready is not None:
            return ready
    return None


def from_flamegraphs(samples: Sequence[Sample], vertex_id: str,
                     vertex_name: str) -> CpuSplit | StackUnavailable | None:
    """The newest ready flame-graph pair of a vertex as a split; StackUnavailable says why
    there is none (disabled, an error); None when none was taken."""
    for s in reversed(samples):
        views = s.flamegraphs.get(vertex_id)
        if not views:
            continue
        ready = _ready(views)
        if isinstance(ready, StackUnavailable):
            return ready
        if ready is not None:
            return _split(*ready, vertex_id, vertex_name)
        # Flink is still sampling: an older poll may hold a finished sample
    return None


def from_thread_dumps(samples: Sequence[Sample], graph: JobGraph,
                      vertex_id: str) -> CpuSplit | None:
    """Busy samples of a vertex's task threads from the TaskManagers' thread dumps."""
    on = off = waiting = 0
    frames: Counter[str] = Counter()
    for t in vertex_threads(samples, graph, vertex_id):
        if thread_kind(t) != "busy":
            waiting += 1
            continue
        if thread_on_cpu(t):
            on += 1
        else:
            off += 1
        user = next((f for f in t.frames if is_user(f)), None)
        if user:
            frames[user] += 1
    if on + off < MIN_THREAD_SAMPLES:
        return None
    return CpuSplit(on, off, THREAD_DUMPS, frames.most_common(1)[0][0] if frames else None,
                    waiting)
