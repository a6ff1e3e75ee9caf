"""`flowscope tune`: the plan for a running job; with --apply, the change, its verification
and (on request) its rollback."""

from __future__ import annotations

import getpass
import json
import socket
import sys
from typing import Any

import click
from rich.text import Text

from flowscope.cli.common import (
    EXIT_ERROR,
    EXIT_UNKNOWN,
    POSITIVE,
    Positive,
    err_console,
    friendly_errors,
    headers_of,
    source_options,
)
from flowscope.errors import FlowscopeError

# Exit codes of `tune` (README): 0, 3 and 4 as every command's; these are its own.
EXIT_REFUSED = 6  # more parallelism cannot help (or cannot be had): nothing written
EXIT_INEFFECTIVE = 7  # applied, and the measured gain fell short (rolled back on request)
EXIT_NOT_APPLIED = 8  # the job's scheduler cannot rescale it, no write access, or declined


@click.command()
@source_options
@click.option("--target-rate", type=POSITIVE, default=None,
              help="Records/s the sources should sustain (default: what they would emit if "
                   "nothing held them back).")
@click.option("--apply", "apply_", is_flag=True,
              help="Make the change (asks first; --yes does not) through Flink's adaptive "
                   "scheduler, wait for the rescale, then verify it. Without the adaptive "
                   "scheduler, prints the change to make instead and writes nothing.")
@click.option("--yes", "-y", is_flag=True, help="With --apply: do not ask for confirmation.")
@click.option("--force", is_flag=True,
              help="Apply despite a refusal that more parallelism cannot help (data skew, "
                   "split cap, max parallelism, busy cores); never despite missing slots, a "
                   "restarting job or failing checkpoints.")
@click.option("--rollback-if-ineffective", is_flag=True,
              help="With --apply: restore the previous requirements when the measured gain "
                   "is under --threshold of the predicted one, and look again.")
@click.option("--threshold", type=Positive(), default=0.5, show_default=True,
              help="Share of the predicted gain in records/s under which a change is "
                   "ineffective.")
@click.option("--journal", "journal_to", type=click.Path(dir_okay=False), default=None,
              help="Append every step (apply, verify, rollback) to this JSON-lines file.")
@click.option("--record", "record_to", type=click.Path(dir_okay=False), default=None,
              help="Record every poll (and the journal) to this file.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the outcome as JSON (schema flowscope.tune/1, see docs/tune.md).")
@click.option("--duration", type=POSITIVE, default=120.0, show_default=True,
              help="Longest time to sample the job before planning, in seconds.")
@click.option("--verify-duration", type=POSITIVE, default=120.0, show_default=True,
              help="Longest time to sample the job after the rescale, in seconds.")
@click.option("--rescale-timeout", type=POSITIVE, default=180.0, show_default=True,
              help="Longest wait for the job to run at its new parallelism, in seconds.")
@click.option("--window", type=POSITIVE, default=60.0, show_default=True,
              help="Judge the last WINDOW seconds of samples.")
@click.option("--interval", type=POSITIVE, default=1.0, show_default=True,
              help="Seconds between polls.")
@friendly_errors
def tune(url: str, job: str | None, headers: tuple[str, ...], from_file: str | None,
         target_rate: float | None, apply_: bool, yes: bool, force: bool,
         rollback_if_ineffective: bool, threshold: float, journal_to: str | None,
         record_to: str | None, as_json: bool, duration: float, verify_duration: float,
         rescale_timeout: float, window: float, interval: float) -> None:
    """The plan for a running job: every task's parallelism in one step (true processing
    rates, as DS2 and Flink's autoscaler size them), the predicted throughput and the next
    bottleneck, or why more parallelism cannot help. A dry run unless --apply.

    Exit code: 0 a plan (or nothing to change); with --apply, applied and effective.
    6 refused (nothing written), 7 applied but ineffective, 8 not applied (the scheduler
    cannot rescale a running job, no write access, or not confirmed), 3 could not tell,
    4 error.
    """
    from flowscope.render.safe import console as safe_console
    from flowscope.render.tune import render_plan

    if from_file and (apply_ or record_to):
        raise click.UsageError("--from plans from a recording: not with --apply or --record")
    if (yes or rollback_if_ineffective) and not apply_:
        raise click.UsageError("--yes and --rollback-if-ineffective go with --apply")
    out_console = safe_console()
    err = err_console()
    if from_file:
        p, scheduler = _plan_from_recording(from_file, job, window, target_rate, force)
        _finish_dry(p, scheduler, as_json, out_console)
        return
    from flowscope.tuning import Outcome, Tuner

    tuner = Tuner(url, job, headers=headers_of(headers), record_to=record_to,
                  journal_to=journal_to, interval_s=interval, window_s=window,
                  target_rate=target_rate, user=f"{getpass.getuser()}@{socket.gethostname()}",
                  on_progress=None if as_json else _progress(err))
    before = tuner.observe(duration)
    p = tuner.plan(before, force=force)
    scheduler = before.requirements.scheduler.value
    if not apply_ or not p.applicable:
        if apply_ and not as_json:
            err.print("nothing written", style="yellow")
        _finish_dry(p, scheduler, as_json, out_console)
        return
    out = Outcome(plan=p, before=before)
    if not as_json:
        out_console.print(render_plan(p))
    if scheduler != "adaptive":
        _not_applied(out, scheduler, as_json, out_console, "scheduler")
    if not yes and not _confirmed(p, url):
        _not_applied(out, scheduler, as_json, out_console, "declined")
    from flowscope.flink.writer import WriteNotAllowed

    try:
        tuner.run(out, verify_s=verify_duration, rollback_if_ineffective=rollback_if_ineffective,
                  threshold=threshold, timeout_s=rescale_timeout)
    except WriteNotAllowed as exc:
        if out.applied:  # the rollback's write was refused: the change stays in place
            raise FlowscopeError(f"{exc}: the change stays applied; restore the previous "
                                 "requirements by hand") from None
        err.print(f"{exc}: no write access", style="yellow")
        _not_applied(out, scheduler, as_json, out_console, "no-write-access")
    _finish_applied(out, scheduler, threshold, as_json, out_console)


