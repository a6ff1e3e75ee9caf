"""`flowscope report`: a self-contained HTML report from a recording or a live run."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import click

from flowscope.cli import _err_console, _headers, friendly_errors, source_options
from flowscope.errors import FlowscopeError
from flowscope.model import JobGraph, Sample


def default_output(graph: JobGraph) -> str:
    """flowscope-report-<job>.html, <job> being the job's name made file-safe (or its id)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", graph.name).strip("-.")[:60]
    return f"flowscope-report-{slug or graph.job_id[:8]}.html"


def build_report(
    graph: JobGraph,
    samples: Sequence[Sample],
    *,
    source: str,
    window_s: float = 60.0,
    target_rate: float | None = None,
) -> str:
    """The report's HTML for `samples` (oldest first) of the job `graph`: the diagnosis over
    the last `window_s` seconds and the timelines over the whole series."""
    from importlib.metadata import PackageNotFoundError, version

    from flowscope.analysis.engine import diagnose
    from flowscope.analysis.timeline import task_timeline
    from flowscope.analysis.window import distinct_snapshots
    from flowscope.render import html

    if not samples:
        raise FlowscopeError("no samples to report on")
    d = diagnose(graph, samples, window_s=window_s, target_rate=target_rate)
    steps = task_timeline(graph, samples)
    try:
        ver = version("flowscope")
    except PackageNotFoundError:  # running from a source tree
        ver = ""
    meta = html.ReportMeta(
        source=source, first_t=samples[0].t, last_t=samples[-1].t, polls=len(samples),
        snapshots=len(distinct_snapshots(list(samples))), generated_at=time.time(), version=ver,
    )
    return html.render(graph, d, steps, meta)


def write_report(path: str | Path, page: str) -> Path:
    """Write the page next to its final name first, so a reader never sees half a report."""
    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FlowscopeError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def _sample_live(url: str, job: str | None, headers: dict[str, str], duration: float,
                 interval: float, record_to: str | None) -> tuple[JobGraph, list[Sample]]:
    from flowscope.session import LiveSession

    err = _err_console()
    session = LiveSession(url, job, headers=headers, record_to=record_to)
    graph: JobGraph | None = None
    samples: list[Sample] = []
    start = time.monotonic()
    try:
        with err.status(f"sampling {session.job.name} ...", spinner="dots") as status:
            try:
                for polled, sample in session.samples(interval_s=interval,
                                                      duration_s=duration):
                    graph = polled
                    samples.append(sample)
                    status.update(
                        f"sampling {session.job.name}: {len(samples)} polls, "
                        f"{time.monotonic() - start:.0f}/{duration:.0f} s (Ctrl-C: report now)"
                    )
            except KeyboardInterrupt:
                if not samples:
                    raise
                err.print(f"interrupted: reporting on {len(samples)} polls")
    finally:
        session.close()
    if graph is None:
        raise FlowscopeError("no poll of the job succeeded")
    return graph, samples


@click.command()
@source_options
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="The HTML file to write. Default: flowscope-report-<job name>.html.")
@click.option("--duration", type=float, default=60.0, show_default=True,
              help="Seconds to sample a live job (Ctrl-C reports on what was sampled).")
@click.option("--interval", type=float, default=1.0, show_default=True,
              help="Seconds between polls of a live job.")
@click.option("--record", "record_to", type=click.Path(dir_okay=False), default=None,
              help="Also record a live run's polls to this file.")
@click.option("--window", type=float, default=60.0, show_default=True,
              help="The diagnosis judges the last WINDOW seconds; timelines cover everything.")
@click.option("--target-rate", type=float, default=None,
              help="Records/s the sources should sustain; sizes the recommended parallelism.")
@friendly_errors
def report(url: str, job: str | None, headers: tuple[str, ...], from_file: str | None,
           output: str | None, duration: float, interval: float, record_to: str | None,
           window: float, target_rate: float | None) -> None:
    """Write a self-contained HTML report: the job graph coloured like Flink's UI, the
    bottleneck and its cause, timelines of every task, per-subtask tables, the findings.

    The file opens offline and makes no request. Read a recording with --from, or sample a
    live job for --duration seconds (optionally recording it with --record).
    """
    from flowscope import api

    if from_file and record_to:
        raise click.UsageError("--record applies to a live run, not to --from")
    if duration <= 0 or interval <= 0 or window <= 0:
        raise click.UsageError("--duration, --interval and --window must be positive")
    if from_file:
        graph, samples = api.load_recording(from_file, job)
        source = from_file
    else:
        graph, samples = _sample_live(url, job, _headers(headers), duration, interval,
                                      record_to)
        source = url
    started = time.monotonic()
    page = build_report(graph, samples, source=source, window_s=window, target_rate=target_rate)
    out = write_report(output or default_output(graph), page)
    _err_console().print(
        f"wrote {out} ({len(page.encode()) / 1024:.0f} KiB, {len(samples)} polls, "
        f"{time.monotonic() - started:.2f} s)"
    )
