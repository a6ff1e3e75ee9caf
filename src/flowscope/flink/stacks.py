"""Parsers of Flink's stack samples: flame graphs and TaskManager thread dumps.

Flame graphs (`/jobs/:jid/vertices/:vid/flamegraph?type=on_cpu|off_cpu|full`): each node is a
frame `class.method:line`; its `value` counts the samples whose stack passes through it; the
children of `root` are the outermost frames. `endTimestamp` also carries the state: -1 the
vertex has terminated, -2 flame graphs are disabled (`rest.flamegraph.enabled: false`), -3 the
first samples are still being taken.

Thread dumps (`/taskmanagers/:id/thread-dump`): task threads are named
`<vertex name> (<subtask + 1>/<parallelism>)#<attempt>`; every other thread is left out.

Both parsers tolerate any shape of answer: what cannot be read is left out, never raised.
"""

from __future__ import annotations

import re
from typing import Any

from flowscope.model import FLAME_WAITING, FlameGraph, ThreadSample

TASK_THREAD = re.compile(r"^(?P<task>.+) \((?P<sub>\d+)/(?P<par>\d+)\)#(?P<attempt>\d+)$")
# Threads a task starts for itself carry its name after one of these.
HELPER_THREADS = ("OutputFlusher for ", "System Time Trigger for ", "Time Trigger for ",
                  "Legacy Source Thread - ", "Source Data Fetcher for ", "Timer for ")
_STATE = re.compile(r"\bId=\d+\s+([A-Z_]+)")
# `java.base@17.0.15/java.lang.Thread.run(Thread.java:840)`, `app//org.apache...`
_MODULE = re.compile(r"^(?:app//|[\w.]+(?:@[\w.\-+]+)?/)")


def _int(v: Any, default: int = 0) -> int:
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):
        return default


def parse_flamegraph(body: Any, kind: str) -> FlameGraph:
    """A flame graph REST response -> FlameGraph. Tolerates a missing or empty `data`."""
    body = body if isinstance(body, dict) else {}
    end = _int(body.get("endTimestamp"), FLAME_WAITING) or FLAME_WAITING
    root = body.get("data")
    root = root if isinstance(root, dict) else {}
    stacks: list[tuple[tuple[str, ...], int]] = []
    # Flame graphs are deep (100+ frames): walk with a stack, not recursion.
    todo: list[tuple[dict[str, Any], tuple[str, ...]]] = [(root, ())] if root else []
    while todo:
        node, path = todo.pop()
        children = [c for c in node.get("children") or [] if isinstance(c, dict)]
        value = max(_int(node.get("value")), 0)
        below = sum(max(_int(c.get("value")), 0) for c in children)
        if value > below and path:
            stacks.append((path, value - below))
        for child in children:
            todo.append((child, (*path, str(child.get("name", "?")))))
    total = max(_int(root.get("value")), 0) if root else 0
    return FlameGraph(kind, end, total, tuple(stacks))


def failed_flamegraph(kind: str, reason: str) -> FlameGraph:
    """A view that could not be read, with the cluster's one-line reason."""
    return FlameGraph(kind, FLAME_WAITING, 0, (), error=reason)


def parse_frame(line: str) -> str | None:
    """`\\tat app//org.x.Y.m(Y.java:12)` -> `org.x.Y.m`; None for lock lines."""
    text = line.strip()
    if not text.startswith("at "):
        return None
    text = text[3:].split("(", 1)[0].strip()
    return _MODULE.sub("", text, count=1)


def parse_thread_dump(body: Any, taskmanager_id: str = "") -> list[ThreadSample]:
    """The task threads of one `/taskmanagers/:id/thread-dump` response."""
    out: list[ThreadSample] = []
    infos = body.get("threadInfos", []) if isinstance(body, dict) else []
    for info in infos if isinstance(infos, list) else []:
        if not isinstance(info, dict):
            continue
        name = str(info.get("threadName", ""))
        m = TASK_THREAD.match(name)
        if not m or name.startswith(HELPER_THREADS):
            continue
        lines = str(info.get("stringifiedThreadInfo", "")).splitlines()
        state_m = _STATE.search(lines[0]) if lines else None
        frames = tuple(f for f in (parse_frame(line) for line in lines[1:]) if f)
        out.append(ThreadSample(
            task=m["task"], subtask=int(m["sub"]) - 1, parallelism=int(m["par"]),
            attempt=int(m["attempt"]), state=state_m.group(1) if state_m else "",
            frames=frames, taskmanager_id=taskmanager_id,
        ))
    return out
