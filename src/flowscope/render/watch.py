"""`flowscope watch`: a live, top-like terminal view of a job that shows the bottleneck move.

Two halves, kept apart: `Watcher` / `build_state()` turn samples into a plain `WatchState`
(pure: no I/O, no clock), and `render()` / `render_lines()` turn a state into a rich view or
plain text lines. The command polls a live job (or replays a recording) and feeds one into
the other: a full-screen view when stdout is a terminal, periodic text lines otherwise.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import click
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from flowscope.analysis.engine import DEFAULT_WINDOW_S, diagnose
from flowscope.analysis.findings import Diagnosis, Level, TaskState, Verdict
from flowscope.analysis.timeline import TimelineStep, task_timeline
from flowscope.analysis.window import distinct_snapshots
from flowscope.cli import _headers, friendly_errors, source_options
from flowscope.errors import FlowscopeError
from flowscope.model import JobGraph, Sample
from flowscope.render.keys import Keys, Quit
from flowscope.render.terminal import LEVEL_STYLE, VERDICT_STYLE, pct, rate

HISTORY_SNAPSHOTS = 60  # sparkline length: distinct JobManager metric snapshots (~10 s each)
SPARKS = "▁▂▃▄▅▆▇█"
# Flink's UI colours: busy red, backpressured black (grey on a dark terminal), idle blue.
BUSY_STYLE, BP_STYLE, IDLE_STYLE = "red", "grey62", "blue"


# ---- state: what the view shows, computed from samples ------------------------------------

@dataclass(frozen=True)
class Move:
    """The bottleneck(s) from time `t` (epoch s) on: (task, cause) pairs, empty when none."""

    t: float
    verdict: Verdict
    bottlenecks: tuple[tuple[str, str], ...]

    @property
    def label(self) -> str:
        if self.bottlenecks:
            return ", ".join(f"{name} ({cause})" for name, cause in self.bottlenecks)
        return "no bottleneck" if self.verdict == Verdict.HEALTHY else "no clear source"


@dataclass(frozen=True)
class TaskLine:
    """One row of the view: the task now (over the window) and its recent history."""

    name: str
    parallelism: int
    busy: float | None
    backpressured: float | None
    idle: float | None
    level: Level
    records_in_per_s: float | None
    records_out_per_s: float | None
    busy_history: tuple[float | None, ...]
    backpressured_history: tuple[float | None, ...]
    cause: str | None = None  # set when this task is a bottleneck


@dataclass(frozen=True)
class WatchState:
    """Everything the watch view shows; times are epoch seconds, windows seconds."""

    job_id: str
    job_name: str
    job_state: str
    t: float
    first_t: float
    uptime_s: float | None
    verdict: Verdict
    confidence: str
    window_s: float  # what the counters cover
    polls: int
    snapshots: int
    tasks: list[TaskLine]
    findings: list[tuple[str, str, str]]  # (task, cause, summary) of each bottleneck
    moves: list[Move]
    notes: list[str] = field(default_factory=list)


class Watcher:
    """Accumulates the samples of one job and builds WatchStates; pure, no I/O, no clock."""

    def __init__(self, window_s: float = DEFAULT_WINDOW_S,
                 history: int = HISTORY_SNAPSHOTS) -> None:
        self.window_s = window_s
        self.history: deque[TimelineStep] = deque(maxlen=history)
        self.moves: list[Move] = []
        self.samples: list[Sample] = []
        self.polls = self.snapshots = 0
        self.first_t: float | None = None
        self._snapshot: Sample | None = None
        self._diagnosis: Diagnosis | None = None

    def add(self, graph: JobGraph, sample: Sample) -> None:
        """Take one poll; a new distinct metric snapshot extends the history."""
        if self.samples and sample.job_id != self.samples[-1].job_id:
            # Another job: its counters start afresh. Keep where the bottleneck has been.
            self.samples, self._snapshot = [], None
        self.polls += 1
        self.first_t = sample.t if self.first_t is None else self.first_t
        self.samples.append(sample)
        keep_from = sample.t - self.window_s - 1.0
        while self.samples and self.samples[0].t < keep_from:
            self.samples.pop(0)
        new = self._snapshot is None or len(distinct_snapshots([self._snapshot, sample])) == 2
        if new:
            if self._snapshot is not None:
                self.history.extend(task_timeline(graph, [self._snapshot, sample]))
            self._snapshot = sample
            self.snapshots += 1
        d = diagnose(graph, self.samples, window_s=self.window_s)
        self._diagnosis = d
        if d.verdict != Verdict.UNKNOWN:
            key = tuple((f.vertex_name or "?", str(f.cause)) for f in d.bottlenecks)
            last = self.moves[-1] if self.moves else None
            if last is None or (last.verdict, last.bottlenecks) != (d.verdict, key):
                self.moves.append(Move(sample.t, d.verdict, key))

    def state(self) -> WatchState:
        """The view of everything added so far (add() at least one sample first)."""
        d, latest = self._diagnosis, self.samples[-1]
        assert d is not None
        causes = {f.vertex_id: str(f.cause) for f in d.bottlenecks}
        return WatchState(
            job_id=d.job_id, job_name=d.job_name, job_state=d.job_state, t=latest.t,
            first_t=self.first_t or latest.t, uptime_s=d.uptime_s, verdict=d.verdict,
            confidence=d.confidence, window_s=d.window_s, polls=self.polls,
            snapshots=self.snapshots, tasks=[self._line(t, causes) for t in d.tasks],
            findings=[(f.vertex_name or "?", str(f.cause), f.summary) for f in d.bottlenecks],
            moves=list(self.moves), notes=list(d.notes),
        )

    def _line(self, t: TaskState, causes: dict[str | None, str]) -> TaskLine:
        points = [h.tasks.get(t.vertex_id) for h in self.history]
        return TaskLine(
            t.name, t.parallelism, t.busy, t.backpressured, t.idle, t.level,
            t.records_in_per_s, t.records_out_per_s,
            tuple(p.busy if p else None for p in points),
            tuple(p.backpressured if p else None for p in points),
            causes.get(t.vertex_id),
        )


def build_state(graph: JobGraph, samples: Sequence[Sample], *,
                window_s: float = DEFAULT_WINDOW_S,
                history: int = HISTORY_SNAPSHOTS) -> WatchState:
    """The watch view after seeing `samples` (oldest first) of one job, poll by poll."""
    if not samples:
        raise ValueError("build_state() needs at least one sample")
    w = Watcher(window_s, history)
    for s in samples:
        w.add(graph, s)
    return w.state()


# ---- rendering: a state to text -----------------------------------------------------------

def sparkline(values: Sequence[float | None], width: int) -> str:
    """The last `width` ratios (0..1) as block characters; a gap where unmeasured."""
    top = len(SPARKS) - 1
    return "".join(" " if v is None or not math.isfinite(v) else
                   SPARKS[min(top, max(0, round(v * top)))]
                   for v in (list(values)[-width:] if width > 0 else []))


def clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def duration(s: float | None) -> str:
    n = max(0, int(s or 0))
    return "?" if s is None else f"{n // 60}m{n % 60:02d}s" if n >= 60 else f"{n}s"


def where_it_has_been(state: WatchState, last: int = 6) -> str:
    """'14:02:10 enrich (data-skew) -> 14:02:40 window (compute-bound)'."""
    moves = state.moves[-last:]
    text = " -> ".join(f"{clock(m.t)} {m.label}" for m in moves)
    return ("... -> " if len(state.moves) > last else "") + (text or "not judged yet")


def footer(state: WatchState, status: str = "") -> str:
    return (f"poll {state.polls} · {state.snapshots} snapshots · counters cover "
            f"{state.window_s:.0f} s · job up {duration(state.uptime_s)} · watching "
            f"{duration(state.t - state.first_t)}" + (f" · {status}" if status else ""))


def render(state: WatchState, width: int = 100, status: str = "",
           keys: str = "q quit · p pause") -> RenderableType:
    """The full-screen view: header, task table with sparklines, bottlenecks, footer."""
    head = Text()
    head.append(f"{state.job_name or state.job_id}", style="bold")
    head.append(f"  {state.job_id[:8]} {state.job_state}  ")
    head.append(state.verdict.value.upper(), style=VERDICT_STYLE[state.verdict])
    head.append(f"  confidence {state.confidence}  {clock(state.t)}", style="dim")
    spark_w = max(8, min(HISTORY_SNAPSHOTS, width - 72))
    table = Table(show_edge=False, pad_edge=False, expand=False)
    for col, just in [("task", "left"), ("par", "right"), ("busy", "right"), ("bp", "right"),
                      ("idle", "right"), ("level", "left"), ("in/s", "right"),
                      ("out/s", "right"), ("history: busy / bp", "left")]:
        table.add_column(col, justify=just, no_wrap=(col != "task"))  # type: ignore[arg-type]
    for t in state.tasks:
        name = Text(t.name)
        if t.cause:
            name.append(f" ◀ {t.cause}", style="bold red")
        hist = Text(sparkline(t.busy_history, spark_w), style=BUSY_STYLE)
        hist.append("\n" + sparkline(t.backpressured_history, spark_w), style=BP_STYLE)
        table.add_row(
            name, str(t.parallelism), Text(pct(t.busy), style=BUSY_STYLE),
            Text(pct(t.backpressured), style=BP_STYLE), Text(pct(t.idle), style=IDLE_STYLE),
            Text(t.level.value, style=LEVEL_STYLE[t.level]),
            rate(t.records_in_per_s), rate(t.records_out_per_s), hist,
        )
    parts: list[RenderableType] = [head, table, Text("")]
    for task, cause, summary in state.findings:
        line = Text("bottleneck ", style="bold")
        line.append(f"{task} ({cause})", style="bold red")
        line.append(f"  {summary}")
        parts.append(line)
    if not state.findings:
        parts.append(Text(f"bottleneck: none ({state.verdict.value})", style="bold"))
    parts.append(Text("where it has been: ", style="bold") + Text(where_it_has_been(state)))
    parts.extend(Text(f"note: {n}", style="yellow") for n in state.notes)
    parts.append(Text(""))
    parts.append(Text(footer(state, status) + (f" · {keys}" if keys else ""), style="reverse"))
    return Group(*parts)


def render_lines(state: WatchState) -> list[str]:
    """The view as plain lines, for pipes and CI logs."""
    bottleneck = (", ".join(f"{n} ({c})" for n, c, _ in state.findings) or "none")
    return [f"{clock(state.t)} {state.job_name} {state.job_state} "
            f"{state.verdict.value.upper()} (confidence {state.confidence}) bottleneck: "
            f"{bottleneck} | {footer(state)}"] + [
        f"  {t.name:<24} busy {pct(t.busy)} bp {pct(t.backpressured)} idle {pct(t.idle)} "
        f"{t.level.value:<7} in/s {rate(t.records_in_per_s):>6} out/s "
        f"{rate(t.records_out_per_s):>6}" + (f"  <- {t.cause}" if t.cause else "")
        for t in state.tasks]


# ---- the terminal: the loop --------------------------------------------------------

class _ReplayFeed:
    """A recording's samples, paced by their times / `speed` (0: no delay)."""

    def __init__(self, path: str, job: str | None, speed: float) -> None:
        from flowscope.session import ReplaySession

        self.session, self.speed = ReplaySession(path, job), speed
        self.status = f"replay x{speed:g}" if speed else "replay"

    def items(self, wait: Callable[[float], None]) -> Iterator[tuple[JobGraph, Sample | None]]:
        prev_t: float | None = None
        for graph, sample in self.session.samples():
            if prev_t is not None and self.speed > 0:
                wait((sample.t - prev_t) / self.speed)
            prev_t = sample.t
            yield graph, sample
        self.status = "end of recording"

    def close(self) -> None:
        self.session.close()


