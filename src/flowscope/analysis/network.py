"""Network limits and barrier alignment: senders held back by something other than a busy
receiver. Pure.

A sender backpressured while its receivers idle with free input buffers is limited by the
exchange itself: bandwidth or the credit round trip (the 2019 post's "network bottleneck").
But a receiver that also reads from a slow input aligns checkpoint barriers behind that input,
blocking its other inputs meanwhile: those senders look the same and are not a network limit.
"""

from __future__ import annotations

from flowscope.analysis.findings import (
    BUSY_HOT,
    HIGH_THRESHOLD,
    LOW_THRESHOLD,
    Action,
    Cause,
    Evidence,
    Finding,
    TaskState,
)
from flowscope.analysis.numbers import finite_mean, finite_sum, pct, rounded
from flowscope.analysis.window import SubtaskWindow
from flowscope.model import JobGraph

# Remote input buffers below this share in use: the receiver keeps up with what arrives. A
# receiver that holds its senders back fills them (the 2019 post: ~100%).
IN_POOL_LOW = 0.5


def network_findings(
    graph: JobGraph,
    tasks: dict[str, TaskState],
    windows: dict[str, list[SubtaskWindow]],
    roots: list[str],
    window_s: float,
) -> list[Finding]:
    """Exchanges that limit the job, and senders blocked by barrier alignment behind a slow
    input (attributed to that input, not to the network)."""
    out: list[Finding] = []
    network = _network_exchanges(graph, tasks, windows, roots)
    # A receiver that also reads from a bottleneck waits for its checkpoint barriers on that
    # slow input; meanwhile its other inputs are blocked (aligned checkpoints), so their senders
    # look backpressured by an idle receiver, as behind a slow network. Not the network.
    for sender, behind in aligning_behind(graph, network, roots).items():
        del network[sender]
        if (tasks[sender].backpressured or 0) > HIGH_THRESHOLD:
            out.append(_alignment_finding(graph, tasks[sender], behind, window_s))
    for v in graph.vertices:
        # Exchanges that cross one slow link hold each other back (each receiver is itself a
        # backpressured sender, and which of them reads HIGH varies from run to run): report
        # the chain once, at its first sender, when any sender in it is backpressured HIGH.
        if v.id in network and not network.keys() & graph.ancestors(v.id):
            t = tasks[v.id]
            downs = graph.descendants(v.id)
            also = [(tasks[o], rs) for o, rs in network.items() if o in downs]
            if any((x.backpressured or 0) > HIGH_THRESHOLD for x, _ in [(t, []), *also]):
                out.append(_network_finding(graph, t, network[v.id], windows, window_s, also))
    return out


def aligning_behind(
    graph: JobGraph, network: dict[str, list[TaskState]], roots: list[str]
) -> dict[str, list[tuple[TaskState, str]]]:
    """Senders whose receiver also reads from a located bottleneck (directly or further up):
    sender id -> [(receiver, the upstream vertex on the slow side)]."""
    out: dict[str, list[tuple[TaskState, str]]] = {}
    for sender, receivers in network.items():
        behind = [(r, u) for r in receivers for u in graph.upstream(r.vertex_id)
                  if u != sender and (u in roots or set(roots) & graph.ancestors(u))]
        if behind:
            out[sender] = behind
    return out


def _alignment_finding(
    graph: JobGraph, sender: TaskState, behind: list[tuple[TaskState, str]], window_s: float
) -> Finding:
    receiver, slow = behind[0]
    slow_name = graph.vertex(slow).name
    return Finding(
        Cause.TRANSIENT, sender.vertex_id, sender.name,
        f"{sender.name} is backpressured {pct(sender.backpressured)} while {receiver.name} "
        f"idles: {receiver.name} also reads from the slow branch through {slow_name}, and "
        "while it aligns checkpoint barriers behind that input its other inputs are blocked. "
        "This follows from the bottleneck; it is not a bottleneck of its own",
        is_bottleneck=False,
        evidence=[
            Evidence(sender.name, "backpressured_ratio", rounded(sender.backpressured), "ratio",
                     window_s, "blocked while the receiver aligns barriers"),
            Evidence(receiver.name, "busy_ratio", rounded(receiver.busy), "ratio", window_s,
                     "the receiver is not the limit"),
        ],
        actions=[Action(
            "Remove the bottleneck on the other branch; unaligned checkpoints stop one slow "
            "input from blocking the others during checkpoints.",
            config={"execution.checkpointing.unaligned.enabled": "true"},
        )],
    )


