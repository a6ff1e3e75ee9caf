"""`flowscope report`: a self-contained HTML report from a recording or a live run."""

from __future__ import annotations

import time

import click
from rich.markup import escape

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
@history_options
@friendly_errors
def report(url: str, job: str | None, headers: tuple[str, ...], from_file: str | None,
           output: str | None, duration: float, interval: float, record_to: str | None,
           window: float, target_rate: float | None, **history: str | None) -> None:
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
    page = api.build_report(graph, samples, source=source, window_s=window,
                            target_rate=target_rate)
    out = api.write_report(output or api.default_output(graph), page)
    err_console().print(
        f"wrote {out} ({len(page.encode()) / 1024:.0f} KiB, {len(samples)} polls, "
        f"{time.monotonic() - started:.2f} s)"
    )
