"""Every sentence flowscope says, composed once from the analysis's typed judgements.

The analysis returns causes, facts (numbers with their units), action kinds, evidence reasons
and note kinds; these modules turn them into the words every output shows: the terminal, the
JSON `summary` / `text` / `why` fields, the HTML report, the dashboard, the fleet table and
the alerts. Nothing parses a sentence back.
"""

from __future__ import annotations

from flowscope.render.words.actions import action, short_action
from flowscope.render.words.evidence import meaning, why
from flowscope.render.words.findings import summary
from flowscope.render.words.notes import note, notes

__all__ = ["action", "meaning", "note", "notes", "short_action", "summary", "why"]
