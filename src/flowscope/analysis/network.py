"""Network limits and barrier alignment: senders held back by something other than a busy
receiver. Pure.

A sender backpressured while its receivers idle with free input buffers is limited by the
exchange itself: bandwidth or the credit round trip (the 2019 post's "network bottleneck").
But a receiver that also reads from a slow input aligns checkpoint barriers behind that input,
blocking its other inputs meanwhile: those senders look the same and are not a network limit.
"""

from __future__ import annotations

from flowscope.analysis.evidence import Exchange, JobEvidence, TaskEvidence
from flowscope.analysis.findings import (
    BUSY_HOT,
    HIGH_THRESHOLD,
    LOW_THRESHOLD,
    Action,
    ActionKind,
    Cause,
    Evidence,
    Fact,
    Finding,
    Why,
)
from flowscope.analysis.numbers import rounded
from flowscope.model import JobGraph

# Remote input buffers below this share in use: the receiver keeps up with what arrives. A
# receiver that holds its senders back fills them (the 2019 post: ~100%).
IN_POOL_LOW = 0.5
# A sender whose output buffers are this full on average is held back by what is after them.
OUT_POOL_HIGH = 0.5


def network_findings(ev: JobEvidence, roots: list[str]) -> list[Finding]:
    """Exchanges that limit the job, and senders blocked by barrier alignment behind a slow
    input (attributed to that input, not to the network). Needs the job graph's edges; an
    exchange whose sender's buffer gauges were not read is not called a network limit
    (`unread_exchanges` names it)."""
    graph = ev.graph
    if graph is None:
        return []
    out: list[Finding] = []
    network = _network_exchanges(graph, ev, roots)
    # A receiver that also reads from a bottleneck waits for its checkpoint barriers on that
    # slow input; meanwhile its other inputs are blocked (aligned checkpoints), so their senders
    # look backpressured by an idle receiver, as behind a slow network. Not the network.
    for sender, behind in aligning_behind(graph, network, roots).items():
        del network[sender]
        if (ev.tasks[sender].state.backpressured or 0) > HIGH_THRESHOLD:
            out.append(_alignment_finding(ev, ev.tasks[sender], behind))
    for first, also in _chains(graph, ev, network):
        # The 2019 post's network bottleneck: the sender's output buffers full while the
        # receivers' inputs are free. Without the gauges it is not known.
        if _out_pool_high(ev.tasks[first].exchange):
            out.append(_network_finding(ev, ev.tasks[first], network[first], also))
    return out


def unread_exchanges(ev: JobEvidence, roots: list[str]) -> list[str]:
    """Senders that look held back by idle receivers (as behind a slow network), but whose
    buffer gauges were not read: whether the network limits them is not known."""
    graph = ev.graph
    if graph is None:
        return []
    network = _network_exchanges(graph, ev, roots)
    for sender in aligning_behind(graph, network, roots):
        del network[sender]
    return [ev.tasks[first].name for first, _ in _chains(graph, ev, network)
            if not _gauged(ev.tasks[first].exchange)]


def _chains(graph: JobGraph, ev: JobEvidence, network: dict[str, list[TaskEvidence]]
            ) -> list[tuple[str, list[tuple[TaskEvidence, list[TaskEvidence]]]]]:
    """Exchanges that cross one slow link hold each other back (each receiver is itself a
    backpressured sender, and which of them reads HIGH varies from run to run): each chain
    once, at its first sender, with the exchanges further down, when any sender in it is
    backpressured HIGH."""
    out = []
    for v in graph.vertices:
        if v.id in network and not network.keys() & graph.ancestors(v.id):
            t = ev.tasks[v.id]
            downs = graph.descendants(v.id)
            also = [(ev.tasks[o], rs) for o, rs in network.items() if o in downs]
            if any((x.state.backpressured or 0) > HIGH_THRESHOLD for x, _ in [(t, []), *also]):
                out.append((v.id, also))
    return out


def aligning_behind(
    graph: JobGraph, network: dict[str, list[TaskEvidence]], roots: list[str]
) -> dict[str, list[tuple[TaskEvidence, str]]]:
    """Senders whose receiver also reads from a located bottleneck (directly or further up):
    sender id -> [(receiver, the upstream vertex on the slow side)]."""
    out: dict[str, list[tuple[TaskEvidence, str]]] = {}
    for sender, receivers in network.items():
        behind = [(r, u) for r in receivers for u in graph.upstream(r.vertex_id)
                  if u != sender and (u in roots or set(roots) & graph.ancestors(u))]
        if behind:
            out[sender] = behind
    return out


def _alignment_finding(ev: JobEvidence, sender: TaskEvidence,
                       behind: list[tuple[TaskEvidence, str]]) -> Finding:
    receiver, slow = behind[0]
    return Finding(
        Cause.TRANSIENT, sender.vertex_id, sender.name, is_bottleneck=False,
        facts={Fact.BACKPRESSURED: sender.state.backpressured, Fact.RECEIVER: receiver.name,
               Fact.SLOW_INPUT: ev.tasks[slow].name},
        evidence=[
            Evidence(sender.name, "backpressured_ratio", rounded(sender.state.backpressured),
                     "ratio", ev.window_s, Why.ALIGNING),
            Evidence(receiver.name, "busy_ratio", rounded(receiver.state.busy), "ratio",
                     ev.window_s, Why.RECEIVER_NOT_LIMIT),
        ],
        actions=[Action(ActionKind.UNALIGNED,
                        config={"execution.checkpointing.unaligned.enabled": "true"})],
    )


