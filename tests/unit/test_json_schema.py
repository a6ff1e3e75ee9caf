"""`flowscope diagnose --json` keeps to schema/diagnosis.schema.json and its exit codes.

The CLI runs as a subprocess on the recorded fixtures, as a user's script would run it.
"""

from __future__ import annotations

import copy
import json
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "schema" / "diagnosis.schema.json"
ERROR_SCHEMA_PATH = ROOT / "schema" / "error.schema.json"
DOC_PATH = ROOT / "docs" / "json-schema.md"
RECORDINGS = sorted(p.stem for p in FIXTURES.glob("*.fsrec"))
EXIT_FOR_VERDICT = {"healthy": 0, "backpressured": 1, "limited": 5, "restarting": 9, "unknown": 3}


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowscope.cli", *map(str, args)],
        capture_output=True, text=True, timeout=120, check=False,
    )


@cache
def diagnose_json(name: str) -> tuple[int, str]:
    proc = run_cli("diagnose", "--from", FIXTURES / f"{name}.fsrec", "--json")
    return proc.returncode, proc.stdout


@cache
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_there_are_recordings_to_check():
    assert len(RECORDINGS) >= 5, RECORDINGS


@pytest.mark.parametrize("name", RECORDINGS)
def test_diagnosis_json_validates_and_exit_code_matches_verdict(name):
    code, out = diagnose_json(name)
    doc = json.loads(out)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(doc)]
    assert errors == []
    assert doc["schema"] == "flowscope.diagnosis/3"
    assert code == EXIT_FOR_VERDICT[doc["verdict"]], (code, doc["verdict"])
    assert doc["bottlenecks"] == [f["vertex_name"] for f in doc["findings"] if f["is_bottleneck"]]


def _valid_doc() -> dict[str, Any]:
    _, out = diagnose_json("skew")
    doc: dict[str, Any] = json.loads(out)
    assert doc["findings"] and doc["tasks"][0]["subtasks"], "skew should have findings"
    return doc


@pytest.mark.parametrize("path", [
    ("verdict",),
    ("tasks", 0, "busy"),
    ("tasks", 0, "subtasks", 0, "basis"),
    ("findings", 0, "evidence", 0, "unit"),
    ("findings", 0, "actions", 0, "parallelism"),
])
def test_schema_rejects_a_document_missing_a_required_field(path):
    doc = copy.deepcopy(_valid_doc())
    parent: Any = doc
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    errors = list(validator().iter_errors(doc))
    assert any(f"'{path[-1]}' is a required property" in e.message for e in errors), errors


@pytest.mark.parametrize("change", [
    lambda d: d.update(verdict="fine"),
    lambda d: d["tasks"][0].update(level="MEDIUM"),
    lambda d: d["tasks"][0].update(busy="98%"),
    lambda d: d.update(surprise=1),
])
def test_schema_rejects_wrong_values_and_unknown_fields(change):
    doc = copy.deepcopy(_valid_doc())
    change(doc)
    assert not validator().is_valid(doc)


def _truncated_copy(src: Path, dst: Path, keep_s: float) -> None:
    """The first `keep_s` seconds of a real recording (a young job), polls after it removed."""
    with closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True)) as a, \
            closing(sqlite3.connect(dst)) as b:
        a.backup(b)
        first = b.execute("SELECT MIN(t) FROM polls").fetchone()[0]
        with b:
            b.execute("DELETE FROM responses WHERE poll_id IN "
                      "(SELECT id FROM polls WHERE t > ?)", (first + keep_s,))
            b.execute("DELETE FROM polls WHERE t > ?", (first + keep_s,))


def test_young_job_exits_3_with_valid_json(tmp_path):
    young = tmp_path / "young.fsrec"
    _truncated_copy(FIXTURES / "skew.fsrec", young, keep_s=6.0)
    proc = run_cli("diagnose", "--from", young, "--json")
    doc = json.loads(proc.stdout)
    assert validator().is_valid(doc)
    assert doc["verdict"] == "unknown" and doc["notes"]
    assert proc.returncode == 3


@cache
def error_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(ERROR_SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_unreadable_recording_exits_4_with_an_error_document(tmp_path):
    bogus = tmp_path / "not-a-recording.fsrec"
    bogus.write_text("hello")
    proc = run_cli("diagnose", "--from", bogus, "--json")
    assert proc.returncode == 4
    assert proc.stderr.startswith("flowscope: error:")
    doc = json.loads(proc.stdout)
    assert list(error_validator().iter_errors(doc)) == []
    assert doc["kind"] == "recording" and doc["polls"] is None
    # The same one line as on stderr: a script need not read both.
    assert proc.stderr.strip() == f"flowscope: error: {doc['error']}"


def test_bad_option_exits_2():
    assert run_cli("diagnose", "--window", "soon").returncode == 2


def _properties(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        found.update(node.get("properties", {}))
        for v in node.values():
            found |= _properties(v)
    elif isinstance(node, list):
        for v in node:
            found |= _properties(v)
    return found


def test_every_schema_field_is_documented():
    fields = set()
    for path in (SCHEMA_PATH, ERROR_SCHEMA_PATH):
        fields |= _properties(json.loads(path.read_text()))
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", DOC_PATH.read_text(), re.MULTILINE))
    assert fields - documented == set()
    assert documented - fields == set()


def test_the_schema_knows_every_word_of_the_vocabulary():
    """scripts/sync_schema.py keeps the schema in step with analysis/findings.py."""
    from flowscope.analysis.findings import ActionKind, Cause, Fact, NoteKind, Verdict, Why

    schema = json.loads(SCHEMA_PATH.read_text())
    d = schema["$defs"]
    assert set(d["cause"]["enum"]) == {c.value for c in Cause}
    assert set(schema["properties"]["verdict"]["enum"]) == {v.value for v in Verdict}
    assert set(d["evidence"]["properties"]["reason"]["enum"]) == {w.value for w in Why}
    assert set(d["action"]["properties"]["kind"]["enum"]) == {a.value for a in ActionKind}
    assert set(schema["properties"]["note_kinds"]["items"]["enum"]) == {n.value for n in NoteKind}
    assert set(d["facts"]["properties"]) == {f.value for f in Fact}
