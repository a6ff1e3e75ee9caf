"""What every command shares: exit codes, the options that select a job, one-line errors."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from flowscope.analysis.findings import Verdict
from flowscope.errors import FlowscopeError

EXIT_HEALTHY, EXIT_BACKPRESSURED, EXIT_USAGE, EXIT_UNKNOWN, EXIT_ERROR = 0, 1, 2, 3, 4
EXIT_LIMITED = 5
EXIT_FOR = {Verdict.HEALTHY: EXIT_HEALTHY, Verdict.BACKPRESSURED: EXIT_BACKPRESSURED,
            Verdict.LIMITED: EXIT_LIMITED, Verdict.UNKNOWN: EXIT_UNKNOWN}
DEFAULT_URL = "http://localhost:8081"


def err_console() -> Console:
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


def headers_of(values: tuple[str, ...]) -> dict[str, str]:
    env = os.environ.get("FLOWSCOPE_HEADERS", "")
    return parse_headers(tuple(v for v in env.splitlines() if v.strip()) + values)


