"""A standalone Flink session cluster on localhost, from the `apache-flink` PyPI distribution.

The cluster lives in a working directory of its own (config, logs, pid files); the installed
package is never modified. `LocalCluster` is a context manager that always stops what it
started: on normal exit, on an exception, on Ctrl-C, and at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from flowscope.errors import FlowscopeError


class LabError(FlowscopeError):
    """The local Flink lab could not be set up or started."""


def flink_home() -> Path:
    """The Flink distribution shipped inside the `pyflink` package (FLINK_HOME overrides)."""
    env = os.environ.get("FLINK_HOME")
    if env:
        home = Path(env)
    else:
        spec = importlib.util.find_spec("pyflink")
        if spec is None or not spec.submodule_search_locations:
            raise LabError(
                "the Flink distribution is not installed: run "
                "`pip install 'flowscope[flink]'` (it ships Flink inside the apache-flink package)"
            )
        home = Path(next(iter(spec.submodule_search_locations)))
    if not (home / "bin" / "start-cluster.sh").exists() or not (home / "lib").is_dir():
        raise LabError(f"{home} is not a Flink distribution (no bin/start-cluster.sh)")
    return home


def java_binary() -> str:
    """Path of a Java 17+ runtime, or a LabError that says how to install one."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise LabError(
            "Java is not installed; Flink needs Java 17: "
            "`apt-get install openjdk-17-jdk-headless` (or set JAVA_HOME)"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    try:
        version = out.split('"')[1]
        major = int(version.split(".")[0])
    except (IndexError, ValueError):
        major = 0
    if major and major < 11:
        raise LabError(f"Java {version} is too old for Flink 2.x; install openjdk-17-jdk-headless")
    return java


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ClusterSpec:
    """How the lab cluster is configured. Defaults fit 2 cores / 24 GiB (see FLINK-LAB.md)."""

    taskmanagers: int = 2
    slots_per_taskmanager: int = 6
    taskmanager_memory: str = "1536m"
    jobmanager_memory: str = "1200m"
    latency_interval_ms: int = 0
    prometheus: bool = False
    # Archive ended jobs and serve them with Flink's HistoryServer (`history_url`).
    history_server: bool = False
    # The state backends' own metrics (STATE_METRICS): RocksDB's native metrics and sampled
    # state access latencies.
    state_metrics: bool = True
    # Flink's adaptive scheduler, which rescales a running job when its resource requirements
    # change (`flowscope tune --apply`), with its rescale history kept.
    adaptive: bool = False
    extra: dict[str, str] = field(default_factory=dict)


# RocksDB native metrics (each a property read once per metric report, on RocksDB states
# only) and state access latency tracking (one access in `sample-interval`, 100 by default,
# is timed): what tells a keyed operator's time spent in its state backend.
STATE_METRICS = {
    **{f"state.backend.rocksdb.metrics.{name}": "true" for name in (
        "estimate-num-keys", "estimate-live-data-size", "total-sst-files-size",
        "block-cache-usage", "block-cache-capacity", "estimate-pending-compaction-bytes",
        "num-running-compactions", "is-write-stopped",
        # Statistics (tickers): counters of the whole RocksDB instance of an operator.
        "block-cache-hit", "block-cache-miss", "bytes-read", "bytes-written", "stall-micros",
    )},
    "state.latency-track.keyed-state-enabled": "true",
}


