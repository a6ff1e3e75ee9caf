"""`flowscope watch` on a live job of the shared real cluster (plain-lines mode, recording)."""

from __future__ import annotations

import contextlib
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flowscope.analysis.tracking import build_state
from flowscope.api import load_recording

pytestmark = pytest.mark.cluster

FLOWSCOPE = Path(sys.executable).with_name("flowscope")
DEADLINE_S = 120.0


def test_watch_follows_a_live_skew_job_and_records_it(lab_cluster, runner, tmp_path):
    job_id = runner.submit("skew")
    rec = tmp_path / "watch.fsrec"
    proc = subprocess.Popen(
        [str(FLOWSCOPE), "watch", "--url", lab_cluster.url, "--job", job_id,
         "--record", str(rec)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # Ctrl-C reaches it even when this run was started in the background (a shell starts
        # background jobs with SIGINT ignored, and a child inherits that).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=1.0))
                if "bottleneck: enrich (data-skew)" in seen[-1]:
                    break
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
        proc.wait(timeout=30)
        reader.join(timeout=10)
        assert proc.stderr is not None
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        runner.cancel(job_id)
    while not lines.empty():
        seen.append(lines.get())
    text = "".join(seen)
    assert "bottleneck: enrich (data-skew)" in text, text[-3000:] + err
    assert proc.returncode == 0, err
    assert "where it has been:" in seen[-1] and "enrich (data-skew)" in seen[-1]
    assert "Traceback" not in err
    # Every poll the view saw is in the recording, and it replays to the same bottleneck.
    graph, samples = load_recording(rec)
    assert len(samples) >= 10
    assert [(f.vertex_name, f.cause) for f in build_state(graph, samples).findings] == [
        ("enrich", "data-skew")]