def _network_exchanges(
    graph: JobGraph,
    tasks: dict[str, TaskState],
    windows: dict[str, list[SubtaskWindow]],
    roots: list[str],
) -> dict[str, list[TaskState]]:
    """Senders (vertex id -> receivers) whose data is stuck between them and their receivers:
    the sender is backpressured while the receivers are not busy and do not hold it back (not
    backpressured, or their remote input buffers are mostly free)."""
    out: dict[str, list[TaskState]] = {}
    for v in graph.vertices:
        t = tasks[v.id]
        downs = graph.downstream(v.id)
        # A located bottleneck is explained once: when its own senders' side looks stuck too
        # (its healthy subtasks blocked while a receiver aligns checkpoint barriers behind its
        # slow one), that follows from the bottleneck, not from the network.
        if ((t.backpressured or 0) <= LOW_THRESHOLD or not downs or v.id in roots
                or any(d in roots for d in downs)):
            continue
        receivers = [tasks[d] for d in downs]
        if all((r.busy or 0) < BUSY_HOT and (
            (r.backpressured or 0) <= LOW_THRESHOLD
            or _inputs_drained(windows.get(r.vertex_id, []))
        ) for r in receivers):
            out[v.id] = receivers
    # Exchanges that cross one slow link hold each other back: a sender upstream of a stuck
    # exchange is backpressured by receivers that wait on the link themselves. When its own
    # exchange crosses the link too (its receivers take remote data and are not busy), it
    # belongs to the same chain, which is then reported once, at its first sender.
    grew = True
    while grew:
        grew = False
        for sender in list(out):
            for u in graph.upstream(sender):
                downs = graph.downstream(u)
                if (u in out or (tasks[u].backpressured or 0) <= LOW_THRESHOLD
                        or any(d in roots for d in downs)):
                    continue
                receivers = [tasks[d] for d in downs]
                if all((r.busy or 0) < BUSY_HOT
                       and finite_sum([w.bytes_in_remote_per_s
                                       for w in windows.get(r.vertex_id, [])])
                       for r in receivers):
                    out[u] = receivers
                    grew = True
    return out


def _inputs_drained(subs: list[SubtaskWindow]) -> bool:
    """The task's remote input buffers are mostly free while remote data arrives: it is not
    what holds its senders back, even if its own output is backpressured.

    Only remote channels count in inPoolUsage (local ones read 0), hence the remote bytes. The
    mean over subtasks, because one subtask's gauge swings with the link's bursts (0.05 to 0.55
    within one task on a capped link) while a task that holds its senders back reads ~0.6-0.9."""
    pool = finite_mean([s.in_pool_usage for s in subs])
    remote = finite_sum([s.bytes_in_remote_per_s for s in subs])
    return bool(remote) and pool is not None and pool < IN_POOL_LOW


def _network_finding(
    graph: JobGraph,
    sender: TaskState,
    receivers: list[TaskState],
    windows: dict[str, list[SubtaskWindow]],
    window_s: float,
    also: list[tuple[TaskState, list[TaskState]]] | None = None,
) -> Finding:
    out_pool = finite_mean([s.out_pool_usage for s in windows.get(sender.vertex_id, [])])
    received = [s for r in receivers for s in windows.get(r.vertex_id, [])]
    in_pool = finite_mean([s.in_pool_usage for s in received])
    remote = finite_sum([s.bytes_in_remote_per_s for s in received])
    names = ", ".join(r.name for r in receivers)
    ev = [
        Evidence(sender.name, "backpressured_ratio", rounded(sender.backpressured), "ratio",
                 window_s, "the sender waits for output buffers"),
        Evidence(sender.name, "out_pool_usage", rounded(out_pool), "ratio", window_s,
                 "1.0: all output buffers are full"),
        Evidence(names, "in_pool_usage", rounded(in_pool), "ratio", window_s,
                 "low: receivers have free buffers, so they are not the limit"),
        Evidence(names, "busy_ratio", rounded(max((r.busy or 0) for r in receivers)), "ratio",
                 window_s, "receivers are not busy"),
    ]
    if remote is not None:
        ev.append(Evidence(names, "bytes_in_remote_per_s", round(remote), "bytes/s", window_s,
                           "throughput over the network"))
    for other, rs in also or []:
        ev.append(Evidence(
            f"{other.name} -> {', '.join(r.name for r in rs)}", "out_pool_usage",
            rounded(finite_mean([s.out_pool_usage for s in windows.get(other.vertex_id, [])])),
            "ratio", window_s, f"backpressured {pct(other.backpressured)} the same way "
            "further down: the exchanges share the network"))
    tms = sorted({s.taskmanager_id for t in [sender, *receivers]
                  for s in windows.get(t.vertex_id, []) if s.taskmanager_id})
    more = f" (and {len(also)} more exchange(s) downstream)" if also else ""
    return Finding(
        Cause.NETWORK, sender.vertex_id, sender.name,
        f"the exchange {sender.name} -> {names}{more} is the bottleneck: the sender is "
        f"backpressured {pct(sender.backpressured)} with output buffers "
        f"{pct(out_pool)} full while the receivers are idle with input buffers "
        f"{pct(in_pool)} used: network bandwidth or the credit round trip limits it",
        taskmanagers=tms,
        evidence=ev,
        actions=[Action(
            "Check the network between the TaskManagers (bandwidth, latency). If the link is "
            "not saturated, the credit round trip is the limit: raise buffers per channel.",
            config={"taskmanager.network.memory.buffers-per-channel": "4",
                    "taskmanager.network.memory.floating-buffers-per-gate": "16"},
        )],
    )