class _LiveFeed:
    """A live job's samples every `interval` s; a failed poll yields None and a status."""

    def __init__(self, url: str, job: str | None, headers: dict[str, str],
                 record_to: str | None, interval: float) -> None:
        from flowscope.session import LiveSession

        self.session = LiveSession(url, job, headers=headers, record_to=record_to)
        self.interval, self.status = interval, ""

    def items(self, wait: Callable[[float], None]) -> Iterator[tuple[JobGraph, Sample | None]]:
        graph: JobGraph | None = None
        while True:
            began = time.monotonic()
            sample: Sample | None = None
            try:
                graph, sample = self.session.poll()
                self.status = f"live, every {self.interval:g} s"
            except FlowscopeError as exc:  # keep watching through a hiccup
                self.status = f"poll failed: {exc}"
            if graph is not None:
                yield graph, sample
            wait(max(0.0, self.interval - (time.monotonic() - began)))

    def close(self) -> None:
        self.session.close()


def run_watch(feed: _ReplayFeed | _LiveFeed, *, window_s: float, duration_s: float | None,
              replay: bool) -> None:
    """Drive the view from `feed` until it ends, the user quits, or `duration_s` passes."""
    from rich.live import Live

    watcher = Watcher(window_s)
    screen = sys.stdout.isatty()
    console = Console()
    started = time.monotonic()
    # SystemExit unwinds the with-blocks below, so the terminal is restored on `kill` too.
    old_term = signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    try:
        with contextlib.ExitStack() as stack:
            keys = stack.enter_context(Keys(enabled=screen))
            live = stack.enter_context(Live(console=console, screen=True, auto_refresh=False,
                                            transient=True)) if screen else None
            hint = "q quit · p pause" if keys.active else "Ctrl-C quits"

            def show(paused: bool = False) -> None:
                if live is not None and watcher.polls:
                    tag = "PAUSED (p resumes)" if paused else feed.status
                    live.update(render(watcher.state(), console.width, tag, hint), refresh=True)

            keys.on_pause = show
            printed = -1
            try:
                for graph, sample in feed.items(lambda s: keys.wait(s, replay)):
                    if sample is not None:
                        watcher.add(graph, sample)
                    if not keys.paused:
                        show()
                    if live is None and watcher.polls and watcher.snapshots != printed:
                        printed = watcher.snapshots
                        click.echo("\n".join(render_lines(watcher.state())))
                    if duration_s is not None and time.monotonic() - started >= duration_s:
                        break
                else:
                    show()
                    if live is not None and keys.active:
                        keys.wait(math.inf, hold_while_paused=True)
            except (Quit, KeyboardInterrupt):
                pass
    finally:
        signal.signal(signal.SIGTERM, old_term)
        feed.close()
    if watcher.polls:
        click.echo(f"where it has been: {where_it_has_been(watcher.state(), last=20)}")


