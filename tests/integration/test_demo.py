"""The README's first command: `flowscope demo` starts its own Flink, finds the injected
bottleneck, prints it, and cleans up after itself."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.cluster


def processes_of(workdir: str) -> list[str]:
    out = subprocess.run(["pgrep", "-f", workdir], capture_output=True, text=True)
    return out.stdout.split()


def test_demo_finds_the_skew_and_stops_flink():
    run = subprocess.run(
        [sys.executable, "-m", "flowscope.cli", "demo", "--timeout", "150"],
        capture_output=True, text=True, timeout=300,
        env={"NO_COLOR": "1", "COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 1, run.stderr[-2000:]  # 1 = backpressured
    assert "data-skew" in run.stdout
    assert "enrich" in run.stdout
    assert "first correct verdict" in run.stderr
    assert "Traceback" not in run.stderr
    workdir = run.stderr.split("work dir ", 1)[1].split(")", 1)[0]
    assert not processes_of(workdir), "the demo left Flink processes behind"
    assert not os.path.exists(workdir)