@dataclass
class LocalCluster:
    """A running (or startable) standalone cluster. Use as a context manager."""

    spec: ClusterSpec = field(default_factory=ClusterSpec)
    workdir: Path | None = None
    rest_port: int = 0
    history_port: int = 0
    _owned_workdir: bool = False
    _started: bool = False

    @property
    def url(self) -> str:
        return f"http://localhost:{self.rest_port}"

    @property
    def history_url(self) -> str:
        """The HistoryServer's REST URL (`ClusterSpec(history_server=True)`)."""
        return f"http://localhost:{self.history_port}"

    @property
    def conf_dir(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "conf"

    @property
    def log_dir(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "log"

    def _env(self) -> dict[str, str]:
        assert self.workdir is not None
        env = dict(os.environ)
        env.update(
            FLINK_CONF_DIR=str(self.conf_dir),
            FLINK_LOG_DIR=str(self.log_dir),
            FLINK_PID_DIR=str(self.workdir / "pid"),
        )
        # PyFlink's thread mode runs CPython inside the TaskManager (pemja); that interpreter
        # starts with the base Python's paths, not this environment's, and would not find
        # pemja or pyflink without them.
        site = sysconfig.get_paths()["purelib"]
        env["PYTHONPATH"] = os.pathsep.join(p for p in (site, env.get("PYTHONPATH", "")) if p)
        return env

    def _write_config(self, home: Path) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "pid").mkdir(exist_ok=True)  # type: ignore[operator]
        for name in ("log4j.properties", "log4j-console.properties", "log4j-cli.properties",
                     "logback.xml", "logback-console.xml"):
            src = home / "conf" / name
            if src.exists():
                shutil.copy(src, self.conf_dir / name)
        java_opts = _default_java_opts(home)
        lines = {
            "env.java.opts.all": java_opts,
            "jobmanager.rpc.address": "localhost",
            "jobmanager.rpc.port": str(free_port()),
            "jobmanager.bind-host": "localhost",
            "jobmanager.memory.process.size": self.spec.jobmanager_memory,
            "taskmanager.bind-host": "localhost",
            "taskmanager.host": "localhost",
            "taskmanager.rpc.port": "0",
            "taskmanager.numberOfTaskSlots": str(self.spec.slots_per_taskmanager),
            "taskmanager.memory.process.size": self.spec.taskmanager_memory,
            # Without this the scheduler packs a job onto one TaskManager: every channel
            # becomes local and the input buffer metrics read 0 everywhere.
            "taskmanager.load-balance.mode": "SLOTS",
            "rest.address": "localhost",
            "rest.bind-address": "localhost",
            "rest.port": str(self.rest_port),
            "rest.flamegraph.enabled": "true",
            "blob.server.port": "0",
            "parallelism.default": "2",
            "jobmanager.execution.failover-strategy": "region",
            "restart-strategy.type": "fixed-delay",
            "restart-strategy.fixed-delay.attempts": "3",
            "web.cancel.enable": "true",
        }
        if self.spec.state_metrics:
            lines.update(STATE_METRICS)
        if self.spec.latency_interval_ms:
            lines["metrics.latency.interval"] = str(self.spec.latency_interval_ms)
            lines["metrics.latency.granularity"] = "operator"
        if self.spec.prometheus:
            lines["metrics.reporter.prom.factory.class"] = (
                "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
            )
            lines["metrics.reporter.prom.port"] = "9250-9290"
            lines["metrics.reporter.prom.host"] = "127.0.0.1"
        if self.spec.adaptive:
            lines["jobmanager.scheduler"] = "adaptive"
            lines["web.adaptive-scheduler.rescale-history.size"] = "10"
        if self.spec.history_server:
            archive = (self.workdir / "archive").as_uri()  # type: ignore[operator]
            self.history_port = self.history_port or free_port()
            lines["jobmanager.archive.fs.dir"] = archive
            lines["historyserver.archive.fs.dir"] = archive
            lines["historyserver.archive.fs.refresh-interval"] = "2000"
            lines["historyserver.web.address"] = "localhost"
            lines["historyserver.web.port"] = str(self.history_port)
        lines.update(self.spec.extra)
        text = "".join(f"{k}: {_yaml_scalar(v)}\n" for k, v in lines.items())
        (self.conf_dir / "config.yaml").write_text(text)
        (self.conf_dir / "masters").write_text(f"localhost:{self.rest_port}\n")
        (self.conf_dir / "workers").write_text("localhost\n" * self.spec.taskmanagers)

    def start(self, timeout_s: float = 90.0, progress: Callable[[str], None] | None = None) -> None:
        """Start the JobManager and TaskManagers and wait until all are registered."""
        home = flink_home()
        java_binary()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="flowscope-lab-"))
            self._owned_workdir = True
        if not self.rest_port:
            self.rest_port = free_port()
        self._write_config(home)
        say = progress or (lambda _msg: None)
        say(f"starting Flink {flink_version(home)} on {self.url} (work dir {self.workdir})")
        _ACTIVE.append(self)
        _watch_sigterm()
        self._started = True
        try:
            self._launch(home)
        except BaseException:
            self.stop()
            raise
        self._wait_ready(timeout_s, say)

    def _launch(self, home: Path) -> None:
        """Start the JobManager and TaskManagers (their pid files go to the work dir's `pid/`).

        A hook: cluster variants that place TaskManagers differently override it."""
        run = subprocess.run(
            [str(home / "bin" / "start-cluster.sh")],
            env=self._env(), capture_output=True, text=True, timeout=120,
        )
        if run.returncode != 0:
            raise LabError(f"start-cluster.sh failed: {run.stderr.strip() or run.stdout.strip()}")
        if self.spec.history_server:
            # Its pid file lands in the work dir's pid/ too, so stop() ends it with the rest.
            run = subprocess.run([str(home / "bin" / "historyserver.sh"), "start"],
                                 env=self._env(), capture_output=True, text=True, timeout=60)
            if run.returncode != 0:
                raise LabError(f"historyserver.sh failed: {run.stderr.strip()}")

    def _wait_ready(self, timeout_s: float, say: Callable[[str], None]) -> None:
        deadline = time.monotonic() + timeout_s
        seen = -1
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                try:
                    overview = client.get(f"{self.url}/overview").json()
                    tms = int(overview.get("taskmanagers", 0))
                    if tms != seen:
                        say(f"{tms}/{self.spec.taskmanagers} TaskManagers registered")
                        seen = tms
                    if tms >= self.spec.taskmanagers:
                        return
                except (httpx.HTTPError, ValueError):
                    pass
                if not self._processes_alive():
                    break
                time.sleep(0.5)
        logs = self.tail_logs()
        self.stop()
        raise LabError(
            f"Flink did not become ready within {timeout_s:.0f} s "
            f"(want {self.spec.taskmanagers} TaskManagers).\n{logs}"
        )

    def pids(self) -> list[int]:
        if self.workdir is None:
            return []
        out: list[int] = []
        for pidfile in (self.workdir / "pid").glob("*.pid"):
            for line in pidfile.read_text().split():
                with contextlib.suppress(ValueError):
                    out.append(int(line))
        return out

    def _processes_alive(self) -> bool:
        pids = self.pids()
        return not pids or any(_alive(p) for p in pids)

    def tail_logs(self, lines: int = 15) -> str:
        chunks = []
        for log in sorted(self.log_dir.glob("*.log")) if self.workdir else []:
            text = log.read_text(errors="replace").splitlines()[-lines:]
            chunks.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(chunks)

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop every process this cluster started. Safe to call more than once."""
        if not self._started:
            return
        self._started = False
        pids = [p for p in self.pids() if _alive(p)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.2)
        for pid in pids:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.workdir is not None:
            for pidfile in (self.workdir / "pid").glob("*.pid"):
                pidfile.unlink(missing_ok=True)
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self._owned_workdir and self.workdir is not None and not os.environ.get(
            "FLOWSCOPE_KEEP_LAB"
        ):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        if not self._started:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _yaml_scalar(value: str) -> str:
    if value == "" or any(c in value for c in ":#{}[],&*!|>'\"%@`") or value != value.strip():
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def _default_java_opts(home: Path) -> str:
    """The module flags the distribution's own config.yaml passes to every JVM."""
    text = (home / "conf" / "config.yaml").read_text()
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("all:") and "--add-" in stripped:
            return stripped.split("all:", 1)[1].strip()
    return ""


