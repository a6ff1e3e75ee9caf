"""Flame graphs of a job vertex, summarised: where the task threads spend their samples.

Flink builds a vertex's flame graph from `rest.flamegraph.num-samples` stack samples (default
100, `rest.flamegraph.delay-between-samples` 50 ms apart) of every subtask's task thread
(parsed by flowscope.flink.stacks). `type=on_cpu` keeps threads that were RUNNABLE (or NEW),
`off_cpu` those WAITING, TIMED_WAITING or BLOCKED; `full` keeps both. The three types are
views of one sample: same `endTimestamp`.

Pure: flame graphs in, dataclasses out (a view that is not ready says so as a typed
statement; render.words.profile words it).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from flowscope.model import FlameGraph

# Frames of the JVM, Flink and common libraries: what remains is the job's own code.
FRAMEWORK_PREFIXES = (
    "java.", "javax.", "jdk.", "sun.", "com.sun.", "org.apache.flink.", "scala.", "kotlin.",
    "akka.", "org.apache.pekko.", "io.netty.", "org.apache.beam.", "pemja.", "py4j.",
    "org.slf4j.", "org.apache.logging.", "org.apache.log4j.", "org.apache.commons.",
    "com.google.", "org.rocksdb.", "com.esotericsoftware.", "org.objenesis.", "org.xerial.",
    "net.razorvine.", "com.fasterxml.", "org.apache.hadoop.", "org.apache.arrow.",
    "org.forstdb.",
)
# The task thread waits here when it has nothing to do: no input (idle) or, since the
# mailbox model (Flink 1.10), no output buffer (soft backpressure). The stack is the same.
MAILBOX_WAIT = "org.apache.flink.streaming.runtime.tasks.mailbox.TaskMailboxImpl.take"
# LocalBufferPool (1.x and 2.x) methods that block the task thread until an output buffer is
# free: hard backpressure, seen directly on the stack.
BLOCKING_BUFFER_METHODS = frozenset({
    "requestMemorySegmentBlocking", "requestBufferBuilderBlocking", "requestBufferBlocking",
})
# Frames of native I/O: the JVM reports such a thread RUNNABLE although it waits off-CPU.
NATIVE_IO = ("socketRead", "SocketDispatcher.read", "EPoll.wait", "EPollPort", "poll0",
             "FileDispatcherImpl.read", "readBytes")
# Async I/O (`AsyncDataStream`): AsyncWaitOperator.addToWorkQueue puts each record into the
# operator's queue of `capacity` requests in flight; while the queue is full it yields to the
# task mailbox (MailboxExecutorImpl.yield -> TaskMailboxImpl.take) until a result frees a slot.
# The stack then ends like an idle task's, but the time is busy time (inside processElement):
# the operator runs at its capacity. Same frames in Flink 1.x and 2.x, ordered and unordered.
ASYNC_QUEUE_WAIT = "org.apache.flink.streaming.api.operators.async.AsyncWaitOperator.addToWorkQueue"
MAILBOX_YIELD = "org.apache.flink.streaming.runtime.tasks.mailbox.MailboxExecutorImpl.yield"
# What AsyncDataStream names the operator when the job gives it no name (the plan, the vertex
# and its metrics show it; a named one shows only its name, so the stacks tell).
# A checkpoint's synchronous phase on the task thread (the operators' snapshotState, a sink's
# pre-commit flush): SubtaskCheckpointCoordinatorImpl.takeSnapshotSync (Flink 1.11+). The task
# takes no records meanwhile.
CHECKPOINT_SYNC = (
    "org.apache.flink.streaming.runtime.tasks.SubtaskCheckpointCoordinatorImpl.takeSnapshotSync")
# Keyed state backends, by the frames of their code: RocksDB (the JNI in org.rocksdb, Flink's
# backend in org.apache.flink.state.rocksdb, before 2.0 org.apache.flink.contrib.streaming.state),
# ForSt (Flink 2.x; JNI in org.forstdb, backend in org.apache.flink.state.forst) and the heap
# backend (HashMapStateBackend: org.apache.flink.runtime.state.heap).
STATE_BACKEND_PREFIXES: dict[str, tuple[str, ...]] = {
    "rocksdb": ("org.rocksdb.", "org.apache.flink.state.rocksdb.",
                "org.apache.flink.contrib.streaming.state."),
    "forst": ("org.forstdb.", "org.apache.flink.state.forst."),
    "heap": ("org.apache.flink.runtime.state.heap.",),
}
# Each of these frames hands a record to the next operator of a chain.
CHAIN_HOPS = frozenset({
    "org.apache.flink.streaming.runtime.tasks.ChainingOutput.pushToOperator",
    "org.apache.flink.streaming.runtime.tasks.CopyingChainingOutput.pushToOperator",
})
# PyFlink: process mode runs the UDF in a Python worker reached through Beam's Fn API (the
# Java thread waits for the bundle); thread mode calls CPython in-process through pemja.
PYTHON_THREAD_PREFIXES = ("pemja.",)
PYTHON_PROCESS_PREFIXES = (
    "org.apache.beam.runners.fnexecution.",
    "org.apache.beam.sdk.fn.",
    "org.apache.flink.streaming.api.runners.python.beam.",
    "org.apache.flink.python.",
    "org.apache.flink.streaming.api.operators.python.process.",
)
PYTHON_OPERATOR_PREFIX = "org.apache.flink.streaming.api.operators.python."

# Words Flink adds to operator names itself ("Source: gen", "out: Writer"): they name no class.
_GENERIC_WORDS = frozenset({"source", "sink", "writer", "committer"})


def method_of(frame: str) -> str:
    """`com.acme.Enricher.lookup:44` -> `com.acme.Enricher.lookup` (lines differ per call)."""
    name, sep, line = frame.rpartition(":")
    return name if sep and line.lstrip("-").isdigit() else frame


def is_buffer_wait(method: str) -> bool:
    """Is this frame (`class.method`) a task thread blocked requesting an output buffer?"""
    cls, _, name = method_of(method).rpartition(".")
    return name in BLOCKING_BUFFER_METHODS and cls.endswith("BufferPool")


def is_native_io(frames: Sequence[str]) -> bool:
    """Does the innermost part of a stack wait in native I/O (RUNNABLE, yet off-CPU)?"""
    return any(n in f for f in frames[:3] for n in NATIVE_IO)


def is_async_queue_wait(methods: Sequence[str]) -> bool:
    """Does this stack (frames in either order, with or without line numbers) wait for a free
    slot in an Async I/O operator's queue?"""
    found = {method_of(m) for m in methods}
    return ASYNC_QUEUE_WAIT in found and MAILBOX_YIELD in found


