"""`flowscope profile`: flame graph, thread-dump sampling, TaskManagers, latency, checkpoints."""

from __future__ import annotations

import click

from flowscope.cli.common import err_console, friendly_errors, headers_of, source_options
from flowscope.flink.ondemand import MAX_THREAD_DUMP_SAMPLES, MAX_THREAD_DUMP_SECONDS
from flowscope.profiler import PARTS


@click.command()
@source_options
@click.option("--vertex", "-V", default=None, metavar="ID|NAME",
              help="Vertex to profile: id, name or unique part of it. Default: the bottleneck "
                   "a quick diagnosis locates (else the busiest task).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the profile as JSON (schema flowscope.profile/1).")
@click.option("--samples", type=click.IntRange(1, MAX_THREAD_DUMP_SAMPLES), default=20,
              show_default=True,
              help="Thread-dump rounds (one dump per TaskManager of the job each).")
@click.option("--delay", type=click.FloatRange(0.0, 10.0), default=0.1, show_default=True,
              help="Seconds between thread-dump rounds.")
@click.option("--max-time", type=click.FloatRange(1.0, MAX_THREAD_DUMP_SECONDS), default=20.0,
              show_default=True, help="Stop thread-dump sampling after this many seconds.")
@click.option("--flame-timeout", type=click.FloatRange(1.0, 120.0), default=20.0,
              show_default=True,
              help="Longest wait, in seconds, for Flink to finish sampling the flame graph.")
@click.option("--diagnose-time", type=click.FloatRange(1.0, 300.0), default=30.0,
              show_default=True,
              help="Longest time, in seconds, to sample the job's metrics before profiling.")
@click.option("--skip", multiple=True, type=click.Choice(PARTS),
              help="Leave out a part. Repeatable.")
@click.option("--verbose", "-v", is_flag=True, help="Show every subtask and vertex.")
@friendly_errors
def profile(url: str, job: str | None, headers: tuple[str, ...], from_file: str | None,
            vertex: str | None, as_json: bool, samples: int, delay: float, max_time: float,
            flame_timeout: float, diagnose_time: float, skip: tuple[str, ...],
            verbose: bool) -> None:
    """Profile a job's bottleneck: where its time goes and what backs that up.

    A quick diagnosis locates the vertex; then its flame graph (hottest user methods, which
    operator of a chain, on-CPU vs blocking, Python UDFs), a thread-dump sampling of every
    task (backpressure levels compared with Flink's time metrics), TaskManager CPU / GC /
    heap next to the subtasks each runs, latency markers per hop, and checkpoint barrier
    delays. Flame graphs need `rest.flamegraph.enabled: true` on the cluster.

    Reads only: the cluster and the job are left as they were. With --from, only the
    TaskManager and latency parts (the recording has no flame graphs or thread dumps).
    """
    from flowscope.profiler import ProfileOptions, profile_live, profile_recording
    from flowscope.render import profile as render
    from flowscope.render.safe import console as safe_console

    if from_file:
        report = profile_recording(from_file, job, vertex=vertex)
    else:
        options = ProfileOptions(
            flame_timeout_s=flame_timeout, thread_samples=samples, thread_delay_s=delay,
            thread_max_s=max_time, parts=tuple(p for p in PARTS if p not in skip),
        )
        err = err_console()
        with err.status("profiling ...", spinner="dots") as status:
            report = profile_live(
                url, job, headers=headers_of(headers), vertex=vertex, diagnose_s=diagnose_time,
                options=options, on_stage=None if as_json else status.update,
            )
    if as_json:
        click.echo(render.render_json(report))
    else:
        render.print_profile(report, safe_console(), verbose=verbose)
