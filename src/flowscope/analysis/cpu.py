"""On-CPU or off-CPU: what a busy task's threads are doing, from stack samples. Pure.

A task is busy while it processes records, whether it computes or waits inside user code
(a sleep, a lock, a remote call). The TaskManager's JVM CPU time cannot tell the two apart on
a shared host, so stack samples decide:

1. Flink's flame graphs (`rest.flamegraph.enabled`): Flink samples the vertex's own task
   threads, so the samples belong to this job only. The on-CPU view counts RUNNABLE samples;
   the off-CPU view counts the rest, minus waits in the mailbox (idle or backpressured).
2. Thread dumps of the TaskManagers: task threads are named `<vertex> (<i>/<n>)#<attempt>`,
   which does not name the job; a thread whose name occurs twice in one dump (two jobs with
   equal vertex names) is dropped rather than guessed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from flowscope.model import JobGraph, Sample
from flowscope.profiling.flamegraph import parse_flamegraph, summarise
from flowscope.profiling.threaddump import ThreadSample, parse_thread_dump

# Frames of native I/O: the JVM reports such a thread RUNNABLE although it waits off-CPU.
NATIVE_IO = ("socketRead", "SocketDispatcher.read", "EPoll.wait", "EPollPort", "poll0",
             "FileDispatcherImpl.read", "readBytes")
BUFFER_WAIT = ("requestMemorySegmentBlocking", "requestBufferBuilderBlocking")
MIN_FLAME_SAMPLES = 10
MIN_THREAD_SAMPLES = 6


@dataclass(frozen=True)
class CpuSplit:
    """Busy-time stack samples of one task: how many ran on a CPU and how many waited."""

    on_cpu: int
    off_cpu: int
    source: str  # "flame graph" | "thread dumps"
    top_frame: str | None  # the user method seen most often

    @property
    def samples(self) -> int:
        return self.on_cpu + self.off_cpu

    @property
    def off_share(self) -> float:
        return self.off_cpu / self.samples if self.samples else 0.0


def from_flamegraphs(samples: Sequence[Sample], vertex_id: str,
                     vertex_name: str) -> CpuSplit | str | None:
    """The newest ready flame-graph pair of a vertex as a split; a string says why there is
    none ("disabled", an error); None when none was taken."""
    for s in reversed(samples):
        views = s.flamegraphs.get(vertex_id)
        if not views:
            continue
        if any(isinstance(v, dict) and "error" in v for v in views.values()):
            return next(str(v["error"]) for v in views.values()
                        if isinstance(v, dict) and "error" in v)
        on = parse_flamegraph(views.get("on_cpu"), "on_cpu")
        off = parse_flamegraph(views.get("off_cpu"), "off_cpu")
        if "disabled" in (on.status, off.status):
            return "disabled"
        if on.status != "ready" or off.status != "ready":
            continue  # Flink is still sampling: an older poll may hold a finished sample
        on_sum = summarise(on, vertex_name, vertex_id)
        off_sum = summarise(off, vertex_name, vertex_id)
        off_work = off_sum.samples - off_sum.mailbox_samples - _buffer_waits(off)
        hot = (on_sum.hot_frames if on_sum.samples >= off_work else off_sum.hot_frames)
        # Where the time is spent: the user frame that is most often the innermost one.
        inner = max(hot, key=lambda h: h.self_samples, default=None)
        split = CpuSplit(on_sum.samples, max(off_work, 0), "flame graph",
                         inner.method if inner else None)
        return split if split.samples >= MIN_FLAME_SAMPLES else None
    return None


def _buffer_waits(graph: object) -> int:
    stacks = getattr(graph, "stacks", ())
    return sum(n for frames, n in stacks if any(w in f for f in frames for w in BUFFER_WAIT))


def from_thread_dumps(samples: Sequence[Sample], graph: JobGraph,
                      vertex_id: str) -> CpuSplit | None:
    """Busy samples of a vertex's task threads from the TaskManagers' thread dumps."""
    name = graph.vertex(vertex_id).name
    on = off = 0
    frames: Counter[str] = Counter()
    for s in samples:
        if not s.thread_dumps:
            continue
        where = {(st.index, st.attempt): st.taskmanager_id for st in s.subtasks.get(vertex_id, [])}
        for tm, body in s.thread_dumps.items():
            threads = parse_thread_dump(body, tm)
            names = Counter((t.task, t.subtask, t.attempt) for t in threads)
            for t in threads:
                if (t.task != name or names[(t.task, t.subtask, t.attempt)] != 1
                        or where.get((t.subtask, t.attempt)) != tm):
                    continue  # another vertex, an ambiguous name, or not this job's subtask
                if t.kind != "busy":
                    continue
                if _running(t):
                    on += 1
                else:
                    off += 1
                user = next((f for f in t.frames if _is_user(f)), None)
                if user:
                    frames[user] += 1
    if on + off < MIN_THREAD_SAMPLES:
        return None
    return CpuSplit(on, off, "thread dumps", frames.most_common(1)[0][0] if frames else None)


def _running(t: ThreadSample) -> bool:
    native_io = any(n in f for f in t.frames[:3] for n in NATIVE_IO)
    return t.state == "RUNNABLE" and not native_io


def _is_user(frame: str) -> bool:
    from flowscope.profiling.flamegraph import is_user

    return is_user(frame)
