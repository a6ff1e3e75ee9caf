"""`flowscope record`: every poll of a job to one SQLite file."""

from __future__ import annotations

import time

import click

from flowscope.cli.common import DEFAULT_URL, err_console, friendly_errors, headers_of


@click.command()
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--url", "-u", envvar="FLOWSCOPE_URL", default=DEFAULT_URL, show_default=True,
              help="Flink REST URL; env FLOWSCOPE_URL.")
@click.option("--job", "-j", default=None, metavar="ID|NAME", help="Job id or name.")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'",
              help="Extra HTTP header. Repeatable.")
@click.option("--interval", type=float, default=2.0, show_default=True,
              help="Seconds between polls.")
@click.option("--duration", type=float, default=None,
              help="Stop after this many seconds (default: until Ctrl-C or the job ends).")
@friendly_errors
def record(output: str, url: str, job: str | None, headers: tuple[str, ...], interval: float,
           duration: float | None) -> None:
    """Record every poll of a job to OUTPUT (SQLite; readable while written; appends).

    Any command with --from reads the recording instead of a live cluster.
    """
    from flowscope.recording import file_size
    from flowscope.sampling import LiveSession

    err = err_console()
    session = LiveSession(url, job, headers=headers_of(headers), record_to=output)
    start = time.monotonic()
    try:
        with err.status("recording ...") as status:
            for _, sample in session.samples(interval_s=interval, duration_s=duration):
                size = file_size(session.recorder.path) if session.recorder else 0
                status.update(
                    f"recording {session.job.name} to {output}: "
                    f"{session.recorder.polls if session.recorder else 0} polls, "
                    f"{time.monotonic() - start:.0f} s, {size / 1024:.0f} KiB (Ctrl-C stops)"
                )
                if sample.job_state not in ("RUNNING", "CREATED", "RESTARTING", "INITIALIZING"):
                    err.print(f"job is {sample.job_state}; stopping")
                    break
    except KeyboardInterrupt:
        pass
    finally:
        polls = session.recorder.polls if session.recorder else 0
        session.close()
        err.print(f"recorded {polls} polls to {output}")
