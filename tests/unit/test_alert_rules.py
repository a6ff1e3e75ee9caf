"""The Prometheus alerting rules in deploy/prometheus: promtool accepts them, their unit tests
(flowscope-alerts.test.yml) pass, and they read only series the exporter really emits."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.exporter_series import exporter_series, exporter_series_names, referenced_names

RULES_DIR = Path(__file__).parents[2] / "deploy" / "prometheus"
RULES = RULES_DIR / "flowscope-alerts.yml"
RULE_TESTS = RULES_DIR / "flowscope-alerts.test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not on PATH (Debian's prometheus package has it)"
)

ALERTS = {"FlinkJobBottleneck", "FlinkJobRestarting", "FlinkJobBackpressured",
          "FlowscopeSourceDown", "FlowscopeAbsent"}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    # From the rules' directory: the test file names its rule file relative to itself.
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60,
                          cwd=RULES_DIR)


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    run = _promtool("check", "rules", RULES.name)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in run.stdout


@needs_promtool
def test_promtool_rule_tests_pass() -> None:
    run = _promtool("test", "rules", RULE_TESTS.name)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_every_alert_has_a_duration_a_severity_and_its_texts() -> None:
    rules = _rules()
    assert {r["alert"] for r in rules} == ALERTS
    for rule in rules:
        assert rule.get("for"), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]


def test_rule_tests_cover_every_alert_firing() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {case["alertname"] for t in tests for case in t["alert_rule_test"]
             if case["exp_alerts"]}
    assert fired == ALERTS


def test_rules_read_only_series_the_exporter_emits() -> None:
    emitted = exporter_series_names()
    assert "flowscope_source_up" in emitted and "flowscope_task_bottleneck" in emitted
    for rule in _rules():
        used = referenced_names(rule["expr"])
        assert used, f"{rule['alert']} reads no flowscope series"
        assert used <= emitted, f"{rule['alert']} reads {sorted(used - emitted)}"


def test_rule_tests_feed_only_series_the_exporter_emits() -> None:
    """The input series of the promtool tests stand for the exporter's: same names."""
    emitted = exporter_series_names()
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    used = {name for t in tests for s in t["input_series"]
            for name in referenced_names(s["series"])}
    assert used and used <= emitted, sorted(used - emitted)


def test_annotations_print_only_labels_the_series_carry() -> None:
    series = exporter_series()
    for rule in _rules():
        carried = set().union(*(series[name] for name in referenced_names(rule["expr"])))
        printed = set(re.findall(r"\$labels\.(\w+)", " ".join(rule["annotations"].values())))
        assert printed <= carried, f"{rule['alert']} prints {sorted(printed - carried)}"
    (neck,) = [r for r in _rules() if r["alert"] == "FlinkJobBottleneck"]
    assert {"job_name", "job_id", "vertex", "cause"} <= set(
        re.findall(r"\$labels\.(\w+)", " ".join(neck["annotations"].values())))


def test_the_runbook_says_what_flowscope_says_of_each_cause():
    """The runbook's table is worded where every other sentence is (render/words)."""
    from flowscope.render.words.causes import runbook_table

    doc = Path(__file__).resolve().parents[2] / "docs" / "alerting.md"
    assert runbook_table() in doc.read_text()
