"""`flowscope serve` as a real subprocess, driven by headless Chromium (Playwright).

- over the skew recording: the graph's colours, the bottleneck and its cause, a task's
  subtasks, the time cursor;
- over a copy of that recording in which the stored REST responses (real Flink data) were
  rewritten with SQLite so one vertex and the job carry hostile names: they show as text;
- against the shared lab cluster: live updates reach the page without a reload.
No page may log a console error. FLOWSCOPE_UPDATE_DOCS=1 also writes docs/img/dashboard.png.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import fixture_path
from tests.recording_edit import copy_with_names

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img" / "dashboard.png"
HOSTILE_VERTEX = "<script>alert(1)</script>"
HOSTILE_JOB = '<img src=x onerror="alert(2)">'


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[str]


@dataclass
class Watched:
    """A page and everything it complained about."""

    page: Any
    problems: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.problems == [], self.problems


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(*args: str, token: str | None = None) -> Iterator[Served]:
    port = _free_port()
    env = {**os.environ, "NO_COLOR": "1"}
    if token:
        env["FLOWSCOPE_TOKEN"] = token
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowscope.cli", "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    base = f"http://127.0.0.1:{port}/"
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"flowscope serve exited with {proc.returncode}: {err}{out}")
            try:
                if httpx.get(base + "api/jobs", headers=headers, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("flowscope serve did not answer within 60 s")
            time.sleep(0.2)
        yield Served(base + (f"?token={token}" if token else ""), proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@contextmanager
def watched_page(browser: Any) -> Iterator[Watched]:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    w = Watched(page)
    page.on("console", lambda m: m.type == "error" and w.problems.append(
        f"console: {m.text} ({m.location.get('url')})"))
    page.on("pageerror", lambda e: w.problems.append(f"page error: {e}"))

    def dialog(d: Any) -> None:
        w.problems.append(f"dialog: {d.message}")
        d.dismiss()

    page.on("dialog", dialog)
    try:
        yield w
    finally:
        page.close()


def node(page: Any, name: str) -> Any:
    return page.locator("svg.dag g.node").filter(has=page.locator(f"title:text-is({name!r})"))


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_skew_graph_colours_bottleneck_and_subtasks(browser: Any, tmp_path: Path) -> None:
    with serve("--from", str(fixture_path("skew"))) as srv, watched_page(browser) as w:
        page = w.page
        began = time.monotonic()
        page.goto(srv.url)
        page.wait_for_selector("svg.dag g.node")
        first_render_s = time.monotonic() - began
        enrich, parse = node(page, "enrich"), node(page, "parse")
        r, g, b = rgb(enrich.locator("rect.box").get_attribute("fill"))
        assert r > 200 and g < 130 and b < 130, (r, g, b)  # busy red
        assert parse.get_attribute("data-level") == "HIGH"
        pr, pg, pb = rgb(parse.locator("rect.box").get_attribute("fill"))
        assert max(pr, pg, pb) - min(pr, pg, pb) < 100 and pr < 160, (pr, pg, pb)  # greyed
        assert sum(rgb(parse.locator("rect.box").get_attribute("stroke"))) < 3 * 90  # dark
        assert "bottleneck: data skew" in enrich.text_content()
        assert "bottleneck" not in parse.text_content()
        assert page.locator("svg.dag .edge-strategy", has_text="HASH").count() == 1
        assert page.locator(".timelines .chart canvas").count() == 4

        enrich.click()
        rows = page.locator("table.subtasks tbody tr")
        rows.first.wait_for()
        assert rows.count() == 2
        hot = page.locator("table.subtasks tr.hot")
        assert hot.count() == 1 and "localhost:" in hot.locator("td.tm").text_content()
        finding = page.locator("article.finding[data-cause='data-skew']")
        assert finding.is_visible() and "will not help" in finding.text_content()

        # Scrub back to the first seconds of the job: no verdict yet, so no bottleneck.
        page.locator("#cursor").fill("1")
        page.locator("#cursor-live").wait_for(state="visible")
        page.wait_for_function("!document.querySelector('svg.dag g.node.bottleneck')")
        assert "before the newest" in page.text_content("#cursor-label")
        page.click("#cursor-live")
        page.wait_for_selector("svg.dag g.node.bottleneck")
        page.wait_for_selector("table.subtasks")  # the selected task stays selected
        page.wait_for_timeout(300)
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size < 300 * 1024
        if os.environ.get("FLOWSCOPE_UPDATE_DOCS"):
            DOCS_IMG.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, DOCS_IMG)
        w.assert_clean()
    print(f"time to first render: {first_render_s:.2f} s")


def test_hostile_names_show_as_text(browser: Any, tmp_path: Path) -> None:
    recording = tmp_path / "hostile.fsrec"
    changed = copy_with_names(fixture_path("skew"), recording,
                              {"enrich": HOSTILE_VERTEX, "flowscope-skew": HOSTILE_JOB})
    assert changed > 0
    token = "t0k3n-for-the-browser"
    with serve("--from", str(recording), token=token) as srv, watched_page(browser) as w:
        page = w.page
        assert httpx.get(srv.url.split("?")[0] + "api/jobs").status_code == 401
        page.goto(srv.url)
        page.wait_for_selector("svg.dag g.node")
        hostile = node(page, HOSTILE_VERTEX)
        assert hostile.locator(".node-name").text_content() == HOSTILE_VERTEX
        assert page.text_content("#job-title") == HOSTILE_JOB
        hostile.click()
        page.wait_for_selector("table.subtasks")
        assert page.text_content(".details h2.task-name") == HOSTILE_VERTEX
        assert HOSTILE_VERTEX in page.locator("article.finding .summary").first.text_content()
        # Only the page's own scripts exist, and no element came out of a name.
        srcs = page.eval_on_selector_all("script", "els => els.map(e => e.src)")
        assert len(srcs) == 7 and all("/static/" in s for s in srcs)
        assert page.locator("img").count() == 0
        w.assert_clean()


@pytest.mark.cluster
def test_live_updates_arrive_without_reload(browser: Any, runner: Any, lab_cluster: Any) -> None:
    job_id = runner.submit("off-cpu")
    try:
        with serve("--url", lab_cluster.url, "--job", job_id, "--interval", "1") as srv, \
                watched_page(browser) as w:
            page = w.page
            page.goto(srv.url)
            page.wait_for_selector("svg.dag g.node", timeout=30_000)
            page.evaluate("window.__sameDocument = true")
            before = page.text_content("#freshness")
            assert "polls" in before
            page.wait_for_function(
                "before => document.getElementById('freshness').textContent !== before",
                arg=before, timeout=15_000)
            assert page.text_content("#connection") == "connected"
            # Timelines appear once Flink has refreshed its metrics twice (~10 s apart).
            page.wait_for_selector(".timelines .chart canvas", timeout=60_000)
            assert page.evaluate("window.__sameDocument") is True  # no reload happened
            w.assert_clean()
    finally:
        runner.cancel(job_id)


def test_the_fleet_page_lists_every_job_most_held_back_first(browser: Any) -> None:
    """Several jobs: the front page is the fleet, sorted by severity, each task a box coloured
    as the job graph colours it; a column header re-sorts, a row opens the job."""
    names = ("healthy", "head-cpu", "skew", "off-cpu")
    files = [a for n in names for a in ("--from", str(fixture_path(n)))]
    with serve(*files) as srv, watched_page(browser) as w:
        page = w.page
        page.goto(srv.url)
        rows = page.locator("#fleet-table tbody tr.row")
        page.wait_for_function("document.querySelectorAll('#fleet-table tr.row').length === 4")
        verdicts = [rows.nth(i).locator(".badge").text_content() for i in range(4)]
        assert verdicts == ["backpressured", "backpressured", "limited", "healthy"], verdicts
        skew = rows.filter(has_text="flowscope-skew")
        assert "enrich" in skew.text_content() and "data skew" in skew.text_content()
        boxes = skew.locator(".task-box")
        assert boxes.count() == 4  # Source, parse, enrich, out
        fills = [boxes.nth(i).evaluate("e => getComputedStyle(e).backgroundColor")
                 for i in range(4)]
        red = [int(x) for x in fills[2].removeprefix("rgb(").rstrip(")").split(",")]
        assert red[0] > 200 and red[1] < 130, fills  # enrich busy red, as in the graph
        page.click("#fleet-table th[data-col='name']")
        first = rows.first.locator("td").first.text_content().strip()
        assert first == "flowscope-head-cpu", first  # sorted by name now
        skew.click()
        page.wait_for_selector("svg.dag g.node.bottleneck")
        assert page.text_content("#job-title") == "flowscope-skew"
        assert "job=" in page.url
        page.click("#to-fleet")
        page.wait_for_selector("#fleet-table tr.row")
        assert page.url.endswith("#fleet")
        w.assert_clean()
