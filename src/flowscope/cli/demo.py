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

    for s in SCENARIOS.values():
        expect = f"{s.bottleneck} ({s.cause})" if s.bottleneck else (s.cause or "healthy")
        click.echo(f"{s.name:<15} {s.description}\n{'':<15} expect: {expect}")


@lab.command("up")
@click.option("--scenario", "scenarios", multiple=True,
              help="Scenario(s) to submit once the cluster is ready. Repeatable.")
@friendly_errors
def lab_up(scenarios: tuple[str, ...]) -> None:
    """Start a local cluster (and scenarios) and keep it until Ctrl-C."""
    from flowscope.lab.cluster import running_cluster
    from flowscope.lab.scenarios import ScenarioRunner

    err = err_console()
    with running_cluster(progress=lambda m: err.print(m, soft_wrap=True)) as cluster:
        runner = ScenarioRunner(cluster)
        for name in scenarios:
            err.print(f"submitted {name}: {runner.submit(name)}")
        click.echo(f"Flink is up at {cluster.url} (Ctrl-C stops it)")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            err.print("stopping Flink ...")
