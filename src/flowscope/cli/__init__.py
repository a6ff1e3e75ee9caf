"""The `flowscope` command line: one module per command, loaded when the command runs.

Exit codes (diagnose, demo; scan: the most severe verdict among its jobs):
  0  healthy: no backpressure
  1  backpressured: a bottleneck was found (or backpressure without a clear source)
  5  limited: nothing is backpressured, but the first task of the job runs at its limit
  3  could not tell: data too young or incomplete
  4  error: the cluster could not be reached, the job or recording could not be read, or
     every poll of the job failed (watch, record and serve --duration too)
  2  usage error (bad options)
  70 internal error (a bug in flowscope; never 0 or 1)
"""

from __future__ import annotations

import importlib

import click

# command -> (module, attribute). Each module imports its heavy dependencies inside the
# command, so `flowscope --help` stays fast and the `web` extra stays optional.
COMMANDS = {
    "demo": ("flowscope.cli.demo", "demo"),
    "diagnose": ("flowscope.cli.diagnose", "diagnose"),
    "diff": ("flowscope.cli.diff", "diff"),
    "jobs": ("flowscope.cli.diagnose", "jobs"),
    "lab": ("flowscope.cli.demo", "lab"),
    "profile": ("flowscope.cli.profile", "profile"),
    "record": ("flowscope.cli.record", "record"),
    "report": ("flowscope.cli.report", "report"),
    "scan": ("flowscope.cli.scan", "scan"),
    "serve": ("flowscope.cli.serve", "serve"),
    "tune": ("flowscope.cli.tune", "tune"),
    "watch": ("flowscope.cli.watch", "watch"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name]
        cmd: click.Command = getattr(importlib.import_module(module), attr)
        return cmd


@click.group(cls=LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="flowscope")
def main() -> None:
    """Find where backpressure starts in an Apache Flink job, why, and what to do about it.

    flowscope reads Flink's REST API, measures every subtask's busy, backpressured and idle
    time from counters, locates the task(s) that cause backpressure, names the cause with the
    evidence, and recommends numbers (parallelism, config keys).

    Start with `flowscope demo` (a local Flink with a real bottleneck), or point
    `flowscope diagnose --url http://jobmanager:8081` at your cluster.
    """
