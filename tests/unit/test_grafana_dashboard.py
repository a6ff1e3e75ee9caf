"""The Grafana dashboard in deploy/grafana: a dashboard Grafana can provision (the parts of its
shape we rely on), laid out without overlaps, and reading only series the exporter emits."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from itertools import combinations
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.exporter_series import exporter_series, exporter_series_names, referenced_names

DEPLOY = Path(__file__).parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "flowscope-dashboard.json"
PROVISIONING = DEPLOY / "grafana" / "provisioning" / "dashboards.yml"
RULES = DEPLOY / "prometheus" / "flowscope-alerts.yml"

# Every query goes through the dashboard's data source variable, so that one JSON works with
# whatever the Prometheus data source is called.
DS_REF = {
    "type": "object",
    "required": ["type", "uid"],
    "properties": {"type": {"const": "prometheus"}, "uid": {"const": "${datasource}"}},
}
TARGET = {
    "type": "object",
    "required": ["refId", "expr", "datasource"],
    "properties": {
        "refId": {"type": "string", "pattern": "^[A-Z]$"},
        "expr": {"type": "string", "minLength": 1},
        "datasource": DS_REF,
        "legendFormat": {"type": "string"},
        "format": {"enum": ["time_series", "table"]},
        "instant": {"type": "boolean"},
        "range": {"type": "boolean"},
    },
}
GRID_POS = {
    "type": "object",
    "required": ["h", "w", "x", "y"],
    "properties": {
        "h": {"type": "integer", "minimum": 1},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "x": {"type": "integer", "minimum": 0, "maximum": 23},
        "y": {"type": "integer", "minimum": 0},
    },
}
PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {"enum": ["row", "table", "timeseries", "state-timeline", "stat"]},
        "title": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "gridPos": GRID_POS,
        "datasource": DS_REF,
        "targets": {"type": "array", "minItems": 1, "items": TARGET},
        "transformations": {
            "type": "array",
            "items": {"type": "object", "required": ["id", "options"]},
        },
        "fieldConfig": {"type": "object", "required": ["defaults", "overrides"]},
    },
    "if": {"properties": {"type": {"const": "row"}}},
    "then": {"required": ["collapsed", "panels"]},
    "else": {"required": ["datasource", "targets", "fieldConfig", "options"]},
}
VARIABLE = {
    "type": "object",
    "required": ["name", "type", "query"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z_]+$"},
        "type": {"enum": ["datasource", "query"]},
        "query": {"type": "string", "minLength": 1},
    },
    "if": {"properties": {"type": {"const": "query"}}},
    "then": {"required": ["datasource", "definition", "refresh"],
             "properties": {"datasource": DS_REF}},
}
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "templating", "time", "annotations"],
    "not": {"required": ["__inputs"]},  # those are for the UI's import dialog only
    "properties": {
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "id": {"type": "null"},  # a fixed id clashes with the database's on provisioning
        "schemaVersion": {"type": "integer", "minimum": 36},
        "panels": {"type": "array", "minItems": 1, "items": PANEL},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {"list": {"type": "array", "minItems": 2, "items": VARIABLE}},
        },
        "time": {"type": "object", "required": ["from", "to"]},
        "annotations": {
            "type": "object",
            "required": ["list"],
            "properties": {"list": {"type": "array", "items": {
                "type": "object", "required": ["name", "datasource", "enable"]}}},
        },
    },
}
GRAFANA_VARIABLES = {"__range", "__rate_interval", "__interval"}
# What Grafana puts in place of the variables, near enough for PromQL to parse.
EXAMPLE_VALUES = {"$job_name": "orders|billing", "$__range": "3h", "$__rate_interval": "1m",
                  "$__interval": "15s"}
PROMTOOL = shutil.which("promtool")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return doc


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression: panel targets, annotation queries, variable queries."""
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs


def test_dashboard_has_the_shape_grafana_provisions(dashboard: dict[str, Any]) -> None:
    jsonschema.validate(dashboard, SCHEMA)


def test_panel_ids_and_ref_ids_are_unique(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), ids
    for panel in dashboard["panels"]:
        refs = [t["refId"] for t in panel.get("targets", [])]
        assert len(refs) == len(set(refs)), panel["title"]


def test_panels_fit_the_grid_without_overlapping(dashboard: dict[str, Any]) -> None:
    boxes = []
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        boxes.append((panel["title"], g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"]))
    for (a, ax0, ay0, ax1, ay1), (b, bx0, by0, bx1, by1) in combinations(boxes, 2):
        assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, f"{a} overlaps {b}"


def test_every_query_reads_series_the_exporter_emits(dashboard: dict[str, Any]) -> None:
    emitted = exporter_series_names()
    used: set[str] = set()
    for expr in _exprs(dashboard):
        used |= referenced_names(expr)
    assert used <= emitted, sorted(used - emitted)
    # Busy / backpressured / idle, records in/out, the bottleneck, verdicts and source health.
    wanted = {"flowscope_task_busy_ratio", "flowscope_task_backpressured_ratio",
              "flowscope_task_idle_ratio", "flowscope_task_records_in_per_second",
              "flowscope_task_records_out_per_second", "flowscope_task_bottleneck",
              "flowscope_job_verdict", "flowscope_source_up"}
    assert wanted <= used, sorted(wanted - used)


@pytest.mark.skipif(PROMTOOL is None,
                    reason="promtool is not on PATH (Debian's prometheus package has it)")
def test_every_query_is_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool parses each query, as a recording rule, with the variables filled in."""
    assert PROMTOOL is not None
    rules = []
    for i, expr in enumerate(_exprs(dashboard)):
        if expr.startswith("label_values("):
            continue  # Grafana's own function, not PromQL
        for name, value in EXAMPLE_VALUES.items():
            expr = expr.replace(name, value)
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_job_variable_lists_a_label_the_series_carries(dashboard: dict[str, Any]) -> None:
    (job,) = [v for v in dashboard["templating"]["list"] if v["name"] == "job_name"]
    match = re.fullmatch(r"label_values\((\w+), (\w+)\)", job["query"])
    assert match, job["query"]
    assert match.group(2) in exporter_series()[match.group(1)]
    kinds = {v["name"]: v["type"] for v in dashboard["templating"]["list"]}
    assert kinds["datasource"] == "datasource"


def test_variables_used_are_defined(dashboard: dict[str, Any]) -> None:
    defined = {v["name"] for v in dashboard["templating"]["list"]} | GRAFANA_VARIABLES
    text = json.dumps(dashboard)
    used = set(re.findall(r"\$\{?(\w+)", text))
    assert used <= defined, sorted(used - defined)


def test_per_job_panels_follow_the_job_selection(dashboard: dict[str, Any]) -> None:
    """Everything under the row repeated per job is filtered by that job."""
    panels = dashboard["panels"]
    (row_at,) = [i for i, p in enumerate(panels) if p["type"] == "row"]
    assert panels[row_at]["repeat"] == "job_name"
    for panel in panels[row_at + 1:]:
        for t in panel["targets"]:
            assert 'job_name=~"$job_name"' in t["expr"], panel["title"]


def test_alert_annotations_name_alerts_the_rules_define(dashboard: dict[str, Any]) -> None:
    defined = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"]
               for r in g["rules"]}
    for annotation in dashboard["annotations"]["list"]:
        for names in re.findall(r'alertname=~"([^"]+)"', annotation.get("expr", "")):
            assert set(names.split("|")) <= defined


def test_provisioning_example_points_at_a_file_provider() -> None:
    doc = yaml.safe_load(PROVISIONING.read_text())
    assert doc["apiVersion"] == 1
    (provider,) = doc["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
