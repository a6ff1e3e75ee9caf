"""`flowscope diagnose` and `flowscope jobs`."""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from flowscope.analysis.findings import Diagnosis
from flowscope.cli.common import (
    DEFAULT_URL,
    EXIT_FOR,
    POSITIVE,
    check_url,
    err_console,
    friendly_errors,
    headers_of,
    source_options,
)
from flowscope.cli.history import history_diagnosis, history_options
from flowscope.deadline import Deadline
from flowscope.render.safe import console as safe_console


@click.command()
@source_options
@click.option("--json", "as_json", is_flag=True, help="Print the diagnosis as JSON "
              "(schema flowscope.diagnosis/3, see docs/json-schema.md).")
@click.option("--duration", type=POSITIVE, default=120.0, show_default=True,
              help="Longest time to sample a live job, in seconds. Sampling stops as soon as "
                   "the verdict holds over consecutive metric snapshots (usually 20-50 s: "
                   "Flink refreshes metrics every ~10 s); a bottleneck that moves (a window "
                   "firing) or a cause that changes keeps it sampling.")
@click.option("--interval", type=POSITIVE, default=1.0, show_default=True,
              help="Seconds between polls of a live job.")
@click.option("--window", type=POSITIVE, default=60.0, show_default=True,
              help="Judge the last WINDOW seconds of samples.")
@click.option("--target-rate", type=POSITIVE, default=None,
              help="Records/s the sources should sustain; sizes the recommended parallelism "
                   "(default: the rate the sources would emit if nothing held them back).")
@click.option("--record", "record_to", type=click.Path(dir_okay=False), default=None,
              help="Also record the polls to this file.")
@click.option("--verbose", "-v", is_flag=True, help="Show all evidence.")
@history_options
@friendly_errors
def diagnose(url: str, job: str | None, headers: tuple[str, ...], from_file: str | None,
             as_json: bool, duration: float, interval: float, window: float,
             target_rate: float | None, record_to: str | None, verbose: bool,
             **history: str | None) -> None:
    """One verdict for a job: each task's busy / backpressured / idle, the bottleneck(s),
    the cause with its evidence, and what to do.

    Exit code: 0 healthy, 1 backpressured, 5 limited (no backpressure, but the first task
    runs at its limit), 3 could not tell, 4 error (every poll failed, too: the line on stderr
    says how many and the last error). With --json an error is also a JSON document on
    stdout (schema flowscope.error/1).
    """
    deadline = Deadline(duration)  # --duration counts from here, whatever the polls do
    from flowscope import api
    from flowscope.errors import FlowscopeError
    from flowscope.render import jsonout, terminal

    try:
        if history["prometheus"]:
            d = history_diagnosis(url, job, headers_of(headers), window, target_rate,
                                  **history)  # type: ignore[arg-type]
        elif from_file:
            d = api.diagnose_recording(from_file, job, window_s=window,
                                       target_rate=target_rate)
        else:
            d = _diagnose_live(url, job, headers_of(headers), deadline, interval, window,
                               target_rate, record_to, quiet=as_json)
    except FlowscopeError as exc:
        if as_json:  # a script reading stdout learns what went wrong too
            click.echo(jsonout.render_error(exc))
        raise
    if as_json:
        click.echo(jsonout.render(d))
    else:
        terminal.print_diagnosis(d, safe_console(), verbose=verbose)
    sys.exit(EXIT_FOR[d.verdict])


def _diagnose_live(url: str, job: str | None, headers: dict[str, str], deadline: Deadline,
                   interval: float, window: float, target_rate: float | None,
                   record_to: str | None, quiet: bool) -> Diagnosis:
    from flowscope.sampling import LiveSession, Progress, sample_until_confident

    err = err_console()
    session = LiveSession(url, job, headers=headers, record_to=record_to, interval_s=interval,
                          deadline=deadline)
    try:
        with err.status(f"sampling {escape(session.job.name)} ...", spinner="dots") as status:

            def show(p: Progress) -> None:
                up = f"up {p.uptime_s:.0f} s, " if p.uptime_s is not None else ""
                status.update(f"sampling {escape(session.job.name)}: {p.polls} polls, {up}"
                              f"counters cover {p.window_s:.0f} s ...")

            def failing(s: LiveSession) -> None:
                status.update(escape(f"sampling {s.job.name}: {s.failed} of {s.polls} polls "
                                     f"failed (the last: {(s.last_error or '')[:80]}) ..."))

            _, _, d = sample_until_confident(
                session, interval_s=interval, max_duration_s=deadline.seconds or 120.0,
                window_s=window, target_rate=target_rate,
                on_progress=None if quiet else show, on_failure=None if quiet else failing,
            )
        return d
    finally:
        session.close()


@click.command()
@click.option("--url", "-u", envvar="FLOWSCOPE_URL", default=DEFAULT_URL, show_default=True,
              callback=check_url, help="Flink REST URL; env FLOWSCOPE_URL.")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'",
              help="Extra HTTP header. Repeatable.")
@friendly_errors
def jobs(url: str, headers: tuple[str, ...]) -> None:
    """List the cluster's jobs (running first)."""
    from flowscope.flink.rest import FlinkRestSource

    with FlinkRestSource(url, headers=headers_of(headers)) as src:
        for j in src.jobs():
            click.echo(f"{j.id}  {j.state:<10} {j.name}")
