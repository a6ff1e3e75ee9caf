"""When a command must be over: `--duration` as one clock that every loop and request reads.

A command makes its `Deadline` when it starts and hands it to what it runs: a loop asks
`passed()` before each round and sleeps with `sleep()` (never past the end); the REST client
gives no request longer than `request_s()` (what is left, plus `GRACE_S` so that a poll begun
just before the end can finish). A command with --duration so ends within the duration plus
`GRACE_S` and its own clean-up, whatever its polls do: answer, fail, or hang.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

# How far past the end a request begun before it may run (seconds).
GRACE_S = 0.5


class Deadline:
    """`seconds` from now on `clock` (monotonic seconds); None: no end."""

    def __init__(self, seconds: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.seconds = seconds
        self.at = None if seconds is None else self.started + seconds

    @property
    def bounded(self) -> bool:
        return self.at is not None

    def left(self) -> float:
        """Seconds until the end: negative once past it, infinite without one."""
        return math.inf if self.at is None else self.at - self.clock()

    def passed(self) -> bool:
        return self.left() <= 0.0

    def elapsed(self) -> float:
        """Seconds since the start."""
        return self.clock() - self.started

    def request_s(self) -> float:
        """The longest a request begun now may take (seconds; 0: none may begin)."""
        return max(0.0, self.left() + GRACE_S)

    def within(self, seconds: float | None) -> Deadline:
        """This deadline, or one `seconds` after this one's start when that is earlier."""
        if seconds is None or (self.at is not None and self.seconds is not None
                               and self.seconds <= seconds):
            return self
        narrower = Deadline.__new__(Deadline)
        narrower.clock, narrower.started, narrower.seconds = self.clock, self.started, seconds
        narrower.at = self.started + seconds
        return narrower

    def sleep(self, seconds: float, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Sleep `seconds`, or until the end when that comes first; False when the end came
        (the caller's loop is over)."""
        pause = max(0.0, seconds)
        left = self.left()
        if left <= pause:
            if left > 0:
                sleep(left)
            return False
        sleep(pause)
        return True
