"""Single key presses from a terminal, without extra dependencies (termios, tty, select).

`Keys` puts a TTY stdin in cbreak mode (no echo, no line buffering; Ctrl-C still raises
KeyboardInterrupt), reads it in a thread, and restores the tty mode on exit, errors included.
Without a TTY it is inactive and `wait()` just sleeps.
"""

from __future__ import annotations

import math
import os
import queue
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any


class Quit(Exception):
    """The user asked to quit."""


class Keys:
    """Key presses from a terminal stdin, read in a thread (cbreak mode, so Ctrl-C still
    raises KeyboardInterrupt); the tty mode is restored on exit. Inactive without a TTY.
    `wait()` sleeps between updates while handling them: q quits, p toggles `paused`."""

    def __init__(self, enabled: bool = True) -> None:
        self.events: queue.Queue[str] = queue.Queue()
        self.active = enabled and sys.stdin.isatty()
        self.paused = False
        self.on_pause: Callable[[bool], None] = lambda paused: None
        self._saved: list[Any] | None = None
        self._wake_r = self._wake_w = -1
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Keys:
        if self.active:
            import termios
            import tty

            fd = sys.stdin.fileno()
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd, termios.TCSANOW)
            self._wake_r, self._wake_w = os.pipe()
            self._thread = threading.Thread(target=self._read, args=(fd,), daemon=True)
            self._thread.start()
        return self

    def _read(self, fd: int) -> None:
        while True:
            ready, _, _ = select.select([fd, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            data = os.read(fd, 64)
            if not data:
                return
            for ch in data.decode(errors="ignore"):
                self.events.put(ch)

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=1.0)
            os.close(self._wake_r)
            os.close(self._wake_w)
        if self._saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)

    def wait(self, seconds: float, hold_while_paused: bool) -> None:
        """Sleep `seconds` (longer while paused, if asked); raise Quit on q."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0 and not (self.paused and hold_while_paused):
                return
            if not self.active:
                time.sleep(max(left, 0.0))
                return
            try:
                hold = (self.paused and hold_while_paused) or math.isinf(left)
                key = self.events.get(timeout=None if hold else max(left, 0.0))
            except queue.Empty:
                continue
            if key in "qQ":
                raise Quit
            if key in "pP":
                self.paused = not self.paused
                self.on_pause(self.paused)
