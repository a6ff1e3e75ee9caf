"""The `flowscope` command line.

Exit codes (diagnose, demo):
  0  healthy: no backpressure
  1  backpressured: a bottleneck was found (or backpressure without a clear source)
  3  could not tell: data too young or incomplete
  4  error: the cluster could not be reached, the job or recording could not be read
  2  usage error (bad options)
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from flowscope.analysis.findings import Diagnosis, Verdict
from flowscope.errors import FlowscopeError

EXIT_HEALTHY, EXIT_BACKPRESSURED, EXIT_USAGE, EXIT_UNKNOWN, EXIT_ERROR = 0, 1, 2, 3, 4
EXIT_FOR = {Verdict.HEALTHY: EXIT_HEALTHY, Verdict.BACKPRESSURED: EXIT_BACKPRESSURED,
            Verdict.UNKNOWN: EXIT_UNKNOWN}
DEFAULT_URL = "http://localhost:8081"


def _err_console() -> Console:
    return Console(stderr=True)


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn FlowscopeError into one line on stderr and exit code 4; Ctrl-C into exit 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FlowscopeError as exc:
            click.echo(f"flowscope: error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            click.echo("flowscope: interrupted", err=True)
            sys.exit(130)

    return wrapper


def parse_headers(values: tuple[str, ...]) -> dict[str, str]:
    headers = {}
    for raw in values:
        name, sep, value = raw.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"{raw!r} is not NAME: VALUE", param_hint="--header")
        headers[name.strip()] = value.strip()
    return headers


def source_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--url/--job/--header/--from, shared by every command that reads a job."""
    fn = click.option("--from", "from_file", type=click.Path(dir_okay=False),
                      help="Read a recording (from `flowscope record`) instead of a cluster.")(fn)
    fn = click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'",
                      help="Extra HTTP header for every request, e.g. for an authenticating "
                           "proxy. Repeatable. FLOWSCOPE_HEADERS may hold several, "
                           "separated by newlines.")(fn)
    fn = click.option("--job", "-j", default=None, metavar="ID|NAME",
                      help="Job id, or (part of) its name. Default: the only running job.")(fn)
    fn = click.option("--url", "-u", envvar="FLOWSCOPE_URL", default=DEFAULT_URL,
                      show_default=True,
                      help="Flink REST URL (the web UI's address); env FLOWSCOPE_URL.")(fn)
    return fn


def _headers(values: tuple[str, ...]) -> dict[str, str]:
    env = os.environ.get("FLOWSCOPE_HEADERS", "")
    return parse_headers(tuple(v for v in env.splitlines() if v.strip()) + values)


# Commands that live with their own stage, loaded only when asked for (or listed by --help):
# their modules import flowscope.cli's helpers, and heavy dependencies inside the command.
OPTIONAL_COMMANDS = {
    "report": "flowscope.render.report_cli",
    "watch": "flowscope.render.watch",
    "serve": "flowscope.web.cli",
    "profile": "flowscope.profiling.cli",
}


