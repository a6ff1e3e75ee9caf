"""The series names `flowscope serve`'s /metrics really emits, and the flowscope_* names a
PromQL expression uses.

The alerting rules and the Grafana dashboard under deploy/ are checked against these, so that
a renamed or dropped series fails a unit test instead of an alert that silently never fires.
"""

from __future__ import annotations

import re
from functools import cache

from prometheus_client.parser import text_string_to_metric_families

from flowscope.web.exporter import exposition, registry_for
from flowscope.web.hub import Hub
from tests.conftest import fixture_path

# A PromQL metric name starting with flowscope_ (label values and strings never are one here).
FLOWSCOPE_NAME = re.compile(r"(?<![A-Za-z0-9_:])flowscope_[A-Za-z0-9_:]*")


@cache
def exporter_series() -> dict[str, frozenset[str]]:
    """Every sample name of the exposition over a real recording that has a bottleneck (a
    counter's name with its _total suffix, as Prometheus stores it), with its label names."""
    hub = Hub()
    hub.add_recording(fixture_path("skew"), None)
    body, _ = exposition(registry_for(hub))
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    return {name: frozenset(names) for name, names in labels.items()}


def exporter_series_names() -> frozenset[str]:
    return frozenset(exporter_series())


def referenced_names(expr: str) -> set[str]:
    """The flowscope_* metric names a PromQL expression reads."""
    return set(FLOWSCOPE_NAME.findall(expr))