def is_checkpoint_sync(methods: Sequence[str]) -> bool:
    """Is this stack in a checkpoint's synchronous phase?"""
    return any(method_of(m) == CHECKPOINT_SYNC for m in methods)


def state_backend_of(methods: Sequence[str]) -> str | None:
    """"rocksdb", "forst" or "heap" when this stack is inside a keyed state backend's code,
    else None (the first backend of STATE_BACKEND_PREFIXES that matches)."""
    for backend, prefixes in STATE_BACKEND_PREFIXES.items():
        if any(m.startswith(prefixes) for m in methods):
            return backend
    return None


@dataclass
class FrameCounts:
    """A vertex's thread samples by what their stacks show, from a flame graph view or from
    thread dumps. Counts of samples; a sample may count in more than one."""

    samples: int = 0  # every thread sample
    # In an Async I/O operator's wait for a free queue slot (ASYNC_QUEUE_WAIT): parked in the
    # mailbox, or running, inside that wait, the mails that emit results and free slots.
    async_wait: int = 0
    # Waiting in the task mailbox outside such a wait: idle, or soft backpressure.
    mailbox_idle: int = 0
    checkpoint_sync: int = 0  # in a checkpoint's synchronous phase (CHECKPOINT_SYNC)
    state: dict[str, int] = field(default_factory=dict)  # backend -> samples in its code

    def add(self, methods: Sequence[str], n: int = 1) -> None:
        self.samples += n
        waits_for_slot = is_async_queue_wait(methods)
        self.async_wait += n * waits_for_slot
        if not waits_for_slot and any(method_of(m) == MAILBOX_WAIT for m in methods):
            self.mailbox_idle += n
        self.checkpoint_sync += n * is_checkpoint_sync(methods)
        backend = state_backend_of(methods)
        if backend is not None:
            self.state[backend] = self.state.get(backend, 0) + n

    def merge(self, other: FrameCounts) -> None:
        """Count `other`'s samples too (another view of the same vertex)."""
        self.samples += other.samples
        self.async_wait += other.async_wait
        self.mailbox_idle += other.mailbox_idle
        self.checkpoint_sync += other.checkpoint_sync
        for backend, n in other.state.items():
            self.state[backend] = self.state.get(backend, 0) + n

    @property
    def state_samples(self) -> int:
        return sum(self.state.values())

    @property
    def working(self) -> int:
        """Samples not idle in the mailbox: the task busy (on or off CPU, at an Async I/O
        operator's capacity, or blocked on an output buffer)."""
        return self.samples - self.mailbox_idle


def class_of(method: str) -> str:
    return method.rpartition(".")[0]


def is_user(method: str) -> bool:
    return bool(method) and method != "root" and not method.startswith(FRAMEWORK_PREFIXES)


def python_mode(methods: Iterable[str]) -> str | None:
    """"thread" (pemja), "process" (Beam Fn API) or None: does this stack run a Python UDF?"""
    seen_operator = False
    for m in methods:
        if m.startswith(PYTHON_THREAD_PREFIXES):
            return "thread"
        if m.startswith(PYTHON_PROCESS_PREFIXES):
            return "process"
        seen_operator = seen_operator or m.startswith(PYTHON_OPERATOR_PREFIX)
    return "process" if seen_operator else None


def chain_operators(vertex_name: str) -> list[str]:
    """The operators of a chained vertex in chain order: Flink names it `a -> b -> c`."""
    return [p.strip() for p in vertex_name.split(" -> ") if p.strip()]


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if len(w) >= 3]


def _simple_names(cls: str) -> list[str]:
    """`com.acme.Scenario$WindowSummary` -> ["windowsummary", "scenario"] (inner first)."""
    simple = cls.rpartition(".")[2]
    parts = [p for p in simple.split("$") if p and not p.isdigit() and "Lambda" not in p]
    return [p.lower() for p in reversed(parts)]


def operator_for_class(cls: str, operators: Sequence[str]) -> str | None:
    """The operator whose name matches a class: `enrich` ~ `Enricher`, `parse` ~ `Parser`."""
    names = _simple_names(cls)
    for simple in names:
        for op in operators:
            words = [w for w in _words(op) if w not in _GENERIC_WORDS]
            if any(w in simple or (len(simple) >= 4 and simple in w) for w in words):
                return op
    return None


@dataclass
class HotFrame:
    """A user method and the samples that had it on the stack."""

    method: str  # e.g. "com.acme.Enricher.lookup"
    samples: int  # samples with the method anywhere on the stack
    share: float  # samples / all samples of the view, 0..1
    self_samples: int  # samples where it was the innermost user frame
    operator: str | None = None


@dataclass
class OperatorTime:
    """Samples of a chained vertex that belong to one of its operators."""

    operator: str
    samples: int
    share: float  # of all samples of the view, 0..1
    top_method: str | None  # the user method with most samples inside this operator
    matched_by: str  # "class name" (frame class ~ operator name) | "chain position"


@dataclass
class PythonTime:
    mode: str  # "process" (Beam worker) | "thread" (pemja)
    samples: int
    share: float  # of all samples of the view, 0..1
    frames: list[str] = field(default_factory=list)  # the Java frames that showed it


class FlameNote(StrEnum):
    NOT_READY = "not-ready"  # the view is not a ready sample (disabled, waiting, an error)


@dataclass(frozen=True)
class FlameNotReady:
    kind: ClassVar[FlameNote] = FlameNote.NOT_READY
    status: str  # FlameGraph.status: "disabled", "terminated", "waiting", "error", "unknown"


FlameStatement = FlameNotReady


@dataclass
class FlameSummary:
    """A vertex's flame graph in a few numbers."""

    vertex_id: str
    vertex_name: str
    kind: str
    end_timestamp_ms: int
    samples: int  # thread samples in this view
    user_samples: int  # samples with job code (or a Python UDF) on the stack
    mailbox_samples: int  # samples waiting in the task mailbox (idle or soft backpressure)
    buffer_wait_samples: int  # samples blocked requesting an output buffer (hard backpressure)
    hot_frames: list[HotFrame]
    operators: list[OperatorTime]
    python: PythonTime | None
    notes: list[FlameStatement] = field(default_factory=list)
    # What the stacks show beyond user code: Async I/O queue waits (also counted in
    # mailbox_samples, as the stack is a mailbox wait), checkpoint sync phases, state backends.
    frames: FrameCounts = field(default_factory=FrameCounts)

    @property
    def user_share(self) -> float:
        return self.user_samples / self.samples if self.samples else 0.0


