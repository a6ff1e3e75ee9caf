"""`flowscope watch` in a real terminal (tmux): the view, its keys, and a restored terminal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flowscope.recording import Recording
from tests.conftest import fixture_path

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

FLOWSCOPE = Path(sys.executable).with_name("flowscope")


class Pane:
    """A shell in a detached tmux session on a private server (its own socket)."""

    def __init__(self, width: int = 130, height: int = 40) -> None:
        self.socket = f"flowscope-test-{uuid.uuid4().hex[:8]}"
        self.tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
                  "env", "-i", f"PATH={os.environ.get('PATH', '')}", "TERM=xterm-256color",
                  "PS1=$ ", "bash", "--norc", "--noprofile")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True,
                              capture_output=True, text=True, timeout=10).stdout

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def flag(self, name: str) -> str:
        return self.tmux("display-message", "-p", "-t", "t", f"#{{{name}}}").strip()

    def wait_for(self, ok: Callable[[str], bool], timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.screen()
            if ok(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; the pane shows:\n{text}")
            time.sleep(0.2)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=10)


@pytest.fixture
def pane() -> Iterator[Pane]:
    p = Pane()
    try:
        p.wait_for(lambda s: "$" in s, 10)
        yield p
    finally:
        p.kill()


def _start_watch(pane: Pane) -> str:
    cmd = f"{FLOWSCOPE} watch --from {fixture_path('skew')} --speed 0; echo EXIT=$?"
    pane.send(cmd, "Enter")
    return pane.wait_for(lambda s: "end of recording" in s)


def _assert_terminal_restored(pane: Pane) -> str:
    screen = pane.wait_for(lambda s: any(ln.startswith("EXIT=") for ln in s.splitlines()), 15)
    assert "EXIT=0" in screen.splitlines(), screen
    assert pane.flag("alternate_on") == "0"  # back from the alternate screen
    assert pane.flag("cursor_flag") == "1"  # cursor shown
    assert "┃" not in screen and "q quit" not in screen  # the view is gone
    pane.send("clear; stty -a | tr ' ;' '\\n\\n' | grep -xE -- '-?(icanon|echo)'", "Enter")
    modes = pane.wait_for(lambda s: "icanon" in s, 10)
    assert "-icanon" not in modes and "-echo" not in modes, modes  # tty mode restored
    return screen


def test_watch_shows_view_and_q_quits_cleanly(pane: Pane):
    view = _start_watch(pane)
    assert pane.flag("alternate_on") == "1"
    assert pane.flag("cursor_flag") == "0"
    for task in ("Source: gen", "parse", "enrich ◀ data-skew", "out: Writer"):
        assert task in view, view
    assert "bottleneck enrich (data-skew)" in view
    with Recording(fixture_path("skew")) as rec:
        polls = len(rec.polls())
    assert "where it has been:" in view and f"poll {polls}" in view
    pane.send("p")
    assert "PAUSED" in pane.wait_for(lambda s: "PAUSED" in s, 10)
    pane.send("p")
    pane.wait_for(lambda s: "PAUSED" not in s, 10)
    pane.send("q")
    after = _assert_terminal_restored(pane)
    assert "where it has been:" in after and "enrich (data-skew)" in after


def test_watch_ctrl_c_quits_cleanly(pane: Pane):
    _start_watch(pane)
    pane.send("C-c")
    after = _assert_terminal_restored(pane)
    assert "Traceback" not in after and "interrupted" not in after
