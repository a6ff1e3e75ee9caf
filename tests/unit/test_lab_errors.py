"""The lab names the fix when Java or the Flink distribution is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flowscope.lab.cluster import LabError, LocalCluster, flink_home, java_binary


def test_missing_distribution_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setenv("FLINK_HOME", str(tmp_path))
    with pytest.raises(LabError, match="not a Flink distribution"):
        flink_home()


def test_missing_java_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    with pytest.raises(LabError, match="openjdk-17"):
        java_binary()


def test_cluster_start_without_java_starts_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    cluster = LocalCluster(workdir=tmp_path / "lab")
    with pytest.raises(LabError):
        cluster.start()
    assert cluster.pids() == []


def test_demo_without_java_is_one_line(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "flowscope.cli", "demo"], capture_output=True, text=True,
        timeout=60, env={"JAVA_HOME": str(tmp_path / "no-java"), "PATH": "/nonexistent"},
    )
    assert run.returncode == 4
    assert "Java is not installed" in run.stderr and "Traceback" not in run.stderr
