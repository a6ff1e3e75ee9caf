"""The HTML report in a real headless Chromium: offline, error-free, bottleneck marked, plots drawn.

Set FLOWSCOPE_UPDATE_SCREENSHOT=1 to refresh docs/img/report.png from this run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from flowscope.api import build_report, load_recording, write_report
from tests.conftest import fixture_path

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "report.png"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


def test_skew_report_in_chromium(browser, tmp_path):
    graph, samples = load_recording(fixture_path("skew"))
    out = write_report(tmp_path / "report.html",
                       build_report(graph, samples, source="tests/fixtures/skew.fsrec"))
    url = out.as_uri()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    failed: list[str] = []
    console: list[str] = []

    def route(r):  # anything but the file itself is refused (and recorded)
        requests.append(r.request.url)
        if r.request.url == url:
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda req: requests.append(req.url))
    page.on("requestfailed", lambda req: failed.append(req.url))
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    try:
        page.goto(url, wait_until="load")
        page.wait_for_timeout(300)  # let late requests, if any, show up

        assert set(requests) == {url}, requests
        assert failed == [] and console == []

        # The bottleneck is drawn, visible and marked with its cause.
        node = page.locator("svg.graph g.bottleneck")
        assert node.count() == 1
        assert node.is_visible()
        assert node.get_attribute("data-cause") == "data-skew"
        assert "enrich" in (node.text_content() or "")
        label = node.locator("text.mark-label")
        assert label.is_visible() and "data-skew" in (label.text_content() or "")
        assert page.locator("#verdict").inner_text().lower() == "backpressured"

        # The plots have data: rendered step lines spanning more than one interval.
        drawn = page.evaluate("""() => [...document.querySelectorAll('path.series')].map(p => ({
            points: +p.dataset.points, width: p.getBBox().width, label: p.dataset.label}))""")
        rates = [d for d in drawn if d["label"] == "enrich"]
        assert rates and all(d["points"] > 1 and d["width"] > 100 for d in rates), rates
        assert sum(d["points"] > 1 for d in drawn) >= len(graph.vertices)
        # The hot subtask's row is highlighted in the per-subtask table.
        assert page.locator("#subtasks tr.hot").count() >= 1

        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True,
                        clip={"x": 0, "y": 0, "width": 1280, "height": 1800})
        assert 10_000 < shot.stat().st_size < 300_000
        if os.environ.get("FLOWSCOPE_UPDATE_SCREENSHOT"):
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, SCREENSHOT)
    finally:
        context.close()
