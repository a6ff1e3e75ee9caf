"""`flowscope lab up` stops everything it started when interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.cluster


def processes_of(workdir: str) -> list[str]:
    out = subprocess.run(["pgrep", "-f", workdir], capture_output=True, text=True)
    return out.stdout.split()


def test_ctrl_c_stops_the_cluster():
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowscope.cli", "lab", "up"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    workdir = None
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if "work dir" in line:
                workdir = line.rsplit("work dir ", 1)[1].strip(" )\n")
            if "TaskManagers registered" in line and line.startswith("2/2"):
                break
        assert workdir, "the lab did not say where it works"
        assert processes_of(workdir), "no Flink processes were started"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:  # the test failed before Ctrl-C: still clean up the lab
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert not processes_of(workdir), "Flink processes survived Ctrl-C"
    assert not os.path.exists(workdir)
