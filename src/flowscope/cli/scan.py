"""`flowscope scan`: every running job of a fleet, one table, the most held-back job first."""

from __future__ import annotations

import sys
import time
from typing import Any

import click
from rich.markup import escape

from flowscope.analysis.findings import Verdict
from flowscope.analysis.fleet import FleetRow, ScanError, ordered, row_of, worst
from flowscope.cli.common import (
    EXIT_ERROR,
    EXIT_FOR,
    POSITIVE,
    check_url,
    err_console,
    friendly_errors,
    headers_of,
)
from flowscope.render.safe import console as safe_console


@click.command()
@click.option("--url", "-u", "urls", multiple=True, callback=check_url, metavar="URL",
              help="A Flink cluster's REST URL. Repeatable: several clusters are scanned "
                   "concurrently. Beside --prometheus, the JobManagers of the jobs in the "
                   "store: each backpressured or limited job they still run is judged again "
                   "with its graph's edges and its bottleneck's flame graphs. Env "
                   "FLOWSCOPE_URL (one URL) when neither --url nor --prometheus is given.")
@click.option("--prometheus", default=None, metavar="URL", envvar="FLOWSCOPE_PROMETHEUS",
              callback=check_url,
              help="Scan every job with Flink task series in this Prometheus-compatible store "
                   "(Flink's PrometheusReporter scraped), in a constant number of queries "
                   "whatever the number of jobs. Env FLOWSCOPE_PROMETHEUS.")
@click.option("--at", "at", default=None, metavar="TIME",
              help="With --prometheus: judge the WINDOW seconds before TIME (RFC 3339 "
                   "2026-11-30T02:10:00Z, relative -2h, or `now`). Default: now.")
@click.option("--window", type=POSITIVE, default=None,
              help="Seconds judged: over REST the last WINDOW seconds sampled (default 60); "
                   "with --prometheus the WINDOW seconds before --at (default 120).")
@click.option("--lookback", type=POSITIVE, default=3600.0, show_default=True,
              help="With --prometheus: how far back to look for how long each job's verdict "
                   "has held, in seconds.")
@click.option("--duration", type=POSITIVE, default=60.0, show_default=True,
              help="Over REST: the longest time to sample each job, in seconds (it stops "
                   "sooner once the job's verdict holds over consecutive metric snapshots).")
@click.option("--interval", type=POSITIVE, default=2.0, show_default=True,
              help="Over REST: seconds between polls of each job.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Over REST: jobs sampled at once, across all clusters.")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'",
              help="Extra HTTP header for every request (REST and Prometheus). Repeatable.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the scan as JSON (schema flowscope.scan/1: a row per job with its "
                   "full diagnosis).")
@friendly_errors
def scan(urls: tuple[str, ...], prometheus: str | None, at: str | None, window: float | None,
         lookback: float, duration: float, interval: float, concurrency: int,
         headers: tuple[str, ...], as_json: bool) -> None:
    """Diagnose every running job at once: a table sorted by severity (job, verdict,
    bottleneck, cause, for how long, the action with its number).

    Over REST (--url, repeatable) each running job is sampled as `diagnose` samples it, with
    every vertex's gauges read aggregated over its subtasks, so requests grow with vertices,
    never subtasks. Over Prometheus (--prometheus) one set of queries aggregates across all
    jobs, judged by the rules `diagnose` uses; the bottleneck is located from busy /
    backpressured time without the job graph (Prometheus has no edges), and whether a busy
    task computes or waits is told from the TaskManagers' CPU time where it can be, else said
    to be unknown. With --url beside --prometheus, the jobs that need a look and still run
    there are judged again with their graph and flame graphs.

    Exit code: the most severe verdict among the jobs, as `diagnose` (1 backpressured,
    5 limited, 3 could not tell, 0 all healthy); 4 when a source could not be read and no job
    is backpressured or limited.
    """
    import os

    from flowscope.render import fleet as render

    extra = headers_of(headers)
    if not urls and not prometheus:
        env = os.environ.get("FLOWSCOPE_URL")
        if not env:
            raise click.UsageError("give --url URL (repeatable) or --prometheus URL")
        urls = tuple(check_url(None, None, (env,)))
    if at is not None and not prometheus:
        raise click.UsageError("--at reads the past: it needs --prometheus")
    err = err_console()
    rows: list[FleetRow] = []
    errors: list[ScanError] = []
    notes: list[str] = []
    stats: dict[str, Any] = {}
    started = time.monotonic()
    if prometheus:
        rows_p, notes_p, stats_p = _scan_prometheus(prometheus, at, window or 120.0, lookback,
                                                     extra, quiet=as_json, jobmanagers=urls)
        rows += rows_p
        notes += notes_p
        stats.update(stats_p)
    elif urls:
        from flowscope.scan import ScanProgress, scan_rest

        with err.status("listing jobs ...", spinner="dots") as status:

            def show(p: ScanProgress) -> None:
                if not as_json:
                    status.update(f"sampled {p.done} of {p.total} jobs (last: "
                                  f"{escape(p.last)}) ...")

            rows_r, errors = scan_rest(urls, headers=extra, duration_s=duration,
                                       interval_s=interval, window_s=window or 60.0,
                                       concurrency=concurrency, progress=show)
        rows += rows_r
        stats["clusters"] = len(urls)
    stats["seconds"] = round(time.monotonic() - started, 3)
    stats["jobs"] = len(rows)
    rows = ordered(rows)
    if as_json:
        click.echo(render.render_json(rows, errors, notes, stats))
    else:
        safe_console().print(render.table(rows, errors, notes))
    sys.exit(_exit_code(rows, errors))


def _exit_code(rows: list[FleetRow], errors: list[ScanError]) -> int:
    top = worst(rows)
    if top in (Verdict.RESTARTING, Verdict.BACKPRESSURED, Verdict.LIMITED):
        return EXIT_FOR[top]
    if errors:
        return EXIT_ERROR
    return EXIT_FOR[top or Verdict.HEALTHY]


def _scan_prometheus(url: str, at: str | None, window: float, lookback: float,
                     headers: dict[str, str], quiet: bool, jobmanagers: tuple[str, ...] = ()
                     ) -> tuple[list[FleetRow], list[str], dict[str, Any]]:
    from flowscope.postmortem import parse_time
    from flowscope.scan import scan_prometheus

    when = parse_time(at) if at is not None else parse_time("now")
    err = err_console()
    with err.status("querying Prometheus ...", spinner="dots") as status:

        def show(text: str) -> None:
            if not quiet:
                status.update(escape(text))

        found = scan_prometheus(url, at=when, window_s=window, lookback_s=lookback,
                                headers=headers, progress=show, jobmanagers=jobmanagers)
    rows = [row_of(d, url, found.since_s.get(d.job_id)) for d in found.diagnoses]
    notes = list(found.notes)
    if rows:
        notes.append(f"{url}: {found.queries} queries for {len(rows)} jobs, names as Flink's "
                     "reporter writes them; `flowscope diagnose --prometheus URL --job ID "
                     "--url JOBMANAGER --start ...` looks closer")
    return rows, notes, {"queries": found.queries, "bytes_in": found.bytes_in}
