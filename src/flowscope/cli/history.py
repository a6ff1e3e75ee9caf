"""The options that point a command at a past window in Prometheus (`--prometheus URL --at T`
or `--start T1 --end T2`), and the diagnosis they lead to."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from flowscope.analysis.findings import Diagnosis

if TYPE_CHECKING:
    from flowscope.postmortem import PastWindow

# Read this much before `--at TIME - WINDOW` so that counter deltas cover the whole window.
AT_LEAD_S = 30.0


def history_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--prometheus/--at/--start/--end/--graph-from; the command receives them as keywords."""
    fn = click.option("--graph-from", "graph_from", type=click.Path(dir_okay=False),
                      default=None, help="With --prometheus: take the job graph from this "
                      "recording instead of --url.")(fn)
    fn = click.option("--end", "end", default=None, metavar="TIME",
                      help="With --prometheus: the window's end (default: now).")(fn)
    fn = click.option("--start", "start", default=None, metavar="TIME",
                      help="With --prometheus: the window's start; the whole window "
                           "is judged.")(fn)
    fn = click.option("--at", "at", default=None, metavar="TIME",
                      help="With --prometheus: judge the WINDOW seconds before TIME. Times "
                           "are RFC 3339 (2026-11-30T02:10:00Z), relative (-2h) or `now`.")(fn)
    fn = click.option("--prometheus", "prometheus", default=None, metavar="URL",
                      envvar="FLOWSCOPE_PROMETHEUS",
                      help="Read the job's past from this Prometheus-compatible store "
                           "(Flink's PrometheusReporter scraped); the graph comes from --url "
                           "(the JobManager, or a HistoryServer for ended jobs) or "
                           "--graph-from. --header applies to both. Env "
                           "FLOWSCOPE_PROMETHEUS.")(fn)
    return fn


def window_of(window: float, at: str | None, start: str | None, end: str | None
              ) -> tuple[float, float, float | None]:
    """(start, end, judged seconds or None for all of it) from --at/--start/--end."""
    from flowscope.postmortem import parse_time

    if at is not None and (start is not None or end is not None):
        raise click.UsageError("give --at TIME, or --start (and --end), not both")
    if at is None and start is None:
        raise click.UsageError("--prometheus needs --at TIME or --start TIME")
    if at is not None:
        t_end = parse_time(at)
        return t_end - window - AT_LEAD_S, t_end, window
    return parse_time(start or "now"), parse_time(end) if end else parse_time("now"), None


def history_diagnosis(url: str, job: str | None, headers: dict[str, str], window: float,
                      target_rate: float | None, *, prometheus: str, at: str | None,
                      start: str | None, end: str | None, graph_from: str | None
                      ) -> Diagnosis:
    """The diagnosis of a past window, from the options of `history_options`."""
    from flowscope.postmortem import diagnose_history

    if not job:
        raise click.UsageError("--prometheus needs --job ID|NAME")
    t_start, t_end, judged = window_of(window, at, start, end)
    d, _ = diagnose_history(prometheus, job, t_start, t_end, graph_url=url,
                            graph_from=graph_from, headers=headers, window_s=judged,
                            target_rate=target_rate)
    return d


def history_samples(url: str, job: str | None, headers: dict[str, str], window: float, *,
                    prometheus: str, at: str | None, start: str | None, end: str | None,
                    graph_from: str | None) -> PastWindow:
    """The samples of a past window (the newest attempt in it), from `history_options`."""
    from flowscope.postmortem import read_past

    if not job:
        raise click.UsageError("--prometheus needs --job ID|NAME")
    t_start, t_end, _ = window_of(window, at, start, end)
    return read_past(prometheus, job, t_start, t_end, graph_url=url, graph_from=graph_from,
                     headers=headers)