@click.command("watch")
@source_options
@click.option("--interval", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Seconds between polls of a live job.")
@click.option("--record", "record_to", type=click.Path(dir_okay=False), default=None,
              help="Also record the polls of a live job to this file.")
@click.option("--speed", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Replay a --from recording this many times faster than real time; "
                   "0 replays without delay.")
@click.option("--window", type=float, default=DEFAULT_WINDOW_S, show_default=True,
              help="Judge the bottleneck over the last WINDOW seconds.")
@click.option("--duration", type=float, default=None,
              help="Stop after this many seconds (default: until q, Ctrl-C, or the end "
                   "of the recording when not on a terminal).")
@friendly_errors
def watch(url: str, job: str | None, headers: tuple[str, ...], from_file: str | None,
          interval: float, record_to: str | None, speed: float, window: float,
          duration: float | None) -> None:
    """A live, top-like view: each task's busy / backpressured / idle with its recent
    history, the bottleneck and its cause, and where the bottleneck has been.

    Keys: q quits, p pauses. Not on a terminal (a pipe, CI), it prints a block of plain
    lines at each new metric snapshot instead, and ends with the recording.
    """
    feed = (_ReplayFeed(from_file, job, speed) if from_file
            else _LiveFeed(url, job, _headers(headers), record_to, interval))
    run_watch(feed, window_s=window, duration_s=duration, replay=bool(from_file))
