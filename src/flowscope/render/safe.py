"""Text from Flink on a terminal: never markup, never control characters.

Job, operator and TaskManager names come from whoever submitted the job. Printed raw, `[/]`
would be read as rich markup (and fail), and an ANSI escape or a carriage return would
reach the terminal and rewrite what it shows. `printable` spells such characters out (`\\x1b`);
`SafeConsole` does it for everything a rich console prints, coloured or not (NO_COLOR, a pipe),
while rich's own styling and cursor control pass through.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.segment import Segment


def _spelled(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, keep_newlines: bool = True) -> str:
    """`text` with every non-printable character (C0/C1 controls, DEL, format characters)
    written as an escape; newlines kept unless asked otherwise."""
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() or (keep_newlines and ch == "\n") else _spelled(ch)
        for ch in text)


class SafeConsole(Console):
    """A rich Console whose printed text cannot carry control characters."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            segment if segment.control else Segment(printable(segment.text), segment.style)
            for segment in buffer)


def console(**kwargs: Any) -> Console:
    """A console for flowscope's terminal output (see SafeConsole)."""
    return SafeConsole(**kwargs)
