"""`flowscope report`: a self-contained HTML report from a recording or a live run."""

from __future__ import annotations

import time

import click
from rich.markup import escape

from flowscope.analysis.diff import WindowDiff
from flowscope.cli.common import (
    POSITIVE,
    err_console,
    friendly_errors,
    headers_of,
    source_options,
)
from flowscope.cli.history import history_options, history_samples
from flowscope.errors import FlowscopeError
from flowscope.model import JobGraph, Sample


def _sample_live(url: str, job: str | None, headers: dict[str, str], duration: float,
                 interval: float, record_to: str | None) -> tuple[JobGraph, list[Sample]]:
    from flowscope.deadline import Deadline
    from flowscope.sampling import LiveSession

    deadline = Deadline(duration)
    err = err_console()
    session = LiveSession(url, job, headers=headers, record_to=record_to, deadline=deadline)
    graph: JobGraph | None = None
    samples: list[Sample] = []
    try:
        with err.status(f"sampling {escape(session.job.name)} ...", spinner="dots") as status:
            try:
                for polled, sample in session.samples(interval_s=interval):
                    graph = polled
                    if samples and sample.job_id != samples[-1].job_id:
                        samples.clear()  # the job was replaced: report on the one running now
                    samples.append(sample)
                    status.update(
                        f"sampling {escape(session.job.name)}: {len(samples)} polls, "
                        f"{deadline.elapsed():.0f}/{duration:.0f} s (Ctrl-C: report now)"
                    )
            except KeyboardInterrupt:
                if not samples:
                    raise
                err.print(f"interrupted: reporting on {len(samples)} polls")
    finally:
        session.close()
    if graph is None:
        raise session.all_failed() or FlowscopeError("no poll of the job was made")
    return graph, samples


@click.command()
@source_options
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="The HTML file to write. Default: flowscope-report-<job name>.html.")
@click.option("--duration", type=POSITIVE, default=60.0, show_default=True,
              help="Seconds to sample a live job (Ctrl-C reports on what was sampled).")
@click.option("--interval", type=POSITIVE, default=1.0, show_default=True,
              help="Seconds between polls of a live job.")
@click.option("--record", "record_to", type=click.Path(dir_okay=False), default=None,
              help="Also record a live run's polls to this file.")
@click.option("--window", type=POSITIVE, default=60.0, show_default=True,
              help="The diagnosis judges the last WINDOW seconds; timelines cover everything.")
@click.option("--target-rate", type=POSITIVE, default=None,
              help="Records/s the sources should sustain; sizes the recommended parallelism.")
@click.option("--journal", "journal_from", type=click.Path(dir_okay=False), default=None,
              help="List the changes `flowscope tune --apply` journaled to this file for the "
                   "job (a recording's own journal is listed anyway).")
@click.option("--compare", "compare_with", type=click.Path(dir_okay=False), default=None,
              help="Add a comparison with the newest window of this recording (as `flowscope "
                   "diff`); a recording with a rescale or restart in it is compared around "
                   "that change anyway.")
@history_options
@friendly_errors
def report(url: str, job: str | None, headers: tuple[str, ...], from_file: str | None,
           output: str | None, duration: float, interval: float, record_to: str | None,
           window: float, target_rate: float | None, journal_from: str | None,
           compare_with: str | None, **history: str | None) -> None:
    """Write a self-contained HTML report: the job graph coloured like Flink's UI, the
    bottleneck and its cause, timelines of every task, per-subtask tables, the findings.

    The file opens offline and makes no request. Read a recording with --from, a past window
    from Prometheus with --prometheus (timelines over the whole window, at the store's
    resolution), or sample a live job for --duration seconds (optionally recording it with
    --record).
    """
    from flowscope import api

    if from_file and record_to:
        raise click.UsageError("--record applies to a live run, not to --from")
    if duration <= 0 or interval <= 0 or window <= 0:
        raise click.UsageError("--duration, --interval and --window must be positive")
    if history["prometheus"]:
        if from_file or record_to:
            raise click.UsageError("--prometheus reads the past: not with --from or --record")
        past = history_samples(url, job, headers_of(headers), window,
                               **history)  # type: ignore[arg-type]
        graph, samples = past.graph, past.samples
        source = f"Prometheus at {past.prometheus_url} ({past.graph_said})"
    elif from_file:
        graph, samples = api.load_recording(from_file, job)
        source = from_file
    else:
        graph, samples = _sample_live(url, job, headers_of(headers), duration, interval,
                                      record_to)
        source = url
    started = time.monotonic()
    entries, diff, title = _changes(graph, from_file, job, journal_from, compare_with, window)
    page = api.build_report(graph, samples, source=source, window_s=window,
                            target_rate=target_rate, journal=entries, diff=diff,
                            diff_title=title)
    out = api.write_report(output or api.default_output(graph), page)
    err_console().print(
        f"wrote {out} ({len(page.encode()) / 1024:.0f} KiB, {len(samples)} polls, "
        f"{time.monotonic() - started:.2f} s)"
    )


def _changes(graph: JobGraph, from_file: str | None, job: str | None,
             journal_from: str | None, compare_with: str | None, window: float
             ) -> tuple[list[dict[str, object]], WindowDiff | None, str]:
    """The job's journaled changes (from the recording and --journal) and the comparison to
    show: with --compare, against that recording; else around the newest rescale or restart
    of a recording, when it holds one."""
    from flowscope import diffing, journal
    from flowscope.analysis.diff import compare
    from flowscope.recording import Recording

    entries: list[dict[str, object]] = []
    if from_file:
        with Recording(from_file) as rec:
            entries += journal.parse(e for _, e in rec.journal())
    if journal_from:
        entries += journal.read(journal_from)
    entries = sorted((e for e in entries if e.get("job_id") == graph.job_id),
                     key=lambda e: float(e.get("t", 0.0)))  # type: ignore[arg-type]
    if compare_with:
        this = (diffing.newest_window(from_file, job, window) if from_file else None)
        if this is None:
            raise click.UsageError("--compare needs --from (the recording to compare with)")
        other = diffing.newest_window(compare_with, None, window)
        return entries, compare(other, this), f"Compared with {compare_with}"
    if from_file:
        try:
            before, after = diffing.around_change(from_file, job, window)
        except FlowscopeError:
            return entries, None, ""
        return entries, compare(before, after), "Before and after the newest change"
    return entries, None, ""
