"""A memo of pure results keyed by the objects they were computed from, for repeated analysis
of the same samples (`watch` and `serve` diagnose every poll over a history that mostly
repeats). Pure: no I/O, no clock.

Entries hold weak references to their key objects, so the memo never keeps a sample alive:
an entry whose objects were collected is never returned (its ids may be reused) and is dropped
on the next lookup. At most `size` entries are kept, least recently used dropped first.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class IdentityMemo(Generic[V]):
    """value = compute() for a tuple of objects, remembered while every object lives."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size < 1: {size}")
        self.size = size
        self._lock = threading.Lock()  # `serve` diagnoses and draws from several threads
        self._entries: dict[tuple[int, ...], tuple[tuple[weakref.ref[object], ...], V]] = {}
        # Keys whose objects were collected (appended by weakref callbacks, which may run in
        # any thread at any moment, so they only append).
        self._dead: list[tuple[int, ...]] = []

    def get(self, objs: tuple[object, ...], compute: Callable[[], V]) -> V:
        key = tuple(id(o) for o in objs)
        with self._lock:
            while self._dead:
                gone = self._dead.pop()
                entry = self._entries.get(gone)
                if entry is not None and any(r() is None for r in entry[0]):
                    del self._entries[gone]
            hit = self._entries.pop(key, None)
            if hit is not None and all(r() is o for r, o in zip(hit[0], objs, strict=True)):
                self._entries[key] = hit  # most recently used last
                return hit[1]
        value = compute()
        dead = self._dead

        def collected(_: weakref.ref[object], key: tuple[int, ...] = key) -> None:
            dead.append(key)

        refs = tuple(weakref.ref(o, collected) for o in objs)
        with self._lock:
            self._entries[key] = (refs, value)
            while len(self._entries) > self.size:
                del self._entries[next(iter(self._entries))]
        return value

    def __len__(self) -> int:
        return len(self._entries)
