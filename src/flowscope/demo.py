"""`flowscope demo`: a local Flink, a job with a real bottleneck, and its diagnosis."""

from __future__ import annotations

import time

from rich.console import Console

from flowscope.analysis.findings import Confidence, Diagnosis
from flowscope.errors import FlowscopeError
from flowscope.lab.cluster import running_cluster
from flowscope.lab.scenarios import SCENARIOS, ScenarioRunner
from flowscope.render import jsonout, terminal, words
from flowscope.render.safe import console as safe_console
from flowscope.sampling import LiveSession, Progress, sample_until_confident


def is_correct(d: Diagnosis, scenario_name: str) -> bool:
    """Does the diagnosis name the scenario's injected bottleneck and cause?"""
    s = SCENARIOS[scenario_name]
    if d.confidence == Confidence.LOW:
        return False
    if d.verdict != s.expected_verdict:
        return False
    if s.bottleneck is None:
        return not d.bottlenecks
    return any(f.vertex_name == s.bottleneck and f.cause == s.cause for f in d.bottlenecks)


def run_demo(scenario: str = "skew", timeout_s: float = 120.0, as_json: bool = False,
             console: Console | None = None) -> Diagnosis:
    if scenario not in SCENARIOS:
        raise FlowscopeError(f"unknown scenario {scenario!r}; try: {', '.join(SCENARIOS)}")
    spec = SCENARIOS[scenario]
    out = console or safe_console()
    err = safe_console(stderr=True)
    t_command = time.monotonic()
    with running_cluster(
        progress=lambda m: err.print(m, style="dim", markup=False, soft_wrap=True)
    ) as cluster:
        runner = ScenarioRunner(cluster)
        try:
            err.print(f"submitting scenario [bold]{scenario}[/bold]: {spec.description}")
            job_id = runner.submit(spec)
            runner.wait_running(job_id)
            t_job = time.monotonic()
            session = LiveSession(cluster.url, job_id)
            first_correct: float | None = None
            try:
                with err.status("waiting for the job's metrics ...") as status:

                    def show(p: Progress) -> None:
                        nonlocal first_correct
                        up = time.monotonic() - t_job
                        status.update(_progress_line(p.diagnosis, up))
                        if first_correct is None and is_correct(p.diagnosis, scenario):
                            first_correct = up

                    _, _, d = sample_until_confident(session, max_duration_s=timeout_s,
                                                     on_progress=show)
            finally:
                session.close()
            if as_json:
                out.print_json(jsonout.render(d))
            else:
                terminal.print_diagnosis(d, out)
            if first_correct is not None:
                err.print(
                    f"\nfirst correct verdict {first_correct:.0f} s after the job started, "
                    f"{first_correct + (t_job - t_command):.0f} s after the command started"
                )
            else:
                err.print("\nflowscope did not reach the expected verdict in time")
            err.print("[dim]stopping Flink ...[/dim]")
            return d
        finally:
            runner.cancel_all()
            runner.close()


def _progress_line(d: Diagnosis, up: float) -> str:
    if d.confidence == Confidence.LOW:
        why = words.note(d.notes[0]) if d.notes else "waiting for metrics"
        return f"job up {up:.0f} s: {why[:90]} ..."
    where = ", ".join(f"{f.vertex_name} ({f.cause})" for f in d.bottlenecks) or "no bottleneck"
    return f"job up {up:.0f} s, counters cover {d.window_s:.0f} s: {where} ..."
