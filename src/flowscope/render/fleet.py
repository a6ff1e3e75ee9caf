"""A fleet scan drawn: the terminal table and the JSON (schema flowscope.scan/1)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from flowscope.analysis.findings import Verdict
from flowscope.analysis.fleet import FleetRow, ScanError
from flowscope.render import jsonout, words
from flowscope.render.terminal import pct
from flowscope.render.watch import duration

SCHEMA = "flowscope.scan/1"
VERDICT_STYLE = {Verdict.RESTARTING: "bold magenta", Verdict.BACKPRESSURED: "bold red",
                 Verdict.LIMITED: "yellow",
                 Verdict.UNKNOWN: "dim", Verdict.HEALTHY: "green"}


def summary_of(r: FleetRow) -> str | None:
    """The row's bottleneck in one line."""
    return words.summary(r.finding) if r.finding else None


def action_of(r: FleetRow) -> str:
    """The row's first action, its number first."""
    if r.finding is None or r.diagnosis is None:
        return ""
    return words.short_action(r.diagnosis, r.finding)


def table(rows: Sequence[FleetRow], errors: Sequence[ScanError] = (),
          notes: Sequence[str] = ()) -> Group:
    """The fleet as a table, the most held-back job first, then what could not be read."""
    t = Table(show_edge=False, pad_edge=False)
    for name, justify in (("job", "left"), ("verdict", "left"), ("bottleneck", "left"),
                          ("cause", "left"), ("busy", "right"), ("backpr.", "right"),
                          ("for", "right"), ("action", "left")):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        where = r.bottleneck or ""
        if r.subtasks and r.bottleneck and len(r.subtasks) <= 4 and r.cause in (
                "data-skew", "slow-instance"):
            where += f" [{', '.join(map(str, r.subtasks))}]"
        t.add_row(
            Text(r.job_name or r.job_id[:8]),
            Text(f"{r.verdict}" + ("" if r.confidence == "high" else f" ({r.confidence})"),
                 style=VERDICT_STYLE.get(r.verdict, "")),
            Text(where), Text(str(r.cause) if r.cause else ""),
            pct(r.busy) if r.busy is not None else "", pct(r.backpressured),
            duration(r.since_s) if r.bottleneck or r.verdict != Verdict.HEALTHY else "",
            Text(action_of(r)),
        )
    parts: list[Any] = [t]
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r.verdict)] = counts.get(str(r.verdict), 0) + 1
    summary = ", ".join(f"{n} {v}" for v, n in counts.items()) or "no running jobs"
    parts.append(Text(f"\n{len(rows)} job(s): {summary}"))
    for e in errors:
        parts.append(Text(f"could not read {e.where}" + (f" job {e.job}" if e.job else "")
                          + f": {e.message}", style="red"))
    for n in notes:
        parts.append(Text(f"note: {n}", style="dim"))
    return Group(*parts)


def to_dict(rows: Sequence[FleetRow], errors: Sequence[ScanError] = (),
            notes: Sequence[str] = (), stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """The scan as plain data: a row per job (with its full diagnosis), errors, notes."""
    jobs = []
    for r in rows:
        item = {
            "job_id": r.job_id, "job_name": r.job_name, "source": r.where,
            "verdict": str(r.verdict), "confidence": str(r.confidence),
            "bottleneck": r.bottleneck, "subtasks": r.subtasks,
            "cause": str(r.cause) if r.cause else None,
            "summary": summary_of(r),
            "since_s": r.since_s, "busy_ratio": r.busy, "backpressured_ratio": r.backpressured,
            "action": action_of(r) or None,
            "diagnosis": jsonout.to_dict(r.diagnosis) if r.diagnosis else None,
        }
        jobs.append(item)
    return jsonout.json_safe({
        "schema": SCHEMA, "jobs": jobs,
        "errors": [{"source": e.where, "job": e.job, "message": e.message} for e in errors],
        "notes": list(notes), "stats": stats or {},
    })


def render_json(rows: Sequence[FleetRow], errors: Sequence[ScanError] = (),
                notes: Sequence[str] = (), stats: dict[str, Any] | None = None) -> str:
    return json.dumps(to_dict(rows, errors, notes, stats), indent=2, allow_nan=False)
