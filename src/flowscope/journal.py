"""The journal of changes `flowscope tune --apply` made: append-only JSON lines.

One line per step (schema `flowscope.journal/1`, docs/tune.md): `apply` (who, when, the
requirements before and after, the plan and the evidence it rests on), `verify` (the
evidence after, predicted against measured, the verdict), `rollback` (the requirements
restored) and the `verify` of the rollback. The same entries go into the recording when
`tune --record` keeps one; `serve` marks them on the job's timeline and `report` lists them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from flowscope.errors import FlowscopeError

SCHEMA = "flowscope.journal/1"


class Step(StrEnum):
    APPLY = "apply"
    VERIFY = "verify"
    ROLLBACK = "rollback"


class JournalError(FlowscopeError):
    """A journal file that cannot be written or read."""


def append(path: str | Path, entry: dict[str, Any]) -> None:
    """Append one entry as a line, flushed to disk before returning (a change made must not
    go unrecorded because the process died next)."""
    line = json.dumps({"schema": SCHEMA, **entry}, allow_nan=False, separators=(",", ":"))
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise JournalError(f"cannot append to the journal {path}: {exc.strerror or exc}"
                           ) from None


def read(path: str | Path) -> list[dict[str, Any]]:
    """Every entry of a journal file, oldest first (lines that are not entries are skipped:
    a line cut short by a crash must not hide the others)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc.strerror or exc}") from None
    return parse(text.splitlines())


def parse(lines: Iterable[str]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("schema") == SCHEMA:
            out.append(entry)
    return out


@dataclass(frozen=True)
class Mark:
    """A journal entry as a point on a job's timeline."""

    t: float  # epoch s
    step: Step
    job_id: str
    parallelism: dict[str, int]  # vertex name -> parallelism after the step
    effect: str | None  # a verification's verdict


def marks(entries: Iterable[dict[str, Any]], job_id: str | None = None) -> list[Mark]:
    """The entries of one job (all with None) as timeline marks, oldest first."""
    out = []
    for e in entries:
        try:
            step = Step(str(e.get("step")))
            t = float(e["t"])
        except (KeyError, TypeError, ValueError):
            continue
        if job_id is not None and e.get("job_id") != job_id:
            continue
        par = e.get("parallelism_after") or {}
        out.append(Mark(t, step, str(e.get("job_id", "")),
                        {str(k): int(v) for k, v in par.items() if isinstance(v, int)},
                        e.get("effect") if isinstance(e.get("effect"), str) else None))
    return sorted(out, key=lambda m: m.t)