def flink_version(home: Path | None = None) -> str:
    home = home or flink_home()
    for jar in (home / "lib").glob("flink-dist-*.jar"):
        return jar.stem.removeprefix("flink-dist-")
    return "unknown"


_ACTIVE: list[LocalCluster] = []


def _stop_all() -> None:
    for cluster in list(_ACTIVE):
        cluster.stop(grace_s=5.0)


_PREVIOUS_SIGTERM: object = signal.SIG_DFL


def _on_sigterm(signum: int, frame: object) -> None:
    """Stop every cluster, then do what the previous handler did (exit, by default)."""
    _stop_all()
    previous = _PREVIOUS_SIGTERM
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        raise SystemExit(128 + signum)


def _watch_sigterm() -> None:
    """Stop clusters on SIGTERM too. Installed when a cluster starts (not at import: a test
    runner or browser driver may set its own handler first), chaining to that handler."""
    global _PREVIOUS_SIGTERM
    if threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGTERM)
    if current is _on_sigterm:
        return
    _PREVIOUS_SIGTERM = current if current is not None else signal.SIG_DFL
    signal.signal(signal.SIGTERM, _on_sigterm)


atexit.register(_stop_all)


@contextlib.contextmanager
def running_cluster(
    spec: ClusterSpec | None = None, progress: Callable[[str], None] | None = None
) -> Iterator[LocalCluster]:
    """Start a lab cluster for the duration of a `with` block."""
    cluster = LocalCluster(spec or ClusterSpec())
    try:
        cluster.start(progress=progress)
        yield cluster
    finally:
        cluster.stop()
