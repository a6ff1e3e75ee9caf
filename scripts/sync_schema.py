#!/usr/bin/env python3
"""Keep schema/diagnosis.schema.json and docs/json-schema.md in step with the analysis's
vocabulary (causes, evidence reasons, action kinds, note kinds, facts): run after changing
src/flowscope/analysis/findings.py. tests/unit/test_json_schema.py checks that they agree.

    PYTHONPATH=src python scripts/sync_schema.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from flowscope.analysis.findings import ActionKind, Cause, NoteKind, Verdict, Why

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "schema" / "diagnosis.schema.json"
DOC = REPO / "docs" / "json-schema.md"
FACTS_HEAD = "| fact | unit and meaning |\n|---|---|\n"


def facts() -> dict[str, dict[str, str]]:
    """Each Fact with the comment beside it (its unit and meaning)."""
    src = (REPO / "src" / "flowscope" / "analysis" / "findings.py").read_text()
    block = src[src.index("class Fact(StrEnum):"):src.index("class Why(StrEnum):")]
    return {m.group(1): {"description": (m.group(2) or m.group(1)).strip()}
            for m in re.finditer(r'^\s+[A-Z_]+ = "([a-z_]+)"(?:\s+#\s*(.*))?$', block, re.M)}


def main() -> None:
    schema = json.loads(SCHEMA.read_text())
    d = schema["$defs"]
    d["cause"]["enum"] = [c.value for c in Cause]
    schema["properties"]["verdict"]["enum"] = [v.value for v in Verdict]
    d["evidence"]["properties"]["reason"]["enum"] = [w.value for w in Why]
    d["action"]["properties"]["kind"]["enum"] = [a.value for a in ActionKind]
    schema["properties"]["note_kinds"]["items"]["enum"] = [n.value for n in NoteKind]
    d["facts"]["properties"] = facts()
    SCHEMA.write_text(json.dumps(schema, indent=2) + "\n")
    doc = DOC.read_text()
    rows = "\n".join(f"| `{k}` | {v['description']} |" for k, v in facts().items())
    a = doc.index(FACTS_HEAD) + len(FACTS_HEAD)
    b = doc.find("\n\n", a)
    DOC.write_text(doc[:a] + rows + (doc[b:] if b >= 0 else "\n"))


if __name__ == "__main__":
    main()