def summarise(
    graph: FlameGraph,
    vertex_name: str,
    vertex_id: str = "",
    operators: Sequence[str] = (),
    top: int = 8,
) -> FlameSummary:
    """Summarise one view: the hottest user frames with their share of samples, which
    operator of the chain the time belongs to, and whether a Python UDF runs."""
    chain = chain_operators(vertex_name)
    tally = _Tally(chain or list(operators), chain)
    for frames, n in graph.stacks:
        tally.add([method_of(f) for f in frames], n)
    total = graph.total or sum(n for _, n in graph.stacks)

    def share(n: int) -> float:
        return n / total if total else 0.0

    # Among methods with equal samples (a call chain), list the callers first.
    depth = {m: min(_depths(graph, m)) for m in tally.inclusive}
    hot = [
        HotFrame(m, n, share(n), tally.innermost.get(m, 0), tally.method_op.get(m))
        for m, n in sorted(tally.inclusive.items(),
                           key=lambda kv: (-kv[1], depth[kv[0]], kv[0]))
    ][:top]
    ops = [
        OperatorTime(op, n, share(n),
                     _top_method(tally.op_methods.get(op), op, tally.known, depth),
                     tally.op_how[op])
        for op, n in tally.op_samples.most_common()
    ]
    python = None
    if tally.py_samples:
        in_python = sum(tally.py_samples.values())
        python = PythonTime(tally.py_samples.most_common(1)[0][0], in_python, share(in_python),
                            [m for m, _ in tally.py_frames.most_common(5)])
    notes: list[FlameStatement] = []
    if graph.status != "ready":
        notes.append(FlameNotReady(graph.status))
    return FlameSummary(vertex_id, vertex_name, graph.kind, graph.end_timestamp_ms, total,
                        tally.user, tally.mailbox, tally.buffer_waits, hot, ops, python, notes,
                        tally.counts)


@dataclass
class _Tally:
    """Samples of one view counted per method, operator and Python mode."""

    known: Sequence[str]  # the operators to match classes to
    chain: Sequence[str]  # the vertex's operators in chain order
    inclusive: Counter[str] = field(default_factory=Counter)  # method anywhere on the stack
    innermost: Counter[str] = field(default_factory=Counter)  # method innermost user frame
    method_op: dict[str, str | None] = field(default_factory=dict)
    op_samples: Counter[str] = field(default_factory=Counter)
    op_methods: dict[str, Counter[str]] = field(default_factory=dict)
    op_how: dict[str, str] = field(default_factory=dict)
    py_samples: Counter[str] = field(default_factory=Counter)
    py_frames: Counter[str] = field(default_factory=Counter)
    user: int = 0
    mailbox: int = 0
    buffer_waits: int = 0
    counts: FrameCounts = field(default_factory=FrameCounts)

    def add(self, methods: list[str], n: int) -> None:
        """Count one stack (outermost method first) seen `n` times."""
        self.counts.add(methods, n)
        if MAILBOX_WAIT in methods:
            self.mailbox += n
            return
        if any(is_buffer_wait(m) for m in methods):
            self.buffer_waits += n
        users = [m for m in methods if is_user(m)]
        mode = python_mode(methods)
        if mode:
            self.py_samples[mode] += n
            self.py_frames.update({m: n for m in methods if m.startswith(
                PYTHON_THREAD_PREFIXES + PYTHON_PROCESS_PREFIXES + (PYTHON_OPERATOR_PREFIX,))})
        if users or mode:
            self.user += n
        for m in set(users):
            self.inclusive[m] += n
        if users:
            self.innermost[users[-1]] += n
        # Flink's own frames (serialisation, the record writer) work for the operator too.
        op, how = _attribute(methods, users, self.known, self.chain)
        if op is not None:
            self._add_operator(op, how, users, n)

    def _add_operator(self, op: str, how: str, users: list[str], n: int) -> None:
        self.op_samples[op] += n
        if how == "class name" or op not in self.op_how:
            self.op_how[op] = how
        if users:
            methods = self.op_methods.setdefault(op, Counter())
            for m in set(users):
                methods[m] += n
        for m in users:
            self.method_op.setdefault(m, op)


def _depths(graph: FlameGraph, method: str) -> list[int]:
    out = []
    for frames, _ in graph.stacks:
        for i, f in enumerate(frames):
            if method_of(f) == method:
                out.append(i)
                break
    return out or [0]


def _top_method(
    methods: Counter[str] | None, operator: str, operators: Sequence[str],
    depth: dict[str, int],
) -> str | None:
    """The method that names an operator's work: among the methods with (nearly) the most
    samples, the innermost one of the operator's own class (`Enricher.lookup`, not
    `Enricher.map` nor a helper like `Work.spin`), else the innermost of them."""
    if not methods:
        return None
    best = max(methods.values())
    tied = [m for m, n in methods.items() if n >= 0.9 * best]
    own = [m for m in tied if operator_for_class(class_of(m), operators) == operator]
    return max(own or tied, key=lambda m: depth.get(m, 0))


def _attribute(
    methods: list[str], users: list[str], known: Sequence[str], chain: Sequence[str]
) -> tuple[str | None, str]:
    for m in reversed(users):
        op = operator_for_class(class_of(m), known)
        if op is not None:
            return op, "class name"
    if len(chain) == 1:
        return chain[0], "chain position"
    if chain:
        hops = sum(1 for m in methods if m in CHAIN_HOPS)
        if hops < len(chain):
            return chain[hops], "chain position"
    return None, ""
