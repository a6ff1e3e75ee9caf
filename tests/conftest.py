"""Shared test fixtures.

Integration tests share one real Flink cluster per test session (`lab_cluster`); unit tests
replay recordings captured from such a cluster by scripts/record_fixtures.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from flowscope.lab.scenarios import Scenario

FIXTURES = Path(__file__).parent / "fixtures"
# Processes the unit suite runs in (`-n auto`, pyproject.toml).
UNIT_WORKERS = 3


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: the unit suite in UNIT_WORKERS processes; a run that takes in anything under
    tests/integration in this one, since those tests share one Flink cluster per session."""
    integration = (Path(__file__).parent / "integration").resolve()
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == integration or integration in path.parents or path in integration.parents:
            return 0
    return UNIT_WORKERS


def scenario_params(scenarios: Iterable[Scenario]) -> list[object]:
    """Scenarios as test parameters (ids: their names)."""
    return [pytest.param(s, id=s.name) for s in scenarios]


def fixture_path(name: str) -> Path:
    path = FIXTURES / f"{name}.fsrec"
    if not path.exists():
        pytest.fail(f"missing fixture {path}: run scripts/record_fixtures.py {name}")
    return path


@pytest.fixture(scope="session")
def lab_cluster() -> Iterator[object]:
    """One standalone Flink cluster for the whole test session (started on first use)."""
    from flowscope.lab.cluster import ClusterSpec, LocalCluster

    url = os.environ.get("FLOWSCOPE_TEST_CLUSTER")
    if url:  # reuse a running lab cluster (its REST port), e.g. while developing
        cluster = LocalCluster()
        cluster.rest_port = int(url.rsplit(":", 1)[1])
        yield cluster
        return
    # With Flink's PrometheusReporter and a HistoryServer: the Prometheus source, `scan` and
    # the post-mortem of ended jobs are tested on the same runs as the REST poller. With the
    # adaptive scheduler, which `tune --apply` rescales through: it places and runs the other
    # tests' jobs as the default scheduler does (each at its parallelism, spread over both
    # TaskManagers; no test fails a task on purpose, where the two restart differently).
    cluster = LocalCluster(ClusterSpec(slots_per_taskmanager=10, latency_interval_ms=1000,
                                       prometheus=True, history_server=True, adaptive=True))
    cluster.start(timeout_s=120)
    try:
        yield cluster
    finally:
        cluster.stop()


# Prometheus scrapes the shared cluster this often (seconds).
SCRAPE_S = 2.0


@pytest.fixture(scope="session")
def lab_prometheus(lab_cluster: object, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[object]:
    """A real Prometheus (Debian's) scraping the shared cluster's PrometheusReporters, or
    None without the binary or the reporters (tests that need it skip then). Requested before
    scenario jobs are submitted, so that it holds their whole history."""
    import shutil

    from flowscope.lab.promserver import PrometheusServer, reporter_range, reporter_targets

    answering = reporter_targets()
    if shutil.which("prometheus") is None or not answering:
        yield None
        return
    # The whole port range: a TaskManager whose reporter was not listening yet when this
    # started was left unscraped once (one TaskManager's subtasks missing from every job).
    with PrometheusServer(reporter_range(), tmp_path_factory.mktemp("prometheus"),
                          scrape_s=SCRAPE_S, expect_up=len(answering)) as server:
        yield server


@pytest.fixture(scope="session")
def runner(lab_cluster: object) -> Iterator[object]:
    from flowscope.lab.scenarios import ScenarioRunner

    r = ScenarioRunner(lab_cluster)  # type: ignore[arg-type]
    yield r
    r.close()
