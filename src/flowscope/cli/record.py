"""`flowscope record`: every poll of a job to one SQLite file."""

from __future__ import annotations

import click
from rich.markup import escape

from flowscope.cli.common import (
    DEFAULT_URL,
    POSITIVE,
    check_url,
    err_console,
    friendly_errors,
    headers_of,
    safe_text,
)
from flowscope.deadline import Deadline

# A job in any other state has ended (unless a job of the same name follows it).
LIVE_STATES = ("RUNNING", "CREATED", "RESTARTING", "INITIALIZING")


@click.command()
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--url", "-u", envvar="FLOWSCOPE_URL", default=DEFAULT_URL, show_default=True,
              callback=check_url, help="Flink REST URL; env FLOWSCOPE_URL.")
@click.option("--job", "-j", default=None, metavar="ID|NAME", help="Job id or name.")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'",
              help="Extra HTTP header. Repeatable.")
@click.option("--interval", type=POSITIVE, default=2.0, show_default=True,
              help="Seconds between polls.")
@click.option("--duration", type=POSITIVE, default=None,
              help="Stop after this many seconds (default: until Ctrl-C or the job ends).")
@friendly_errors
def record(output: str, url: str, job: str | None, headers: tuple[str, ...], interval: float,
           duration: float | None) -> None:
    """Record every poll of a job to OUTPUT (SQLite; readable while written; appends).

    Polls that fail (the cluster restarting, a request that fails) are counted and noted in
    the file; recording goes on. A job selected by name is followed to its new id when it is
    resubmitted. Any command with --from reads the recording instead of a live cluster.
    When every poll failed, the command ends with one line saying how many and the last
    error, and exit code 4.
    """
    deadline = Deadline(duration)  # --duration counts from here, whatever the polls do
    from flowscope.recording import file_size
    from flowscope.sampling import LiveSession

    err = err_console()
    session = LiveSession(url, job, headers=headers_of(headers), record_to=output,
                          interval_s=interval, deadline=deadline)
    said = 0
    try:
        with err.status("recording ...") as status:
            for r in session.rounds(interval_s=interval):
                size = file_size(session.recorder.path) if session.recorder else 0
                for switch in session.switches[said:]:
                    err.print(escape(switch))
                said = len(session.switches)
                missed = (f", {session.failed} of {session.polls} failed (the last: "
                          f"{(session.last_error or '')[:80]})" if session.failed else "")
                status.update(
                    f"recording {escape(session.job.name)} to {escape(output)}: "
                    f"{session.recorder.polls if session.recorder else 0} polls"
                    f"{escape(missed)}, {deadline.elapsed():.0f} s, {size / 1024:.0f} KiB "
                    "(Ctrl-C stops)"
                )
                sample = r.sample
                if sample is not None and sample.job_state not in LIVE_STATES:
                    err.print(f"job is {escape(sample.job_state)}; stopping")
                    break
    except KeyboardInterrupt:
        pass
    finally:
        polls = session.recorder.polls if session.recorder else 0
        session.close()
        err.print(f"recorded {polls} polls to {escape(output)}")
        if session.failed and session.succeeded:  # one line (rich would wrap it)
            click.echo(safe_text(f"{session.failed} of {session.polls} polls failed and were "
                                 f"not recorded; the last error: {session.last_error}"),
                       err=True)
    failed = session.all_failed()
    if failed is not None:
        raise failed
