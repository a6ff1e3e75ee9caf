"""`flowscope diff`: compare two windows of a job."""

from __future__ import annotations

import sys

import click

from flowscope.cli.common import (
    DEFAULT_URL,
    POSITIVE,
    check_url,
    friendly_errors,
    headers_of,
)

EXIT_SAME = 0  # no change beyond noise
EXIT_CHANGED = 1  # something changed beyond noise


@click.command()
@click.argument("windows", nargs=-1, metavar="[A [B]]")
@click.option("--job", "-j", default=None, metavar="ID|NAME",
              help="Job id or (part of) its name: which job of a recording, or of Prometheus.")
@click.option("--window", type=POSITIVE, default=60.0, show_default=True,
              help="Compare the last WINDOW seconds of each side.")
@click.option("--prometheus", default=None, metavar="URL", envvar="FLOWSCOPE_PROMETHEUS",
              help="Read both windows from this Prometheus-compatible store: A and B are then "
                   "times (RFC 3339, relative like -2h, or `now`), each the end of a window.")
@click.option("--url", "-u", envvar="FLOWSCOPE_URL", default=DEFAULT_URL, show_default=True,
              callback=check_url, help="With --prometheus: where the job graph comes from "
              "(the JobManager, or a HistoryServer).")
@click.option("--graph-from", type=click.Path(dir_okay=False), default=None,
              help="With --prometheus: take the job graph from this recording.")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'",
              help="Extra HTTP header for Prometheus and the JobManager. Repeatable.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the comparison as JSON (schema flowscope.diff/1, see docs/diff.md).")
@friendly_errors
def diff(windows: tuple[str, ...], job: str | None, window: float, prometheus: str | None,
         url: str, graph_from: str | None, headers: tuple[str, ...], as_json: bool) -> None:
    """Compare two windows of a job: each task's busy / backpressured / idle and records/s
    before (A) and after (B), where the bottleneck went, the causes that appeared or went
    away, and the throughput change, each said only beyond the noise band.

    \b
      flowscope diff before.fsrec after.fsrec      the newest window of each recording
      flowscope diff run.fsrec                     before and after its newest rescale or restart
      flowscope diff --prometheus URL --job J -- -2h now
                                                   two windows of one job, ending at A and B

    Exit code: 0 no change beyond noise, 1 a change, 2 usage error, 4 error.
    """
    from flowscope import diffing
    from flowscope.analysis.diff import compare
    from flowscope.render.diff import render_diff, render_json
    from flowscope.render.safe import console as safe_console

    if prometheus:
        if len(windows) != 2:
            raise click.UsageError("with --prometheus, give two times: A B (e.g. -- -2h now)")
        if not job:
            raise click.UsageError("--prometheus needs --job ID|NAME")
        a, b = (diffing.prometheus_window(prometheus, job, t, window, graph_url=url,
                                          graph_from=graph_from, headers=headers_of(headers))
                for t in windows)
    elif len(windows) == 1:
        a, b = diffing.around_change(windows[0], job, window)
    elif len(windows) == 2:
        a, b = (diffing.newest_window(path, job, window) for path in windows)
    else:
        raise click.UsageError("give two recordings (A B), or one recording with a rescale "
                               "or restart in it")
    result = compare(a, b)
    if as_json:
        click.echo(render_json(result))
    else:
        safe_console().print(render_diff(result))
    sys.exit(EXIT_SAME if result.within_noise else EXIT_CHANGED)
