"""`flowscope demo` and `flowscope lab`: a local Flink with jobs whose bottleneck is known."""

from __future__ import annotations

import sys
import time

import click

from flowscope.cli.common import EXIT_FOR, POSITIVE, err_console, friendly_errors


@click.command()
@click.option("--scenario", default="skew", show_default=True,
              help="Which injected bottleneck to run (see `flowscope lab scenarios`).")
@click.option("--timeout", type=POSITIVE, default=120.0, show_default=True,
              help="Give up on a verdict after this many seconds of the job running.")
@click.option("--json", "as_json", is_flag=True, help="Print the final diagnosis as JSON.")
@friendly_errors
def demo(scenario: str, timeout: float, as_json: bool) -> None:
    """Start a local Flink, run a job with a real bottleneck, and diagnose it.

    Needs Java 17 and the `flink` extra (pip install 'flowscope[flink]'). Everything it
    starts is stopped when it ends, on Ctrl-C too.
    """
    from flowscope.demo import run_demo

    d = run_demo(scenario, timeout_s=timeout, as_json=as_json)
    sys.exit(EXIT_FOR[d.verdict])


@click.group()
def lab() -> None:
    """A local Flink cluster and scenario jobs with known bottlenecks."""


@lab.command("scenarios")
def lab_scenarios() -> None:
    """List the scenario jobs and the verdict each should get."""
    from flowscope.lab.scenarios import SCENARIOS
    from flowscope.lab.tunelab import TUNE_SCENARIOS

    for s in SCENARIOS.values():
        expect = f"{s.bottleneck} ({s.cause})" if s.bottleneck else (s.cause or "healthy")
        click.echo(f"{s.name:<15} {s.description}\n{'':<15} expect: {expect}")
    click.echo("\nTo tune (bench/bench_tune.py, on a cluster started with --adaptive):")
    for t in TUNE_SCENARIOS.values():
        click.echo(f"{t.name:<15} {t.description}\n{'':<15} tune {t.scenario} at "
                   f"{t.target_rate:.0f} records/s: expect {t.expect}")


@lab.command("up")
@click.option("--scenario", "scenarios", multiple=True,
              help="Scenario(s) to submit once the cluster is ready. Repeatable.")
@click.option("--adaptive", is_flag=True,
              help="Run Flink's adaptive scheduler (jobmanager.scheduler: adaptive, rescale "
                   "history kept): `flowscope tune --apply` can rescale its jobs.")
@click.option("--slots", type=click.IntRange(1, 64), default=6, show_default=True,
              help="Slots per TaskManager (two TaskManagers).")
@friendly_errors
def lab_up(scenarios: tuple[str, ...], adaptive: bool, slots: int) -> None:
    """Start a local cluster (and scenarios) and keep it until Ctrl-C."""
    from flowscope.lab.cluster import ClusterSpec, running_cluster
    from flowscope.lab.scenarios import ScenarioRunner

    err = err_console()
    spec = ClusterSpec(slots_per_taskmanager=slots, adaptive=adaptive)
    with running_cluster(spec, progress=lambda m: err.print(m, soft_wrap=True)) as cluster:
        runner = ScenarioRunner(cluster)
        for name in scenarios:
            err.print(f"submitted {name}: {runner.submit(name)}")
        click.echo(f"Flink is up at {cluster.url} (Ctrl-C stops it)")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            err.print("stopping Flink ...")
