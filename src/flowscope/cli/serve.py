"""`flowscope serve`: the web dashboard and the Prometheus exporter.

Imports only click at module level: the server (starlette, uvicorn, prometheus_client, from
the `web` extra) is imported when the command runs, so `flowscope --help` stays fast.
"""

from __future__ import annotations

import os
import signal
import socket
import threading

import click

from flowscope.cli.common import (
    DEFAULT_URL,
    POSITIVE,
    Positive,
    check_url,
    err_console,
    friendly_errors,
    headers_of,
    safe_text,
)
from flowscope.deadline import Deadline
from flowscope.errors import FlowscopeError

DEFAULT_PORT = 8484


class ServeError(FlowscopeError):
    """The dashboard could not start (missing extra, port taken)."""


@click.command()
@click.option("--url", "-u", "urls", multiple=True, metavar="URL", callback=check_url,
              help="Flink REST URL (the web UI's address) of a live cluster; every running job "
                   "of it is followed. Repeatable. Default: env FLOWSCOPE_URL, else "
                   f"{DEFAULT_URL} (when no --from is given).")
@click.option("--job", "-j", default=None, metavar="ID|NAME",
              help="Follow only the job with this id, or whose name contains NAME.")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'",
              help="Extra HTTP header for every request to Flink, e.g. for an authenticating "
                   "proxy. Repeatable. FLOWSCOPE_HEADERS may hold several, separated by "
                   "newlines.")
@click.option("--from", "from_files", multiple=True, type=click.Path(dir_okay=False),
              help="Show a recording (from `flowscope record`). Repeatable; may be combined "
                   "with --url.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes the dashboard to "
                   "the network: set --token then.")
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=DEFAULT_PORT,
              show_default=True, help="Port to listen on.")
@click.option("--token", envvar="FLOWSCOPE_TOKEN", default=None,
              help="Require this token on every request (Authorization: Bearer TOKEN, or "
                   "?token=TOKEN in the address); env FLOWSCOPE_TOKEN.")
@click.option("--interval", type=Positive(0.2), default=2.0, show_default=True,
              help="Seconds between polls of each live job.")
@click.option("--window", type=Positive(1.0), default=60.0, show_default=True,
              help="Judge the last WINDOW seconds of samples.")
@click.option("--history", type=Positive(10.0), default=1800.0, show_default=True,
              help="Seconds of samples kept in memory per live job (for the timelines).")
@click.option("--prometheus", default=None, metavar="URL", envvar="FLOWSCOPE_PROMETHEUS",
              callback=check_url,
              help="With --since: start each live job with its history from this "
                   "Prometheus-compatible store (Flink's PrometheusReporter scraped), then go "
                   "on live. Env FLOWSCOPE_PROMETHEUS.")
@click.option("--since", default=None, metavar="TIME",
              help="With --prometheus: how far back the history goes (-1h, RFC 3339, epoch "
                   "seconds). Keep --history at least as long to hold it.")
@click.option("--duration", type=POSITIVE, default=None,
              help="Stop after this many seconds (default: until Ctrl-C or SIGTERM).")
@click.option("--journal", "journals", multiple=True, type=click.Path(dir_okay=False),
              help="Mark the changes `flowscope tune --apply` journaled to this file on their "
                   "jobs' timelines (a recording's own journal is marked anyway). "
                   "Repeatable.")
@friendly_errors
def serve(urls: tuple[str, ...], job: str | None, headers: tuple[str, ...],
          from_files: tuple[str, ...], host: str, port: int, token: str | None,
          interval: float, window: float, history: float, prometheus: str | None,
          since: str | None, duration: float | None, journals: tuple[str, ...]) -> None:
    """A web dashboard of live jobs and recordings, with a Prometheus /metrics endpoint.

    The page shows each job's graph coloured like Flink's (blue idle, red busy, black
    backpressured), the bottleneck and its cause, every subtask of a task, the findings
    with their evidence and actions, and timelines you can scrub back. Live jobs update by
    themselves. Only GET requests are sent to Flink.

    When it stops, a job whose every poll failed (or a cluster whose job list never
    answered) is named on stderr with how many polls failed and the last error; when
    nothing at all could be read, the exit code is 4.
    """
    deadline = Deadline(duration)  # --duration counts from here, whatever the polls do
    try:
        import uvicorn

        from flowscope.web.app import LOOPBACK_HOSTS, create_app
        from flowscope.web.hub import Hub
    except ModuleNotFoundError as exc:
        raise ServeError(
            f"the dashboard needs the `web` extra ({exc.name} is missing): "
            "pip install 'flowscope[web]'"
        ) from None

    err = err_console()
    if not urls and not from_files:
        urls = (os.environ.get("FLOWSCOPE_URL") or DEFAULT_URL,)
    hub = Hub(window_s=window, history=max(2, int(history / interval) + 1),
              interval_s=interval, deadline=deadline)
    for path in from_files:
        hub.add_recording(path, job)
    extra = headers_of(headers)
    past = None
    if (prometheus is None) != (since is None):
        raise click.UsageError("--prometheus and --since go together")
    if prometheus is not None and since is not None:
        from flowscope.postmortem import parse_time

        past = (prometheus, parse_time(since))
    for url in urls:
        hub.add_live(url, job, extra, past=past)
    for path in journals:
        hub.add_journal(path)
    loopback = host in LOOPBACK_HOSTS
    if not loopback and not token:
        err.print(f"[yellow]warning:[/] serving on {host} without --token: anyone who can "
                  "reach this port sees your jobs")
    app = create_app(hub, token=token, allowed_hosts=LOOPBACK_HOSTS if loopback else None)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=2, lifespan="off")
    server = uvicorn.Server(config)
    sock = _bind(host, port)  # before the banner: a taken port is said instead of it
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    jobs = len(hub.feeds())
    stops = "Ctrl-C stops" if duration is None else f"stops after {duration:g} s"
    err.print(f"flowscope dashboard on http://{shown}:{port}/ ({jobs} job(s) from "
              f"{len(hub.sources)} source(s); {stops})"
              + ("; add ?token=... to the address" if token else ""))
    hub.start()
    if deadline.bounded:  # uvicorn checks should_exit every tick (0.1 s)
        timer = threading.Timer(max(0.0, deadline.left()), setattr,
                                args=(server, "should_exit", True))
        timer.daemon = True
        timer.start()
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again: let that
    # end the command normally (exit 0) once the pollers are stopped.
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.run(sockets=[sock])
    except (_Stopped, KeyboardInterrupt):
        pass
    except SystemExit:  # uvicorn exits when it cannot bind
        raise ServeError(f"could not listen on {host}:{port} (is the port taken?)") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        hub.stop()
    err.print("flowscope dashboard stopped")
    failures = hub.failures()
    # A run of --duration whose reads all failed is an error (exit code 4); a dashboard
    # stopped by Ctrl-C or a service manager stopped as asked (exit code 0), and says what
    # it could not read all the same.
    if failures and not hub.read_any() and deadline.passed():
        for failure in failures[:-1]:
            click.echo(safe_text(f"flowscope: error: {failure}"), err=True)
        raise failures[-1]
    for failure in failures:  # one line each (rich would wrap them)
        click.echo(safe_text(f"flowscope: warning: {failure}"), err=True)


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or a one-line ServeError."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        raise ServeError(f"could not listen on {host}:{port}: {exc.strerror or exc} "
                         "(is the port taken?)") from None
    return sock


class _Stopped(Exception):
    """SIGTERM arrived."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped
