"""`flowscope tune` for a terminal: the plan, its refusals, the change to make by hand where
flowscope may not make it, the verification, in words. Numbers come from
flowscope.analysis.plan / verify; nothing is decided here."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from flowscope.analysis.plan import (
    PlanStatus,
    Refusal,
    RefusalReason,
    TargetBasis,
    TunePlan,
    Unknown,
)
from flowscope.analysis.verify import Effect, Verification
from flowscope.render.diff import render_diff
from flowscope.render.terminal import rate

STATUS_STYLE = {PlanStatus.CHANGE: "bold cyan", PlanStatus.NOTHING: "bold green",
                PlanStatus.REFUSED: "bold red", PlanStatus.UNKNOWN: "bold yellow"}
EFFECT_STYLE = {Effect.EFFECTIVE: "bold green", Effect.INEFFECTIVE: "bold red",
                Effect.UNCHANGED: "bold yellow", Effect.UNVERIFIED: "bold yellow"}
BASIS = {TargetBasis.GIVEN: "the target rate",
         TargetBasis.UNTHROTTLED: "what the sources would emit if nothing held them back",
         TargetBasis.NONE: "unknown"}
UNKNOWN = {
    Unknown.NOT_RUNNING: "the job is not running: nothing to tune",
    Unknown.NOT_JUDGED: "the diagnosis could not tell yet (too young, or too little data): "
                        "watch longer before sizing",
    Unknown.NO_TARGET: "the sources are blocked too much of the time to tell what they would "
                       "emit: pass --target-rate R (records/s at the sources) for the plan",
    Unknown.NO_RATE: "no task has a true processing rate yet (too little busy time)",
}
OPERATOR_KEY = "pipeline.jobvertex-parallelism-overrides"


def _n(x: float | None, unit: str = "") -> str:
    return "?" if x is None else f"{rate(x)}{unit}"


def refusal_text(r: Refusal) -> str:
    """One refusal in a sentence, with its numbers and what to do instead."""
    top = (f"; the job tops out near {rate(r.ceiling_per_s)} records/s at the sources"
           if r.ceiling_per_s is not None else "")
    v = r.vertex_name or "the job"
    if r.reason == RefusalReason.DATA_SKEW:
        if r.share is None or r.rate_per_s is None:
            return (f"{v}: data skew on subtask(s) {_subtasks(r)}: more parallelism does not "
                    "spread a hot key")
        return (f"{v}: data skew: {r.share:.0%} of its records go to subtask(s) "
                f"{_subtasks(r)}, which process {rate(r.rate_per_s)} records/s at full load, "
                f"and every record of a key goes to the same subtask at any parallelism{top}. "
                "Spread the hot keys (salting, local pre-aggregation) instead")
    if r.reason == RefusalReason.SPLIT_CAP:
        return (f"{v}: the source has {_i(r.available)} splits and runs {_i(r.now)} "
                f"subtasks; it would need {_i(r.needed)}, and a subtask without a split "
                f"reads nothing{top}. Split the chain after the source, or add partitions")
    if r.reason == RefusalReason.MAX_PARALLELISM:
        return (f"{v}: runs at its max parallelism {_i(r.available)}; it would need "
                f"{_i(r.needed)}{top}. Raising the max parallelism takes a savepoint and a "
                "restart (keyed state is split into that many key groups)")
    if r.reason == RefusalReason.SATURATED_CPU:
        return (f"the cores are the limit: the job's work takes {r.now or 0:.1f} of its "
                f"TaskManagers' hosts' {r.available or 0:.0f} cores now, and the change would "
                f"take {r.needed or 0:.1f}{top}. More subtasks would share cores that are "
                "already busy: add TaskManagers on other hosts, or make the work cheaper")
    if r.reason == RefusalReason.MISSING_SLOTS:
        return (f"not enough free slots: the change takes {_i(r.needed)} more slot(s) and the "
                f"cluster has {_i(r.available)} free, {_i(r.missing)} missing. Add "
                "TaskManagers (or slots) first")
    if r.reason == RefusalReason.RESTARTING:
        return (f"the job is restarting ({r.state}, attempt {_i(r.now)}): tune a job that "
                "runs steadily")
    return (f"checkpoints are failing ({_i(r.needed)} failed, {_i(r.available)} completed in "
            "the window): a rescale restarts from the latest completed checkpoint. Fix the "
            "checkpoints first")


def _i(x: float | None) -> str:
    return "?" if x is None else f"{x:.0f}"


def _subtasks(r: Refusal) -> str:
    return ", ".join(map(str, r.subtasks)) or "?"


def plan_table(p: TunePlan) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for col, just in (("task", "left"), ("now", "right"), ("plan", "right"),
                      ("needs in/s", "right"), ("per subtask/s", "right"),
                      ("busy after", "right"), ("", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for v in p.vertices:
        note = ""
        if v.capped == RefusalReason.SPLIT_CAP:
            note = f"capped by {v.cap} splits"
        elif v.capped == RefusalReason.MAX_PARALLELISM:
            note = f"capped by max parallelism {v.cap}"
        if v.uneven > 1.0 and v.changed:
            note = (note + "; " if note else "") + f"x{v.uneven:.1f} for the uneven input"
        table.add_row(
            Text(v.name, style="bold" if v.changed else ""), str(v.old),
            Text(str(v.new), style="bold cyan" if v.changed else "dim"),
            _n(v.need_per_s), _n(v.true_rate_per_subtask),
            "-" if v.utilisation is None else f"{v.utilisation:.0%}", note)
    return table


def render_plan(p: TunePlan) -> Group:
    parts: list[object] = []
    head = Text()
    head.append(p.job_name or p.job_id, style="bold")
    head.append(f"  ({p.job_id[:8]})  ")
    head.append(f"plan: {p.status}", style=STATUS_STYLE[p.status])
    if p.forced:
        head.append("  (forced)", style="bold red")
    parts.append(head)
    if p.target_per_s is not None:
        filling = ""
        if (p.emitted_per_s and p.current_per_s
                and p.emitted_per_s > 1.05 * p.current_per_s):
            filling = f" (the sources emit {_n(p.emitted_per_s)} while buffers fill)"
        parts.append(Text(
            f"the job carries {_n(p.current_per_s)} records/s{filling}; target "
            f"{_n(p.target_per_s)} ({BASIS[p.target_basis]}), each task at most "
            f"{p.utilisation_target:.0%} busy"))
    if p.predicted_per_s is not None:
        parts.append(plan_table(p))
        line = f"predicted: {_n(p.predicted_per_s)} records/s at the sources"
        if p.next_bottleneck:
            line += (f"; next bottleneck: {p.next_bottleneck} (busy 100% at "
                     f"{_n(p.next_ceiling_per_s)} records/s)")
        parts.append(Text(line))
        if p.slots_needed:
            free = "" if p.slots_free is None else f" ({p.slots_free} free)"
            parts.append(Text(f"slots: {p.slots_needed} more{free}", style="dim"))
    if p.unknown is not None:
        parts.append(Text(UNKNOWN[p.unknown], style="yellow"))
    for r in p.refusals:
        forced = p.forced and r.reason.forceable
        parts.append(Text(("○ overridden by --force: " if forced else "✗ refused: ")
                          + refusal_text(r), style="yellow" if forced else "red"))
    if p.status == PlanStatus.NOTHING:
        parts.append(Text("every task carries the target at the target utilisation: "
                          "nothing to change", style="green"))
    return Group(*parts)  # type: ignore[arg-type]


def operator_override(p: TunePlan) -> str:
    """`pipeline.jobvertex-parallelism-overrides` for the changed vertices (Flink's map
    syntax: `vertexId:parallelism,...`)."""
    return ",".join(f"{v.vertex_id}:{v.new}" for v in p.changes)


def manual_change(p: TunePlan) -> list[str]:
    """The change for a job whose scheduler cannot rescale it while it runs: the Kubernetes
    operator's override, and the savepoint-and-restart recipe, per operator."""
    per_vertex = [f"    {v.name}: {v.old} -> {v.new}   (vertex {v.vertex_id})"
                  for v in p.changes]
    return [
        "The job's scheduler cannot change its parallelism while it runs (Flink's adaptive "
        "scheduler can: jobmanager.scheduler: adaptive). flowscope wrote nothing. The change:",
        *per_vertex,
        "",
        "With the Flink Kubernetes operator, in the FlinkDeployment (the operator restarts the "
        "job from a savepoint, with upgradeMode: savepoint):",
        "  spec:",
        "    flinkConfiguration:",
        f'      {OPERATOR_KEY}: "{operator_override(p)}"',
        "",
        "Elsewhere, a savepoint and a restart:",
        f"  flink stop --savepointPath <dir> {p.job_id}",
        f'  flink run -s <savepoint path> -D{OPERATOR_KEY}="{operator_override(p)}" <job>',
        "  (or set each operator's parallelism in the job: "
        + ", ".join(f"{v.name} .setParallelism({v.new})" for v in p.changes) + ")",
    ]


def render_verification(v: Verification, threshold: float) -> Group:
    parts: list[object] = []
    head = Text("verified: ")
    head.append(str(v.effect), style=EFFECT_STYLE[v.effect])
    parts.append(head)
    ratio = "" if v.ratio is None else f" ({v.ratio:.0%} of predicted)"
    parts.append(Text(f"records/s at the sources: before {_n(v.before_per_s)}, predicted "
                      f"{_n(v.predicted_per_s)}, measured {_n(v.measured_per_s)}{ratio}"))
    if v.gain_share is not None:
        parts.append(Text(f"measured gain {v.gain_share:.0%} of the predicted gain "
                          f"(ineffective under {threshold:.0%})", style="dim"))
    parts.append(render_diff(v.diff, compact=True))
    return Group(*parts)  # type: ignore[arg-type]
