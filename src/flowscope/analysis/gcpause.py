"""Pausing Python's cyclic garbage collector while an analysis allocates.

A diagnosis of a big job allocates a few objects per subtask (100,000 subtasks: ~1 M objects)
while the samples it reads hold millions more; each time the allocations cross the
collector's threshold, a collection walks every object alive, samples included, which cost
about half of `diagnose()` at 100,000 subtasks. The analysis creates no reference cycles that
need collecting before it returns, so the collector is paused for the call and resumed after
(reference counting frees memory as usual meanwhile). Calls may nest and run in several
threads: the collector resumes when the last one returns, and only if it was running.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.Lock()
_active = 0
_was_enabled = False


def _enter() -> None:
    global _active, _was_enabled
    with _lock:
        if _active == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _active += 1


def _leave() -> None:
    global _active
    with _lock:
        _active -= 1
        if _active == 0 and _was_enabled:
            gc.enable()


def gc_paused(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` with the cyclic garbage collector paused while it runs."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        _enter()
        try:
            return fn(*args, **kwargs)
        finally:
            _leave()

    return wrapper