def _progress(err: Any) -> Any:
    def show(phase: str, prog: Any) -> None:
        if prog.polls == 1 or prog.polls % 10 == 0:
            err.print(f"sampling ({phase}): {prog.polls} polls, counters cover "
                      f"{prog.window_s:.0f} s", style="dim")

    return show


def _confirmed(p: Any, url: str) -> bool:
    changes = ", ".join(f"{v.name} {v.old} -> {v.new}" for v in p.changes)
    try:
        return click.confirm(f"Change {p.job_name} ({p.job_id[:8]}) on {url}: {changes}?",
                             default=False, err=True)
    except click.Abort:
        return False


def _plan_from_recording(path: str, job: str | None, window: float,
                         target_rate: float | None, force: bool) -> tuple[Any, str]:
    from flowscope.analysis.plan import plan
    from flowscope.tuning import observation_from_recording

    obs = observation_from_recording(path, job, window, target_rate)
    p = plan(obs.diagnosis, obs.facts, target_rate=target_rate, force=force)
    return p, obs.requirements.scheduler.value


def _exit_for_plan(p: Any) -> int:
    from flowscope.analysis.plan import PlanStatus

    return {PlanStatus.CHANGE: 0, PlanStatus.NOTHING: 0, PlanStatus.REFUSED: EXIT_REFUSED,
            PlanStatus.UNKNOWN: EXIT_UNKNOWN}[p.status]


def _finish_dry(p: Any, scheduler: str, as_json: bool, console: Any) -> None:
    from flowscope.render.tune import render_plan
    from flowscope.render.tunejson import SCHEMA, manual_change_dict, plan_dict

    if as_json:
        doc = {"schema": SCHEMA, "job_id": p.job_id, "job_name": p.job_name,
               "scheduler": scheduler, "plan": plan_dict(p), "applied": False,
               "not_applied": None,
               "change": manual_change_dict(p) if p.changes else None, "steps": []}
        click.echo(json.dumps(doc, indent=2, allow_nan=False))
    else:
        console.print(render_plan(p))
    sys.exit(_exit_for_plan(p))


def _not_applied(out: Any, scheduler: str, as_json: bool, console: Any, why: str) -> None:
    from flowscope.render.tune import manual_change

    if as_json:
        _print_json(out, scheduler, why)
    else:
        for line in manual_change(out.plan):
            console.print(Text(line))
    sys.exit(EXIT_NOT_APPLIED)


def _print_json(out: Any, scheduler: str, not_applied: str | None) -> None:
    from flowscope.render.tunejson import (
        SCHEMA,
        manual_change_dict,
        plan_dict,
        verification_dict,
    )

    p = out.plan
    doc = {
        "schema": SCHEMA, "job_id": p.job_id, "job_name": p.job_name, "scheduler": scheduler,
        "plan": plan_dict(p), "applied": out.applied, "not_applied": not_applied,
        "change": manual_change_dict(p) if p.changes else None,
        "rescale_s": out.rescale.seconds if out.rescale else None,
        "scheduler_rescale_s": out.rescale.scheduler_s if out.rescale else None,
        "verification": verification_dict(out.verification) if out.verification else None,
        "apply_to_verdict_s": out.apply_to_verdict_s,
        "rolled_back": out.rolled_back,
        "steps": out.entries,
    }
    click.echo(json.dumps(doc, indent=2, allow_nan=False))


def _finish_applied(out: Any, scheduler: str, threshold: float, as_json: bool,
                    console: Any) -> None:
    from flowscope.analysis.verify import Effect
    from flowscope.render.tune import render_verification

    v = out.verification
    if as_json:
        _print_json(out, scheduler, None)
    else:
        r = out.rescale
        if r is not None:
            console.print(Text(
                f"rescaled in {r.seconds:.1f} s" + (
                    f" (the scheduler's own account: {r.scheduler_s:.1f} s)"
                    if r.scheduler_s is not None else "")
                if r.done else f"the job did not run at its new parallelism within "
                               f"{r.seconds:.0f} s", style="bold" if r.done else "bold red"))
        if v is not None:
            console.print(render_verification(v, threshold))
        if out.apply_to_verdict_s is not None:
            console.print(Text(f"from the change to a verified verdict: "
                               f"{out.apply_to_verdict_s:.0f} s", style="dim"))
        if out.rolled_back:
            rr = out.rollback_rescale
            console.print(Text(
                "rolled back to the previous requirements"
                + (f" in {rr.seconds:.1f} s" if rr and rr.done else ", but the job did not "
                   "return to its previous parallelism"), style="bold yellow"))
    if v is None or v.effect == Effect.UNVERIFIED:
        sys.exit(EXIT_UNKNOWN if out.rescale and out.rescale.done else EXIT_ERROR)
    sys.exit(EXIT_INEFFECTIVE if v.effect == Effect.INEFFECTIVE else 0)