def _module_exists(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        optional = [n for n, m in OPTIONAL_COMMANDS.items() if _module_exists(m)]
        return sorted({*super().list_commands(ctx), *optional})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        cmd = super().get_command(ctx, name)
        if cmd is None and name in OPTIONAL_COMMANDS and _module_exists(OPTIONAL_COMMANDS[name]):
            import importlib

            cmd = getattr(importlib.import_module(OPTIONAL_COMMANDS[name]), name)
        return cmd


@click.group(cls=LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="flowscope")
def main() -> None:
    """Find where backpressure starts in an Apache Flink job, why, and what to do about it.

    flowscope reads Flink's REST API, measures every subtask's busy, backpressured and idle
    time from counters, locates the task(s) that cause backpressure, names the cause with the
    evidence, and recommends numbers (parallelism, config keys).

    Start with `flowscope demo` (a local Flink with a real bottleneck), or point
    `flowscope diagnose --url http://jobmanager:8081` at your cluster.
    """


@main.command()
@source_options
@click.option("--json", "as_json", is_flag=True, help="Print the diagnosis as JSON "
              "(schema flowscope.diagnosis/1, see docs/json-schema.md).")
@click.option("--duration", type=float, default=45.0, show_default=True,
              help="Longest time to sample a live job, in seconds. Sampling stops earlier "
                   "once counters cover enough time (usually 10-20 s: Flink refreshes "
                   "metrics every ~10 s).")
@click.option("--interval", type=float, default=1.0, show_default=True,
              help="Seconds between polls of a live job.")
@click.option("--window", type=float, default=60.0, show_default=True,
              help="Judge the last WINDOW seconds of samples.")
@click.option("--target-rate", type=float, default=None,
              help="Records/s the sources should sustain; sizes the recommended parallelism "
                   "(default: the rate the sources would emit if nothing held them back).")
@click.option("--record", "record_to", type=click.Path(dir_okay=False), default=None,
              help="Also record the polls to this file.")
@click.option("--verbose", "-v", is_flag=True, help="Show all evidence.")
@friendly_errors
def diagnose(url: str, job: str | None, headers: tuple[str, ...], from_file: str | None,
             as_json: bool, duration: float, interval: float, window: float,
             target_rate: float | None, record_to: str | None, verbose: bool) -> None:
    """One verdict for a job: each task's busy / backpressured / idle, the bottleneck(s),
    the cause with its evidence, and what to do.

    Exit code: 0 healthy, 1 backpressured, 3 could not tell, 4 error.
    """
    from flowscope import api
    from flowscope.render import jsonout, terminal

    if from_file:
        d = api.diagnose_recording(from_file, job, window_s=window, target_rate=target_rate)
    else:
        d = _diagnose_live(url, job, _headers(headers), duration, interval, window,
                           target_rate, record_to, quiet=as_json)
    if as_json:
        click.echo(jsonout.render(d))
    else:
        terminal.print_diagnosis(d, Console(), verbose=verbose)
    sys.exit(EXIT_FOR[d.verdict])


def _diagnose_live(url: str, job: str | None, headers: dict[str, str], duration: float,
                   interval: float, window: float, target_rate: float | None,
                   record_to: str | None, quiet: bool) -> Diagnosis:
    from flowscope.api import Progress, sample_until_confident
    from flowscope.session import LiveSession

    err = _err_console()
    session = LiveSession(url, job, headers=headers, record_to=record_to)
    try:
        with err.status(f"sampling {session.job.name} ...", spinner="dots") as status:

            def show(p: Progress) -> None:
                up = f"up {p.uptime_s:.0f} s, " if p.uptime_s is not None else ""
                status.update(f"sampling {session.job.name}: {p.polls} polls, {up}"
                              f"counters cover {p.window_s:.0f} s ...")

            _, _, d = sample_until_confident(
                session, interval_s=interval, max_duration_s=duration, window_s=window,
                target_rate=target_rate, on_progress=None if quiet else show,
            )
        return d
    finally:
        session.close()


@main.command()
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
    from flowscope.session import LiveSession

    err = _err_console()
    session = LiveSession(url, job, headers=_headers(headers), record_to=output)
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


@main.command()
@click.option("--url", "-u", envvar="FLOWSCOPE_URL", default=DEFAULT_URL, show_default=True,
              help="Flink REST URL; env FLOWSCOPE_URL.")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'",
              help="Extra HTTP header. Repeatable.")
@friendly_errors
def jobs(url: str, headers: tuple[str, ...]) -> None:
    """List the cluster's jobs (running first)."""
    from flowscope.sources.rest import FlinkRestSource

    with FlinkRestSource(url, headers=_headers(headers)) as src:
        for j in src.jobs():
            click.echo(f"{j.id}  {j.state:<10} {j.name}")


@main.command()
@click.option("--scenario", default="skew", show_default=True,
              help="Which injected bottleneck to run (see `flowscope lab scenarios`).")
@click.option("--timeout", type=float, default=120.0, show_default=True,
              help="Give up on a verdict after this many seconds of the job running.")
@click.option("--json", "as_json", is_flag=True, help="Print the final diagnosis as JSON.")
@friendly_errors
def demo(scenario: str, timeout: float, as_json: bool) -> None:
    """Start a local Flink, run a job with a real bottleneck, and diagnose it.

    Needs Java 17 and the `flink` extra (pip install 'flowscope[flink]'). Everything it
    starts is stopped when it ends, on Ctrl-C too.
    """
    from flowscope.demo import run_demo

    d = run_demo(scenario, timeout_s=timeout, as_json=as_json)
    sys.exit(EXIT_FOR[d.verdict])


@main.group()
def lab() -> None:
    """A local Flink cluster and scenario jobs with known bottlenecks."""


@lab.command("scenarios")
def lab_scenarios() -> None:
    """List the scenario jobs and the verdict each should get."""
    from flowscope.lab.scenarios import SCENARIOS

    for s in SCENARIOS.values():
        expect = f"{s.bottleneck} ({s.cause})" if s.bottleneck else (s.cause or "healthy")
        click.echo(f"{s.name:<15} {s.description}\n{'':<15} expect: {expect}")


@lab.command("up")
@click.option("--scenario", "scenarios", multiple=True,
              help="Scenario(s) to submit once the cluster is ready. Repeatable.")
@friendly_errors
def lab_up(scenarios: tuple[str, ...]) -> None:
    """Start a local cluster (and scenarios) and keep it until Ctrl-C."""
    from flowscope.lab.cluster import running_cluster
    from flowscope.lab.scenarios import ScenarioRunner

    err = _err_console()
    with running_cluster(progress=lambda m: err.print(m, soft_wrap=True)) as cluster:
        runner = ScenarioRunner(cluster)
        for name in scenarios:
            err.print(f"submitted {name}: {runner.submit(name)}")
        click.echo(f"Flink is up at {cluster.url} (Ctrl-C stops it)")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            err.print("stopping Flink ...")


if __name__ == "__main__":
    main()
