"""`flowscope report`: the HTML report of every recorded scenario, self-contained and escaped."""

from __future__ import annotations

import json
import re
import sqlite3
import zlib
from contextlib import closing
from functools import cache
from hashlib import blake2b
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from flowscope.analysis.engine import diagnose
from flowscope.api import build_report, default_output, load_recording
from flowscope.cli import main
from tests.conftest import FIXTURES, fixture_path

RECORDINGS = sorted(p.stem for p in FIXTURES.glob("*.fsrec"))
HOSTILE_TASK = "<script>alert(1)</script>"
HOSTILE_JOB = '"><img src=x onerror=alert(2)>'
VOID = {"meta", "br", "img", "input", "link", "hr", "col", "source", "wbr"}


class Page(HTMLParser):
    """Every element with its attributes, the text, and whether tags balance."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.stack: list[str] = []
        self.unbalanced: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.unbalanced.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements
                if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def with_class(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and cls in a.get("class", "").split()]


@cache
def report_of(name: str) -> tuple[str, Any]:
    """The report of a fixture and its diagnosis (built once per test run)."""
    path = fixture_path(name)
    graph, samples = load_recording(path)
    return build_report(graph, samples, source=str(path)), diagnose(graph, samples)


@pytest.mark.parametrize("name", RECORDINGS)
def test_report_renders_each_recording(name):
    html, d = report_of(name)
    page = Page(html)
    assert page.unbalanced == [] and page.stack == []
    text = "".join(page.text)
    assert d.job_name in text and d.verdict.value in text
    # Every task is drawn in the graph, has a timeline card and a subtask table.
    graph_nodes = {a["data-vertex"] for a in page.with_class("g", "node")}
    assert graph_nodes == {t.vertex_id for t in d.tasks}
    # Bottlenecks are marked in the graph with their cause, and only they.
    marked = {a["data-vertex"]: a["data-cause"] for a in page.with_class("g", "bottleneck")}
    assert marked == {f.vertex_id: str(f.cause) for f in d.bottlenecks}
    # One subtask row per subtask of every task.
    rows = [a for t, a in page.elements if t == "tr" and "data-subtask" in a]
    assert len(rows) == sum(len(t.subtasks) for t in d.tasks)
    # The timelines have data: step lines with more than one interval.
    points = [int(a["data-points"]) for a in page.with_class("path", "series")]
    assert max(points) > 1


@pytest.mark.parametrize("name", RECORDINGS)
def test_report_is_self_contained(name):
    html, _ = report_of(name)
    page = Page(html)
    assert not [t for t, _ in page.elements if t in ("script", "link", "img", "iframe", "object")]
    for tag, attrs in page.elements:
        for key in ("src", "href", "xlink:href", "action", "srcset"):
            assert key not in attrs, (tag, attrs)
    # The only url() references are to the page's own SVG markers.
    assert set(re.findall(r"url\(([^)]*)\)", html)) <= {"#arrow"}
    assert not re.search(r"https?://(?!localhost)", html.replace("http://recording", ""))
    csp = page.find("meta", http_equiv="Content-Security-Policy")
    assert csp and "default-src 'none'" in csp[0]["content"]


def test_skew_report_shows_the_hot_subtask():
    html, d = report_of("skew")
    (f,) = d.bottlenecks
    assert f.subtasks
    page = Page(html)
    hot = {int(a["data-subtask"]) for a in page.with_class("tr", "hot")}
    assert hot == set(f.subtasks)
    # The heat strip of the bottleneck task has one row per subtask and interval.
    task = next(t for t in d.tasks if t.vertex_id == f.vertex_id)
    assert len(page.with_class("rect", "cell")) >= task.parallelism * 2


def test_a_big_tasks_strip_shows_its_busiest_subtasks(monkeypatch):
    from flowscope.render import html_tasks

    monkeypatch.setattr(html_tasks, "MAX_SUBTASK_ROWS", 1)
    graph, samples = load_recording(fixture_path("skew"))
    html = build_report(graph, samples, source="skew")
    (f,) = diagnose(graph, samples).bottlenecks
    task = next(t for t in diagnose(graph, samples).tasks if t.vertex_id == f.vertex_id)
    assert f"the 1 busiest or most backpressured of {task.parallelism} subtasks" in html
    card = html.split(f'<div class="card hot" data-vertex="{f.vertex_id}"', 1)[1]
    card = card.split('<div class="card', 1)[0]
    rows = set(re.findall(r"<title>#(\d+) ", card))
    assert rows == {str(f.subtasks[0])}


def _rewrite_names(src: Path, dst: Path, renames: dict[str, str]) -> int:
    """Copy a recording, replacing JSON string values in its stored responses. Returns how
    many stored bodies changed."""

    def swap(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return renames.get(v, v) if isinstance(v, str) else v

    changed = 0
    with closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True)) as a, \
            closing(sqlite3.connect(dst)) as b:
        a.backup(b)
        with b:
            for body_id, data in b.execute("SELECT id, data FROM bodies").fetchall():
                raw = zlib.decompress(data)
                try:
                    new = json.dumps(swap(json.loads(raw)), separators=(",", ":")).encode()
                except ValueError:
                    continue
                if new != raw:
                    b.execute("UPDATE bodies SET data = ?, hash = ? WHERE id = ?",
                              (zlib.compress(new), blake2b(new, digest_size=16).digest(), body_id))
                    changed += 1
    return changed


def test_hostile_names_are_escaped(tmp_path):
    """Flink passes operator and job names through as given, so they can hold markup.

    The recording is the real skew fixture with two strings changed in its stored REST
    responses (the vertex name "enrich" and the job name); everything else is as Flink sent it.
    """
    hostile = tmp_path / "hostile.fsrec"
    assert _rewrite_names(fixture_path("skew"), hostile,
                          {"enrich": HOSTILE_TASK, "flowscope-skew": HOSTILE_JOB}) > 0
    graph, samples = load_recording(hostile)
    assert graph.by_name(HOSTILE_TASK) is not None and graph.name == HOSTILE_JOB
    d = diagnose(graph, samples)
    assert [f.vertex_name for f in d.bottlenecks] == [HOSTILE_TASK]  # same data, same verdict

    html = build_report(graph, samples, source=str(hostile))
    assert HOSTILE_TASK not in html and HOSTILE_JOB not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = Page(html)
    assert not [t for t, _ in page.elements if t in ("script", "img")]
    assert page.unbalanced == [] and page.stack == []
    # The names survive as text, where readers see them.
    text = "".join(page.text)
    assert HOSTILE_TASK in text and HOSTILE_JOB in text
    # And cannot escape a file name either.
    name = default_output(graph)
    assert re.fullmatch(r"flowscope-report-[A-Za-z0-9_.-]+\.html", name), name


def test_report_command_writes_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["report", "--from", str(fixture_path("skew"))])
    assert result.exit_code == 0, result.output
    out = tmp_path / "flowscope-report-flowscope-skew.html"
    assert out.exists() and "wrote" in result.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert not list(tmp_path.glob(".*.tmp"))

    explicit = tmp_path / "r.html"
    result = CliRunner().invoke(main, ["report", "--from", str(fixture_path("healthy")),
                                       "-o", str(explicit)])
    assert result.exit_code == 0 and explicit.stat().st_size > 10_000


def test_report_command_errors(tmp_path):
    runner = CliRunner()
    rec = str(fixture_path("skew"))
    usage = runner.invoke(main, ["report", "--from", rec, "--record", str(tmp_path / "x")])
    assert usage.exit_code == 2
    bogus = tmp_path / "bogus.fsrec"
    bogus.write_text("not sqlite")
    err = runner.invoke(main, ["report", "--from", str(bogus), "-o", str(tmp_path / "o.html")])
    assert err.exit_code == 4 and "not a flowscope recording" in err.output
    assert not (tmp_path / "o.html").exists()


def test_report_of_the_first_polls_says_there_is_nothing_to_plot():
    graph, samples = load_recording(fixture_path("skew"))
    html = build_report(graph, samples[:2], source="first polls")
    page = Page(html)
    assert page.unbalanced == [] and page.stack == []
    assert "nothing to plot over time" in html
    assert "unknown" in "".join(page.text)  # too young to judge
    assert page.with_class("g", "node")  # the graph is still drawn
