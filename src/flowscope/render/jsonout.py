"""The diagnosis as JSON, with a versioned schema; an error as JSON, with its own.

The schemas are schema/diagnosis.schema.json and schema/error.schema.json;
docs/json-schema.md documents every field.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from flowscope.analysis.findings import Diagnosis
from flowscope.errors import (
    FlinkApiError,
    FlinkUnreachable,
    FlowscopeError,
    JobNotFound,
    PollsFailed,
    RecordingError,
)
from flowscope.render import words

SCHEMA = "flowscope.diagnosis/3"
ERROR_SCHEMA = "flowscope.error/1"
# An error's kind, by its class (the most specific first).
ERROR_KINDS: tuple[tuple[type[FlowscopeError], str], ...] = (
    (PollsFailed, "polls-failed"), (FlinkUnreachable, "unreachable"),
    (JobNotFound, "job-not-found"), (FlinkApiError, "api"), (RecordingError, "recording"),
)


def json_safe(value: Any) -> Any:
    """Plain data ready for strict JSON: NaN and infinities become null, floats are rounded to
    6 decimals, tuples become lists, keys become strings."""
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def to_dict(d: Diagnosis) -> dict[str, Any]:
    body = dataclasses.asdict(d)
    body["bottlenecks"] = [f.vertex_name for f in d.bottlenecks]
    for finding, f in zip(body["findings"], d.findings, strict=True):
        finding["summary"] = words.summary(f)
        for action, a in zip(finding["actions"], f.actions, strict=True):
            action["text"] = words.action(a, f)
        for evidence, e in zip(finding["evidence"], f.evidence, strict=True):
            evidence["reason"] = evidence.pop("why")
            evidence["why"] = words.why(e)
            evidence.pop("about")
        # Said in the summary and the facts already.
        for key in ("cpu", "transient_share", "transient_of", "imbalance"):
            finding.pop(key, None)
    body["notes"] = words.notes(d.notes)
    body["note_kinds"] = [str(n.kind) for n in d.notes]
    for reading in body["buffers"]:
        reading["pool_meaning"] = words.meaning(reading["pool_meaning"])
        reading["channels_meaning"] = words.meaning(reading["channels_meaning"])
    return {"schema": SCHEMA, **json_safe(body)}


def render(d: Diagnosis) -> str:
    return json.dumps(to_dict(d), indent=2, allow_nan=False)


def error_dict(exc: FlowscopeError) -> dict[str, Any]:
    """The error a command ended with, as plain data: its kind, its one line, and for a loop
    whose polls all failed how many it made (`elapsed_s` in seconds)."""
    kind = next((name for cls, name in ERROR_KINDS if isinstance(exc, cls)), "error")
    polls = None
    if isinstance(exc, PollsFailed):
        polls = {"made": exc.polls, "failed": exc.failed, "elapsed_s": exc.elapsed_s,
                 "last_error": exc.last_error}
    return {"schema": ERROR_SCHEMA, "kind": kind, "error": str(exc),
            "polls": json_safe(polls)}


def render_error(exc: FlowscopeError) -> str:
    return json.dumps(error_dict(exc), indent=2, allow_nan=False)
