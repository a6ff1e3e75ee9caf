"""The same live run read twice: `diagnose --url` (the REST poller) and `diagnose --prometheus`
(the history a real Prometheus scraped from the cluster's PrometheusReporter over the same
window). Both must name the same bottleneck and cause; each comparison is kept in
$FLOWSCOPE_RESULTS/flowscope-prometheus-agreement.json for the table in the notes."""

from __future__ import annotations

import json
import time
from pathlib import Path

from flowscope.analysis.engine import DEFAULT_HISTORY_S
from flowscope.analysis.findings import Diagnosis
from flowscope.postmortem import diagnose_history
from flowscope.render import words
from flowscope.sampling import load_recording
from tests.conftest import SCRAPE_S
from tests.integration.results import results_dir

AGREEMENT = (results_dir()
             / "flowscope-prometheus-agreement.json")
# The scenarios whose REST and Prometheus verdicts are compared live.
COMPARED = {"healthy", "off-cpu", "skew", "slow-subtask", "window", "compute-bound"}
# Counter deltas must cover the judged window: read this much before it.
LEAD_S = 30.0
# scenario -> (job id, start, end): the windows judged, for the post-mortem tests.
JUDGED: dict[str, tuple[str, float, float]] = {}


def signature(d: Diagnosis) -> tuple[str, list[tuple[str | None, str]]]:
    return str(d.verdict), sorted((f.vertex_name, str(f.cause)) for f in d.bottlenecks)


def prometheus_agrees(prom_url: str, cluster_url: str, scenario: str, job_id: str,
                      rest: Diagnosis, recording: Path) -> None:
    """Diagnose from Prometheus the window REST judged (ending at its newest poll), with the
    history REST watched (`recording`: the REST poller's; a bottleneck that moves is told
    over all of it)."""
    end = rest.t
    time.sleep(max(0.0, end + 2 * SCRAPE_S - time.time()))  # the window's last scrapes
    window = max(rest.window_s, 30.0)
    _, watched = load_recording(recording)
    # As REST judged: moving bottlenecks over the last DEFAULT_HISTORY_S seconds watched.
    start = min(end - window - LEAD_S, max(watched[0].t, end - DEFAULT_HISTORY_S))
    began = time.monotonic()
    prom, history = diagnose_history(prom_url, job_id, start, end, graph_url=cluster_url,
                                     window_s=window)
    took = time.monotonic() - began
    JUDGED[scenario] = (job_id, start, end)
    data = json.loads(AGREEMENT.read_text()) if AGREEMENT.exists() else {}
    data[scenario] = {"rest": signature(rest), "prometheus": signature(prom),
                      "queries": history.queries, "seconds": round(took, 2),
                      "steps": len(history.samples), "step_s": history.step_s}
    AGREEMENT.write_text(json.dumps(data, indent=2))
    said = [words.summary(f) for f in prom.findings] + words.notes(prom.notes)
    assert signature(prom) == signature(rest), said
