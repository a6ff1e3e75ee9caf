"""`flowscope tune` as JSON (schema flowscope.tune/1) and the journal's entries
(flowscope.journal/1): docs/tune.md describes both."""

from __future__ import annotations

import dataclasses
from typing import Any

from flowscope.analysis.diff import throughput
from flowscope.analysis.findings import Diagnosis
from flowscope.analysis.plan import TunePlan
from flowscope.analysis.verify import Verification
from flowscope.flink.requirements import Bounds
from flowscope.render import tune as words
from flowscope.render.diff import to_dict as diff_dict
from flowscope.render.jsonout import json_safe

SCHEMA = "flowscope.tune/1"


def plan_dict(p: TunePlan) -> dict[str, Any]:
    body = dataclasses.asdict(p)
    body["refusals"] = [{**dataclasses.asdict(r), "missing": r.missing,
                         "forceable": r.reason.forceable, "text": words.refusal_text(r)}
                        for r in p.refusals]
    for v, out in zip(p.vertices, body["vertices"], strict=True):
        out["changed"] = v.changed
    body["applicable"] = p.applicable
    return json_safe(body)  # type: ignore[no-any-return]


def bounds_dict(bounds: dict[str, Bounds]) -> dict[str, dict[str, int]]:
    return {vid: {"lower": b.lower, "upper": b.upper} for vid, b in bounds.items()}


def evidence(d: Diagnosis) -> dict[str, Any]:
    """What a journal entry keeps of a window: enough to see what the change did."""
    return json_safe({
        "t": d.t, "window_s": d.window_s, "verdict": d.verdict.value,
        "confidence": d.confidence.value, "throughput_per_s": throughput(d),
        "bottlenecks": [{"vertex_name": f.vertex_name, "cause": f.cause.value}
                        for f in d.bottlenecks],
        "tasks": [{"name": t.name, "parallelism": t.parallelism, "busy": t.busy,
                   "backpressured": t.backpressured, "idle": t.idle,
                   "records_in_per_s": t.records_in_per_s,
                   "records_out_per_s": t.records_out_per_s} for t in d.tasks],
    })  # type: ignore[no-any-return]


def verification_dict(v: Verification) -> dict[str, Any]:
    return json_safe({
        "effect": v.effect.value, "before_per_s": v.before_per_s,
        "predicted_per_s": v.predicted_per_s, "measured_per_s": v.measured_per_s,
        "ratio": v.ratio, "gain_share": v.gain_share, "diff": diff_dict(v.diff),
    })  # type: ignore[no-any-return]


def manual_change_dict(p: TunePlan) -> dict[str, Any]:
    return {"operator_override": {words.OPERATOR_KEY: words.operator_override(p)},
            "parallelism": {v.name: v.new for v in p.changes},
            "instructions": words.manual_change(p)}
