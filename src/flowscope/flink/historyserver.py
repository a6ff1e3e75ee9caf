"""The job graph of a job that has ended, from Flink's HistoryServer.

The HistoryServer serves the archived REST JSON of finished, cancelled and failed jobs in the
JobManager's shapes (`/jobs/overview`, `/jobs/:jid`, `/jobs/:jid/plan`) but no metrics, so the
graph comes without the chained operators' names (those are read from metric listings).
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from flowscope.flink import answers
from flowscope.flink.answers import JobSummary
from flowscope.flink.http import RestClient
from flowscope.model import JobGraph


def archived_jobs(url: str, *, headers: Mapping[str, str] | None = None,
                  transport: httpx.BaseTransport | None = None) -> list[JobSummary]:
    """Every job the HistoryServer (or a JobManager) lists, newest first."""
    http = RestClient(url, headers=headers, transport=transport)
    try:
        return answers.job_summaries(http.get("/jobs/overview"), http.url)
    finally:
        http.close()


def job_graph(url: str, job_id: str, *, headers: Mapping[str, str] | None = None,
              transport: httpx.BaseTransport | None = None) -> JobGraph:
    """A job's graph from `/jobs/:jid` and `/jobs/:jid/plan` (two requests). Works against a
    JobManager as well; raises JobNotFound when the job was not archived (yet: the
    HistoryServer picks archives up every `historyserver.archive.fs.refresh-interval`)."""
    http = RestClient(url, headers=headers, transport=transport)
    try:
        job = http.get(f"/jobs/{job_id}")
        plan = http.get(f"/jobs/{job_id}/plan")
    finally:
        http.close()
    return answers.job_graph(job_id, job, plan, {})


def is_history_server(url: str, *, headers: Mapping[str, str] | None = None,
                      transport: httpx.BaseTransport | None = None) -> bool:
    """Whether `url` is Flink's HistoryServer rather than a JobManager: both answer the job
    endpoints alike, but the HistoryServer's `/config` sets the `web-history` feature (one
    request; False when it cannot be told)."""
    from flowscope.errors import FlowscopeError

    http = RestClient(url, headers=headers, transport=transport)
    try:
        config = http.get("/config")
    except FlowscopeError:
        return False
    finally:
        http.close()
    features = config.get("features") if isinstance(config, dict) else None
    return isinstance(features, dict) and features.get("web-history") is True
