"""The CLI as a subprocess, against recordings and against addresses with nothing behind them."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import fixture_path


def flowscope(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flowscope.cli", *args], capture_output=True,
                          text=True, timeout=120, env={"NO_COLOR": "1", **(env or {})})


def test_diagnose_recording_text_and_exit_code():
    run = flowscope("diagnose", "--from", str(fixture_path("skew")))
    assert run.returncode == 1, run.stderr
    assert "data-skew" in run.stdout and "enrich" in run.stdout
    assert "\x1b[" not in run.stdout  # NO_COLOR and not a TTY: no escape codes


def test_diagnose_healthy_recording_exits_0():
    run = flowscope("diagnose", "--from", str(fixture_path("healthy")))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "HEALTHY" in run.stdout


def test_diagnose_json():
    run = flowscope("diagnose", "--from", str(fixture_path("slow-sink")), "--json")
    assert run.returncode == 1
    doc = json.loads(run.stdout)
    assert doc["schema"] == "flowscope.diagnosis/3"
    assert doc["bottlenecks"] == ["out: Writer"]
    assert doc["findings"][0]["cause"] == "off-cpu"


def test_dead_cluster_is_one_line_exit_4():
    run = flowscope("diagnose", "--url", "http://127.0.0.1:9", "--duration", "5")
    assert run.returncode == 4
    assert run.stderr.strip().count("\n") == 0
    assert "cannot reach Flink" in run.stderr and "Traceback" not in run.stderr


def test_url_from_environment():
    run = flowscope("jobs", env={"FLOWSCOPE_URL": "http://127.0.0.1:9"})
    assert run.returncode == 4 and "127.0.0.1:9" in run.stderr


def test_bad_header_is_a_usage_error():
    run = flowscope("diagnose", "--url", "http://127.0.0.1:9", "--header", "no-colon")
    assert run.returncode == 2
    assert "NAME: VALUE" in run.stderr


def test_corrupt_recording_exit_4(tmp_path):
    bad = tmp_path / "x.fsrec"
    bad.write_text("not sqlite")
    run = flowscope("diagnose", "--from", str(bad))
    assert run.returncode == 4 and "not a flowscope recording" in run.stderr


def test_help_explains_every_command():
    run = flowscope("--help")
    for cmd in ("demo", "diagnose", "record", "jobs", "lab"):
        assert cmd in run.stdout
    diag = flowscope("diagnose", "--help").stdout
    for opt in ("--url", "--job", "--from", "--json", "--header", "--target-rate", "Exit code"):
        assert opt in diag
