"""`flowscope watch`: a live, top-like terminal view of a job that shows the bottleneck move.

The loop: samples from a live job or a recording (flowscope.sampling's feeds) go into a
`Watcher` (flowscope.analysis.tracking); its state is drawn by flowscope.render.watch, full
screen on a terminal, as plain lines at each new metric snapshot otherwise.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time

import click

from flowscope.analysis.engine import DEFAULT_WINDOW_S
from flowscope.analysis.tracking import Watcher
from flowscope.cli.common import (
    POSITIVE,
    friendly_errors,
    headers_of,
    safe_text,
    source_options,
)
from flowscope.cli.history import history_options
from flowscope.deadline import Deadline
from flowscope.feeds import LiveFeed, PastThenLiveFeed, ReplayFeed
from flowscope.render.keys import Keys, Quit
from flowscope.render.safe import console as safe_console
from flowscope.render.watch import (
    clock,
    render,
    render_lines,
    render_waiting,
    where_it_has_been,
)


def run_watch(feed: ReplayFeed | LiveFeed | PastThenLiveFeed, *, window_s: float,
              deadline: Deadline, replay: bool) -> None:
    """Drive the view from `feed` until it ends, the user quits, or `deadline` passes. Raises
    PollsFailed (after restoring the terminal) when every poll of a live feed failed."""
    from rich.live import Live

    watcher = Watcher(window_s)
    screen = sys.stdout.isatty()
    console = safe_console()
    # SystemExit unwinds the with-blocks below, so the terminal is restored on `kill` too.
    old_term = signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    try:
        with contextlib.ExitStack() as stack:
            keys = stack.enter_context(Keys(enabled=screen))
            live = stack.enter_context(Live(console=console, screen=True, auto_refresh=False,
                                            transient=True)) if screen else None
            hint = "q quit · p pause" if keys.active else "Ctrl-C quits"

            def show(paused: bool = False) -> None:
                if live is None:
                    return
                tag = "PAUSED (p resumes)" if paused else feed.status
                if watcher.polls:
                    live.update(render(watcher.state(), console.width, tag, hint), refresh=True)
                else:  # no poll has succeeded yet: say why instead of a blank screen
                    live.update(render_waiting(feed.name, tag, hint), refresh=True)

            def wait(seconds: float) -> None:  # a replay's pace, never past the deadline
                keys.wait(min(seconds, max(0.0, deadline.left())), replay)

            keys.on_pause = show
            printed = -1
            failing = False
            try:
                for graph, sample in feed.items(wait):
                    if graph is not None and sample is not None:
                        watcher.add(graph, sample)
                        if watcher.diagnosis is not None:
                            feed.steer(watcher.diagnosis)
                    if not keys.paused:
                        show()
                    if live is None and sample is None and not failing:
                        click.echo(safe_text(f"{clock(time.time())} {feed.status}"))
                    failing = sample is None
                    if live is None and watcher.polls and watcher.snapshots != printed:
                        printed = watcher.snapshots
                        click.echo(safe_text("\n".join(render_lines(watcher.state()))))
                    if deadline.passed():
                        break
                else:
                    show()
                    if live is not None and keys.active and not deadline.passed():
                        # The recording ended: hold the last view until q (or the deadline).
                        keys.wait(deadline.left(), hold_while_paused=True)
            except (Quit, KeyboardInterrupt):
                pass
    finally:
        signal.signal(signal.SIGTERM, old_term)
        feed.close()
    if watcher.polls:
        click.echo(safe_text(
            f"where it has been: {where_it_has_been(watcher.state(), last=20)}"))
    failed = feed.all_failed()
    if failed is not None:
        raise failed


@click.command("watch")
@source_options
@click.option("--interval", type=POSITIVE, default=1.0,
              show_default=True, help="Seconds between polls of a live job.")
@click.option("--record", "record_to", type=click.Path(dir_okay=False), default=None,
              help="Also record the polls of a live job to this file.")
@click.option("--speed", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Replay a --from recording this many times faster than real time; "
                   "0 replays without delay.")
@click.option("--window", type=POSITIVE, default=DEFAULT_WINDOW_S, show_default=True,
              help="Judge the bottleneck over the last WINDOW seconds.")
@click.option("--duration", type=POSITIVE, default=None,
              help="Stop after this many seconds (default: until q, Ctrl-C, or the end "
                   "of the recording when not on a terminal).")
@history_options
@friendly_errors
def watch(url: str, job: str | None, headers: tuple[str, ...], from_file: str | None,
          interval: float, record_to: str | None, speed: float, window: float,
          duration: float | None, **history: str | None) -> None:
    """A live, top-like view: each task's busy / backpressured / idle with its recent
    history, the bottleneck and its cause, and where the bottleneck has been.

    Keys: q quits, p pauses. Not on a terminal (a pipe, CI), it prints a block of plain
    lines at each new metric snapshot instead, and ends with the recording.

    With --prometheus URL --start TIME (e.g. --start=-1h) the view starts with the job's
    history since TIME, read from Prometheus, and goes on live from --url.

    When every poll fails (the job is listed, but reading it fails), the view says so while
    it runs, and the command ends with one line on stderr (how many polls failed, the last
    error) and exit code 4.
    """
    deadline = Deadline(duration)  # --duration counts from here, whatever the polls do
    if history["prometheus"]:
        if from_file:
            raise click.UsageError("--prometheus starts from history and goes on live: "
                                   "not with --from")
        if history["at"] is not None or history["end"] is not None or not history["start"]:
            raise click.UsageError("watch --prometheus takes --start TIME (the history to "
                                   "start from) and goes on live: no --at or --end")
        feed: ReplayFeed | LiveFeed | PastThenLiveFeed = _past_then_live(
            url, job, headers_of(headers), record_to, interval, deadline, history)
    elif from_file:
        feed = ReplayFeed(from_file, job, speed)
    else:
        feed = LiveFeed(url, job, headers_of(headers), record_to, interval, deadline)
    run_watch(feed, window_s=window, deadline=deadline, replay=bool(from_file))


def _past_then_live(url: str, job: str | None, headers: dict[str, str], record_to: str | None,
                    interval: float, deadline: Deadline, history: dict[str, str | None]
                    ) -> PastThenLiveFeed:
    from flowscope.postmortem import parse_time, read_past

    live = LiveFeed(url, job, headers, record_to, interval, deadline)
    try:
        job_id = live.session.job.id
        past = read_past(str(history["prometheus"]), job_id, parse_time(str(history["start"])),
                         parse_time("now"), graph_url=url, graph_from=history["graph_from"],
                         headers=headers)
    except BaseException:
        live.close()
        raise
    return PastThenLiveFeed(past.samples, past.graph, live,
                            f"history from Prometheus ({len(past.samples)} steps), then live")