def _suspects(graph: JobGraph, ev: JobEvidence, roots: list[str]
              ) -> dict[str, list[TaskEvidence]]:
    """Senders (vertex id -> receivers) backpressured while their receivers are not busy and
    do not hold them back (not backpressured, or their remote input buffers mostly free)."""
    out: dict[str, list[TaskEvidence]] = {}
    for v in graph.vertices:
        t = ev.tasks[v.id]
        downs = graph.downstream(v.id)
        # A located bottleneck is explained once: when its own senders' side looks stuck too
        # (its healthy subtasks blocked while a receiver aligns checkpoint barriers behind its
        # slow one), that follows from the bottleneck, not from the network.
        if ((t.state.backpressured or 0) <= LOW_THRESHOLD or not downs or v.id in roots
                or any(d in roots for d in downs)):
            continue
        receivers = [ev.tasks[d] for d in downs]
        if all((r.state.busy or 0) < BUSY_HOT and (
            (r.state.backpressured or 0) <= LOW_THRESHOLD or _inputs_drained(r.exchange)
        ) for r in receivers):
            out[v.id] = receivers
    return out


def _network_exchanges(graph: JobGraph, ev: JobEvidence,
                       roots: list[str]) -> dict[str, list[TaskEvidence]]:
    """Senders (vertex id -> receivers) whose data is stuck between them and their receivers:
    the sender is backpressured while the receivers are not busy and do not hold it back (not
    backpressured, or their remote input buffers are mostly free)."""
    out = _suspects(graph, ev, roots)
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
                if (u in out or (ev.tasks[u].state.backpressured or 0) <= LOW_THRESHOLD
                        or any(d in roots for d in downs)):
                    continue
                receivers = [ev.tasks[d] for d in downs]
                if all((r.state.busy or 0) < BUSY_HOT and r.exchange is not None
                       and r.exchange.bytes_in_remote_per_s for r in receivers):
                    out[u] = receivers
                    grew = True
    return out


def _gauged(x: Exchange | None) -> bool:
    return x is not None and x.out_pool is not None


def _out_pool_high(x: Exchange | None) -> bool:
    return x is not None and x.out_pool is not None and x.out_pool >= OUT_POOL_HIGH


def _inputs_drained(x: Exchange | None) -> bool:
    """The task's remote input buffers are mostly free while remote data arrives: it is not
    what holds its senders back, even if its own output is backpressured.

    Only remote channels count in inPoolUsage (local ones read 0), hence the remote bytes. The
    mean over subtasks, because one subtask's gauge swings with the link's bursts (0.05 to 0.55
    within one task on a capped link) while a task that holds its senders back reads ~0.6-0.9."""
    return (x is not None and bool(x.bytes_in_remote_per_s) and x.in_pool is not None
            and x.in_pool < IN_POOL_LOW)


def _pooled_in(receivers: list[TaskEvidence]) -> float | None:
    """The receivers' inPoolUsage, the mean over all their subtasks that read it."""
    read = [(r.exchange.in_pool, r.exchange.in_pool_read) for r in receivers
            if r.exchange is not None and r.exchange.in_pool is not None]
    n = sum(k for _, k in read)
    return sum((v or 0.0) * k for v, k in read) / n if n else None


def _network_finding(ev: JobEvidence, sender: TaskEvidence, receivers: list[TaskEvidence],
                     also: list[tuple[TaskEvidence, list[TaskEvidence]]]) -> Finding:
    out_pool = sender.exchange.out_pool if sender.exchange else None
    in_pool = _pooled_in(receivers)
    remotes = [r.exchange.bytes_in_remote_per_s for r in receivers
               if r.exchange is not None and r.exchange.bytes_in_remote_per_s is not None]
    names = ", ".join(r.name for r in receivers)
    w = ev.window_s
    evidence = [
        Evidence(sender.name, "backpressured_ratio", rounded(sender.state.backpressured),
                 "ratio", w, Why.WAITS_FOR_BUFFERS),
        Evidence(sender.name, "out_pool_usage", rounded(out_pool), "ratio", w,
                 Why.OUT_POOL_FULL),
        Evidence(names, "in_pool_usage", rounded(in_pool), "ratio", w, Why.IN_POOL_FREE),
        Evidence(names, "busy_ratio", rounded(max((r.state.busy or 0) for r in receivers)),
                 "ratio", w, Why.RECEIVERS_IDLE),
    ]
    if remotes:
        evidence.append(Evidence(names, "bytes_in_remote_per_s", round(sum(remotes)),
                                 "bytes/s", w, Why.NETWORK_THROUGHPUT))
    for other, rs in also:
        evidence.append(Evidence(
            f"{other.name} -> {', '.join(r.name for r in rs)}", "out_pool_usage",
            rounded(other.exchange.out_pool if other.exchange else None), "ratio", w,
            Why.SHARED_NETWORK, {Fact.BACKPRESSURED: other.state.backpressured}))
    tms = sorted({tm for t in [sender, *receivers] if t.exchange
                  for tm in t.exchange.taskmanagers})
    return Finding(
        Cause.NETWORK, sender.vertex_id, sender.name, taskmanagers=tms, evidence=evidence,
        facts={Fact.RECEIVERS: tuple(r.name for r in receivers), Fact.MORE: len(also),
               Fact.BACKPRESSURED: sender.state.backpressured, Fact.OUT_POOL: out_pool,
               Fact.IN_POOL: in_pool},
        actions=[Action(ActionKind.NETWORK_BUFFERS,
                        config={"taskmanager.network.memory.buffers-per-channel": "4",
                                "taskmanager.network.memory.floating-buffers-per-gate": "16"})],
    )
