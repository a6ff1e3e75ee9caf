"""The house rules of the code's layout (README, "How it is built"), checked on the source.

- analysis/ is pure: it imports no part of flowscope but `model` and `analysis` itself;
- no stage imports the commands (`flowscope.cli`);
- only flink/ (and recording.py, whose transport replays REST answers) knows REST paths.
  The lab, which starts, submits to and cancels its own local cluster, is exempt: it is a
  test harness for Flink, not a reader of it.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "flowscope"
REST_PREFIXES = ("/jobs", "/taskmanagers", "/overview", "/jobmanager")
REST_ALLOWED = ("flink/", "recording.py", "lab/")


def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in out if m == "flowscope" or m.startswith("flowscope.")}


def rel(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def test_there_is_code_to_check():
    names = {rel(p) for p in modules()}
    assert {"analysis/engine.py", "flink/rest.py", "cli/__init__.py", "model.py"} <= names


def test_analysis_imports_only_model():
    bad = {rel(p): sorted(m for m in imports_of(p)
                          if not (m == "flowscope.model"
                                  or m.startswith(("flowscope.model.", "flowscope.analysis"))))
           for p in modules() if rel(p).startswith("analysis/")}
    assert len(bad) >= 10
    assert {k: v for k, v in bad.items() if v} == {}


def test_no_stage_imports_the_commands():
    bad = {rel(p): sorted(m for m in imports_of(p)
                          if m == "flowscope.cli" or m.startswith("flowscope.cli."))
           for p in modules() if not rel(p).startswith("cli/")}
    assert {k: v for k, v in bad.items() if v} == {}


def rest_paths(path: Path) -> list[str]:
    """String literals (f-strings' literal parts too) that start like a REST path."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            first = node.values[0] if node.values else None
            text = first.value if isinstance(first, ast.Constant) else ""
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if isinstance(text, str) and text.startswith(REST_PREFIXES):
            found.append(text)
    return found


def test_only_flink_knows_rest_paths():
    spelled = {rel(p): rest_paths(p)[:3] for p in modules()
               if not rel(p).startswith(REST_ALLOWED)}
    assert {k: v for k, v in spelled.items() if v} == {}


def test_the_rest_path_check_sees_paths():
    # The check must find what it looks for, or it proves nothing.
    assert "/jobs/overview" in rest_paths(SRC / "flink" / "rest.py")
    assert any(p.startswith("/jobs/") for p in rest_paths(SRC / "flink" / "ondemand.py"))


def test_the_import_check_sees_imports():
    assert "flowscope.analysis.findings" in imports_of(SRC / "analysis" / "engine.py")
    assert "flowscope.flink.rest" in imports_of(SRC / "sampling.py")


def sentences(path: Path) -> list[str]:
    """String constants of four words or more, docstrings aside: words meant for people."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(b.body[0].value) for b in ast.walk(tree)
            if isinstance(b, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and b.body and isinstance(b.body[0], ast.Expr)
            and isinstance(b.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docs and len(node.value.split()) >= 4]


def test_the_analysis_writes_no_sentences():
    """analysis/ decides and returns typed judgements; render/words composes every sentence."""
    found = {rel(p): sentences(p)[:2] for p in modules() if rel(p).startswith("analysis/")}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_sentence_check_sees_sentences():
    assert sentences(SRC / "render" / "words" / "actions.py")


# A rule is a small named function of the evidence (STYLE.md): none in analysis/ longer than
# this many lines.
MAX_FUNCTION_LINES = 60


def test_the_analysis_functions_are_small():
    long = {}
    for p in modules():
        if not rel(p).startswith("analysis/"):
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{rel(p)}:{node.name}"] = lines
    assert long == {}


def test_only_renderers_read_the_profile_words():
    # Sentences are composed in render/ and shown by render/, web/ and cli/; a decider that
    # read them would be deciding on words.
    words = "flowscope.render.words.profile"
    readers = {rel(p) for p in modules() if any(m == words or m.startswith(words + ".")
                                                for m in imports_of(p))}
    assert "render/profile.py" in readers
    assert {r for r in readers if not r.startswith(("render/", "web/", "cli/"))} == set()
