"""A lab cluster whose second TaskManager sits behind a slow network link.

    host side (10.213.7.1)                           namespace flowscope-net (10.213.7.2)
    JobManager + REST, TaskManager 1   <== veth, tbf 8 Mbit/s each way ==>   TaskManager 2

Every byte between the two TaskManagers (data exchanges, credits) and between the JobManager
and TaskManager 2 (RPC, metric queries) crosses the capped link. REST listens on the host-side
veth address only: `cluster.url` is `http://10.213.7.1:<port>`, reachable from this machine.

It is a `LocalCluster` with a different `_launch` (no start-cluster.sh: the JobManager and
TaskManager 1 are started with their own scripts, TaskManager 2 through `ip netns exec` with a
config dir of its own) and it owns the namespace: `stop()` stops every process, then removes
the namespace and the veth pair.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from flowscope.lab.cluster import ClusterSpec, LabError, LocalCluster
from flowscope.lab.netns import CappedLink, LinkSpec


@dataclass
class NetnsCluster(LocalCluster):
    """JobManager and TaskManager 1 on the host, TaskManager 2 in a network namespace."""

    link_spec: LinkSpec = field(default_factory=LinkSpec)
    link: CappedLink | None = None

    @property
    def url(self) -> str:
        return f"http://{self.link_spec.host_addr}:{self.rest_port}"

    @property
    def ns_conf_dir(self) -> Path:
        """Config dir of the TaskManager inside the namespace."""
        assert self.workdir is not None
        return self.workdir / "conf-ns"

    def _write_config(self, home: Path) -> None:
        host = self.link_spec.host_addr
        # The host-side address for everything on the host: TaskManager 2 must reach the
        # JobManager and TaskManager 1 through the veth, so nobody may advertise localhost.
        placement = {
            "jobmanager.rpc.address": host,
            "jobmanager.bind-host": host,
            "taskmanager.host": host,
            "taskmanager.bind-host": host,
            "rest.address": host,
            "rest.bind-address": host,
        }
        self.spec = replace(self.spec, taskmanagers=2, extra={**self.spec.extra, **placement})
        super()._write_config(home)
        ns_addr = self.link_spec.ns_addr
        inner = {"taskmanager.host": ns_addr, "taskmanager.bind-host": ns_addr}
        if self.ns_conf_dir.exists():
            shutil.rmtree(self.ns_conf_dir)
        shutil.copytree(self.conf_dir, self.ns_conf_dir)
        lines = []
        for line in (self.conf_dir / "config.yaml").read_text().splitlines():
            key = line.split(":", 1)[0]
            lines.append(f"{key}: {inner[key]}" if key in inner else line)
        (self.ns_conf_dir / "config.yaml").write_text("\n".join(lines) + "\n")

    def _launch(self, home: Path) -> None:
        if self.link is None:
            self.link = CappedLink(self.link_spec)
        self.link.create()
        env = self._env()
        steps: list[tuple[str, list[str], dict[str, str]]] = [
            ("jobmanager.sh", [str(home / "bin" / "jobmanager.sh"), "start"], env),
            ("taskmanager.sh", [str(home / "bin" / "taskmanager.sh"), "start"], env),
            ("taskmanager.sh in the namespace",
             [*self.link.exec_prefix(), str(home / "bin" / "taskmanager.sh"), "start"],
             {**env, "FLINK_CONF_DIR": str(self.ns_conf_dir)}),
        ]
        for what, cmd, cmd_env in steps:
            run = subprocess.run(cmd, env=cmd_env, capture_output=True, text=True, timeout=120)
            if run.returncode != 0:
                raise LabError(f"{what} failed: {run.stderr.strip() or run.stdout.strip()}")

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop every process, then remove the namespace and its veth pair."""
        try:
            super().stop(grace_s)
        finally:
            if self.link is not None:
                self.link.remove()


@contextlib.contextmanager
def running_netns_cluster(
    spec: ClusterSpec | None = None,
    link: LinkSpec | None = None,
    progress: Callable[[str], None] | None = None,
    timeout_s: float = 120.0,
) -> Iterator[NetnsCluster]:
    """Start a cluster with TaskManager 2 behind the capped link for a `with` block."""
    cluster = NetnsCluster(
        spec or ClusterSpec(taskmanagers=2, slots_per_taskmanager=2),
        link_spec=link or LinkSpec(),
    )
    try:
        cluster.start(timeout_s=timeout_s, progress=progress)
        yield cluster
    finally:
        cluster.stop()
