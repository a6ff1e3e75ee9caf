"""Many jobs' diagnoses as one fleet: a row per job, ordered by how much it needs a look. Pure.

A row says the job, its verdict, the bottleneck and its cause, for how long the verdict has
held (when the source can tell), and the bottleneck's finding (render/words words its summary
and its first action with the number). Rows sort by severity:
backpressured jobs first (the most backpressured first), then jobs at their limit, then those
that could not be told, then healthy ones; ties by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from flowscope.analysis.findings import Cause, Confidence, Diagnosis, Finding, Verdict

# Verdicts by how much a job needs a look (lower first).
SEVERITY = {Verdict.RESTARTING: 0, Verdict.BACKPRESSURED: 1, Verdict.LIMITED: 2,
            Verdict.UNKNOWN: 3, Verdict.HEALTHY: 4}


@dataclass
class FleetRow:
    """One job of a fleet scan. `since_s`: seconds the verdict has held up to the scan's time
    (None when the source cannot tell); `backpressured`: the job's highest task
    backpressured ratio (0..1); `busy`: the bottleneck's busy ratio (0..1)."""

    job_id: str
    job_name: str
    where: str  # the cluster URL or the Prometheus URL the job was read from
    verdict: Verdict
    confidence: Confidence
    bottleneck: str | None = None
    subtasks: list[int] = field(default_factory=list)
    cause: Cause | None = None
    finding: Finding | None = None  # the bottleneck the row shows (render/words words it)
    since_s: float | None = None
    backpressured: float | None = None
    busy: float | None = None
    diagnosis: Diagnosis | None = None


@dataclass
class ScanError:
    """A cluster (or job) that could not be read: one line, kept beside the rows."""

    where: str
    job: str | None
    message: str


def row_of(d: Diagnosis, where: str, since_s: float | None = None) -> FleetRow:
    """The fleet row of one job's diagnosis."""
    bp = [t.backpressured for t in d.tasks if t.backpressured is not None]
    row = FleetRow(d.job_id, d.job_name, where, d.verdict, d.confidence, since_s=since_s,
                   backpressured=max(bp) if bp else None, diagnosis=d)
    bottlenecks = d.bottlenecks or [f for f in d.findings if f.cause == Cause.RESTART_LOOP]
    if bottlenecks:
        f = max(bottlenecks, key=lambda x: _busy_of(d, x))
        row.bottleneck = f.vertex_name
        row.subtasks = list(f.subtasks)
        row.cause = f.cause
        row.finding = f
        row.busy = _busy_of(d, f)
        if len(bottlenecks) > 1:
            row.bottleneck = f"{f.vertex_name} (+{len(bottlenecks) - 1} more)"
    return row


def _busy_of(d: Diagnosis, f: Finding) -> float:
    for t in d.tasks:
        if t.vertex_id == f.vertex_id:
            return t.busy or 0.0
    return 0.0


def ordered(rows: Iterable[FleetRow]) -> list[FleetRow]:
    """Rows by severity, the most held-back job first."""
    return sorted(rows, key=lambda r: (SEVERITY.get(r.verdict, 9), -(r.backpressured or 0.0),
                                       -(r.busy or 0.0), r.job_name, r.job_id))


def worst(rows: Iterable[FleetRow]) -> Verdict | None:
    """The most severe verdict among the rows (None for no rows)."""
    found = [r.verdict for r in rows]
    return min(found, key=lambda v: SEVERITY.get(v, 9)) if found else None


# The state of a job at one step of the "for how long" history, as the fleet's state query
# computes it (flink/fleetql.state_query): what the verdict would be from its most
# backpressured task and the busy time of its first tasks.
STATE_CODES = {Verdict.HEALTHY: 0, Verdict.LIMITED: 1, Verdict.BACKPRESSURED: 2}


def state_code(verdict: Verdict) -> int | None:
    """The number a state history carries for `verdict` (None: not a state it carries)."""
    return STATE_CODES.get(verdict)


def held_for(points: Sequence[tuple[float, float]], verdict: Verdict, at: float,
             step_s: float) -> float | None:
    """Seconds `verdict` has held up to `at`, from a job's state history: (epoch s, state
    code) points one step apart. The run of equal states ending at the last point counts; a
    missing step ends it. None when the history does not end at `at` in that state. A run
    that starts at the history's first point is a lower bound."""
    code = state_code(verdict)
    pts = sorted(points)
    if code is None or not pts or abs(pts[-1][0] - at) > step_s or pts[-1][1] != code:
        return None
    first = pts[-1][0]
    for t, c in reversed(pts[:-1]):
        if c != code or first - t > 1.5 * step_s:
            break
        first = t
    return at - first
