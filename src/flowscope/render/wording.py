"""Sentences composed from findings, once, for every renderer (terminal, JSON, HTML, web)."""

from __future__ import annotations

from flowscope.analysis.findings import Cause, Finding


def summary(f: Finding) -> str:
    """The finding's one-line summary as every output shows it."""
    if f.cause == Cause.TRANSIENT and f.transient_share is not None:
        return (f"transient: {f.summary} (only in {f.transient_share:.0%} of the intervals; "
                "usually nothing to do)")
    return f.summary
