"""Edit a copy of a real recording: the same Flink responses with some names changed.

Used to show hostile names (markup, quotes, newlines) to the web dashboard and the exporter:
the data stays what a real cluster sent, only the chosen JSON string values differ.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Mapping
from pathlib import Path


def _rename(value: object, names: Mapping[str, str]) -> object:
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, dict):
        return {k: _rename(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v, names) for v in value]
    return value


def copy_with_names(src: Path, dst: Path, names: Mapping[str, str]) -> int:
    """Copy recording `src` to `dst`, replacing every JSON string value equal to a key of
    `names` (a vertex name, the job name) in its stored responses; returns how many response
    bodies changed. Metric ids such as "0.enrich.numRecordsIn" are not whole values and stay."""
    with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as source, sqlite3.connect(dst) as out:
        source.backup(out)
    changed = 0
    conn = sqlite3.connect(dst)
    try:
        with conn:
            for body_id, data in conn.execute("SELECT id, data FROM bodies").fetchall():
                text = zlib.decompress(data)
                try:
                    parsed = json.loads(text)
                except ValueError:
                    continue
                renamed = _rename(parsed, names)
                if renamed != parsed:
                    new = json.dumps(renamed, separators=(",", ":")).encode()
                    conn.execute("UPDATE bodies SET data = ? WHERE id = ?",
                                 (zlib.compress(new, 6), body_id))
                    changed += 1
    finally:
        conn.close()
    return changed
