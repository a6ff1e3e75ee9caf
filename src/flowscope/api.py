"""The Python API: diagnose a live job or a recording, and write an HTML report.

    import flowscope
    d = flowscope.diagnose_live("http://localhost:8081")
    d = flowscope.diagnose_recording("run.fsrec")
    graph, samples = flowscope.load_recording("run.fsrec")
    flowscope.api.write_report("report.html", flowscope.api.build_report(graph, samples,
                                                                          source="run.fsrec"))
    diff = flowscope.api.diff_recordings("before.fsrec", "after.fsrec")   # flowscope diff
    plan = flowscope.api.plan_recording("run.fsrec", target_rate=1500)    # tune --from
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from flowscope.analysis.diff import WindowDiff
from flowscope.analysis.engine import DEFAULT_WINDOW_S, diagnose
from flowscope.analysis.findings import Diagnosis
from flowscope.analysis.plan import TunePlan
from flowscope.errors import FlowscopeError
from flowscope.model import JobGraph, Sample
from flowscope.sampling import LiveSession, load_recording, sample_until_confident

__all__ = ["build_report", "default_output", "diagnose_live", "diagnose_recording",
           "diff_recordings", "load_recording", "plan_recording", "write_report"]


def diagnose_live(
    url: str,
    job: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    max_duration_s: float = 120.0,
    interval_s: float = 1.0,
    target_rate: float | None = None,
    record_to: str | Path | None = None,
) -> Diagnosis:
    """Watch a running job until the diagnosis is confident, and return it."""
    session = LiveSession(url, job, headers=headers, record_to=record_to)
    try:
        return sample_until_confident(
            session, interval_s=interval_s, max_duration_s=max_duration_s,
            target_rate=target_rate,
        )[2]
    finally:
        session.close()


def diagnose_recording(
    path: str | Path,
    job: str | None = None,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    target_rate: float | None = None,
    at: float | None = None,
) -> Diagnosis:
    """Diagnose a recording over its last `window_s` seconds (or up to time `at`)."""
    graph, samples = load_recording(path, job)
    if at is not None:
        samples = [s for s in samples if s.t <= at] or samples[:1]
    return diagnose(graph, samples, window_s=window_s, target_rate=target_rate)


def default_output(graph: JobGraph) -> str:
    """flowscope-report-<job>.html, <job> being the job's name made file-safe (or its id)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", graph.name).strip("-.")[:60]
    return f"flowscope-report-{slug or graph.job_id[:8]}.html"


def build_report(
    graph: JobGraph,
    samples: Sequence[Sample],
    *,
    source: str,
    window_s: float = 60.0,
    target_rate: float | None = None,
    journal: Sequence[dict[str, object]] = (),
    diff: WindowDiff | None = None,
    diff_title: str = "Before and after",
) -> str:
    """The report's HTML for `samples` (oldest first) of the job `graph`: the diagnosis over
    the last `window_s` seconds and the timelines over the whole series; the changes of a
    tune journal and a comparison of two windows when given."""
    from importlib.metadata import PackageNotFoundError, version

    from flowscope.analysis.timeline import task_timeline
    from flowscope.analysis.window import distinct_snapshots
    from flowscope.render import html, html_changes

    if not samples:
        raise FlowscopeError("no samples to report on")
    d = diagnose(graph, samples, window_s=window_s, target_rate=target_rate)
    steps = task_timeline(graph, samples)
    try:
        ver = version("flowscope")
    except PackageNotFoundError:  # running from a source tree
        ver = ""
    meta = html.ReportMeta(
        source=source, first_t=samples[0].t, last_t=samples[-1].t, polls=len(samples),
        snapshots=len(distinct_snapshots(list(samples))), generated_at=time.time(), version=ver,
    )
    extra = [html_changes.changes_section(journal)]
    if diff is not None:
        extra.append(html_changes.diff_section(diff, diff_title))
    return html.render(graph, d, steps, meta, [x for x in extra if x])


def write_report(path: str | Path, page: str) -> Path:
    """Write the page next to its final name first, so a reader never sees half a report."""
    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FlowscopeError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def diff_recordings(a: str | Path, b: str | Path | None = None, *, job: str | None = None,
                    window_s: float = DEFAULT_WINDOW_S) -> WindowDiff:
    """`flowscope diff`: the newest window of recording `a` against that of `b`, or, without
    `b`, the windows before and after the newest rescale or restart in `a`."""
    from flowscope import diffing
    from flowscope.analysis.diff import compare

    if b is None:
        return compare(*diffing.around_change(a, job, window_s))
    return compare(diffing.newest_window(a, job, window_s),
                   diffing.newest_window(b, job, window_s))


def plan_recording(path: str | Path, *, job: str | None = None,
                   window_s: float = DEFAULT_WINDOW_S, target_rate: float | None = None,
                   force: bool = False) -> TunePlan:
    """`flowscope tune --from`: the plan for a recording's newest window (records/s at the
    sources for `target_rate`), with the requirements and slots it recorded."""
    from flowscope.analysis.plan import plan
    from flowscope.tuning import observation_from_recording

    obs = observation_from_recording(path, job, window_s, target_rate)
    return plan(obs.diagnosis, obs.facts, target_rate=target_rate, force=force)
