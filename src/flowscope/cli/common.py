"""What every command shares: exit codes, the options that select a job, one-line errors."""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from flowscope.analysis.findings import Verdict
from flowscope.errors import FlowscopeError
from flowscope.render.safe import console as safe_console

EXIT_HEALTHY, EXIT_BACKPRESSURED, EXIT_USAGE, EXIT_UNKNOWN, EXIT_ERROR = 0, 1, 2, 3, 4
EXIT_LIMITED = 5
# The job failed and restarted within the window: its failures come before any bottleneck.
EXIT_RESTARTING = 9
# A bug in flowscope (an exception it did not expect): never 0 or 1, which read as verdicts.
EXIT_INTERNAL = 70  # EX_SOFTWARE in sysexits.h
EXIT_FOR = {Verdict.HEALTHY: EXIT_HEALTHY, Verdict.BACKPRESSURED: EXIT_BACKPRESSURED,
            Verdict.LIMITED: EXIT_LIMITED, Verdict.RESTARTING: EXIT_RESTARTING,
            Verdict.UNKNOWN: EXIT_UNKNOWN}
DEFAULT_URL = "http://localhost:8081"


def err_console() -> Console:
    return safe_console(stderr=True)


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn FlowscopeError into one line on stderr and exit code 4; Ctrl-C into exit 130;
    any other exception (a bug) into one line naming the version and exit code 70."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FlowscopeError as exc:
            click.echo(f"flowscope: error: {safe_text(str(exc))}", err=True)
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            click.echo("flowscope: interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:
            click.echo(f"flowscope: internal error in flowscope {_version()}: "
                       f"{type(exc).__name__}: {safe_text(str(exc))[:200]}; please report it "
                       "(FLOWSCOPE_DEBUG=1 shows the traceback)", err=True)
            if os.environ.get("FLOWSCOPE_DEBUG"):
                raise
            sys.exit(EXIT_INTERNAL)

    return wrapper


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flowscope")
    except PackageNotFoundError:
        return "(unknown version)"


def safe_text(text: str) -> str:
    """`text` with control characters (ANSI escapes, carriage returns) made visible, for
    output that does not go through rich."""
    from flowscope.render.safe import printable

    return printable(text)


def parse_headers(values: tuple[str, ...]) -> dict[str, str]:
    headers = {}
    for raw in values:
        name, sep, value = raw.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"{raw!r} is not NAME: VALUE", param_hint="--header")
        if not raw.isascii() or not raw.isprintable():
            raise click.BadParameter(f"{raw!r} holds characters an HTTP header cannot carry "
                                     "(only printable ASCII)", param_hint="--header")
        headers[name.strip()] = value.strip()
    return headers


def check_url(ctx: click.Context | None, param: click.Parameter | None, value: Any) -> Any:
    """A click callback: an http(s) URL with a host, else a one-line usage error."""
    if value is None:
        return value
    for url in value if isinstance(value, tuple) else (value,):
        import httpx

        try:
            parsed = httpx.URL(url)
            ok = parsed.scheme in ("http", "https") and bool(parsed.host)
        except (httpx.InvalidURL, ValueError, TypeError):
            ok = False
        if not ok:
            raise click.BadParameter(f"{url!r} is not an http(s):// URL with a host")
    return value


class Positive(click.ParamType):
    """A finite number above zero, or at least `minimum` (click's FloatRange lets NaN
    through)."""

    name = "float"

    def __init__(self, minimum: float | None = None) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"{value!r} is not a number above 0", param, ctx)
        if self.minimum is not None and number < self.minimum:
            self.fail(f"{value!r} is below the least allowed, {self.minimum:g}", param, ctx)
        return number


POSITIVE = Positive()


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
                      show_default=True, callback=check_url,
                      help="Flink REST URL (the web UI's address); env FLOWSCOPE_URL.")(fn)
    return fn


def headers_of(values: tuple[str, ...]) -> dict[str, str]:
    env = os.environ.get("FLOWSCOPE_HEADERS", "")
    return parse_headers(tuple(v for v in env.splitlines() if v.strip()) + values)


