"""Scenario jobs with injected, known bottlenecks, for the demo, the tests and the fixtures.

Java scenarios are compiled at run time against the distribution's jars (javac, ~1.5 s,
cached by source hash) and submitted through the REST API; the SQL scenario is a PyFlink
Table API job submitted with `flink run -py`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from flowscope.lab.cluster import LabError, LocalCluster, flink_home

JOBS_DIR = Path(__file__).parent / "jobs"
JAVA_SRC = JOBS_DIR / "java"
ENTRY_CLASS = "com.acme.Scenario"
# Scenario kinds submitted as PyFlink programs with `flink run -py`: kind -> script.
PYTHON_JOBS = {"sql": "sql_datagen.py", "python": "python_split.py"}


@dataclass(frozen=True)
class Scenario:
    """A job with a known bottleneck (or none) and the verdict flowscope must reach."""

    name: str
    description: str
    args: dict[str, str] = field(default_factory=dict)
    # The vertex name (as Flink shows it) expected to be the bottleneck; None for healthy.
    bottleneck: str | None = None
    # The cause flowscope must name (a flowscope.analysis Cause value).
    cause: str | None = None
    kind: str = "java"  # java | sql | python (see PYTHON_JOBS)
    # True when the scenario burns whole cores: run it alone, not beside other jobs.
    cpu_heavy: bool = False
    # How long a verdict needs to be watched, from submission (a moving bottleneck must move).
    min_observe_s: float = 0.0
    # True when the bottleneck only exists on a cluster with a TaskManager behind a slow link
    # (flowscope.lab.netcluster); on a plain lab cluster the job would be healthy.
    needs_netns: bool = False
    # The verdict flowscope must reach (default: backpressured with a bottleneck, healthy
    # without), and a further finding's cause it must report.
    verdict: str | None = None
    also: str | None = None

    @property
    def expected_verdict(self) -> str:
        return self.verdict or ("backpressured" if self.bottleneck else "healthy")

    def program_args(self) -> list[str]:
        args = {"name": f"flowscope-{self.name}", **self.args}
        return [f"{k}={v}" for k, v in args.items()]


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "healthy", "rate-limited pipeline with spare capacity everywhere",
            {"rate": "400", "parse": "100:sleep", "enrich": "300:sleep", "sink": "100:sleep"},
        ),
        Scenario(
            "compute-bound", "enrich burns 1 ms of CPU per record; the source offers more",
            {"rate": "3000", "enrich": "1000"},
            bottleneck="enrich", cause="compute-bound", cpu_heavy=True,
        ),
        Scenario(
            "off-cpu", "enrich blocks 2 ms per record (an external call) ; CPU stays idle",
            {"rate": "1500", "enrich": "2000:sleep"},
            bottleneck="enrich", cause="off-cpu",
        ),
        Scenario(
            "skew", "80% of records carry one key; its enrich subtask cannot keep up",
            {"rate": "1500", "skew": "0.8", "enrich": "1000:sleep"},
            bottleneck="enrich", cause="data-skew",
        ),
        Scenario(
            "slow-subtask", "enrich subtask 0 is 4x slower than its peer on equal input",
            {"rate": "1500", "enrich": "800:sleep", "slow-subtask": "0", "slow-factor": "4"},
            bottleneck="enrich", cause="slow-instance",
        ),
        Scenario(
            "slow-sink", "the sink blocks 2 ms per write",
            {"rate": "1500", "sink": "2000:sleep"},
            bottleneck="out: Writer", cause="off-cpu",
        ),
        Scenario(
            "chained", "parse and enrich chained into one vertex; enrich burns the CPU",
            {"rate": "3000", "enrich": "1000", "chain": "true"},
            bottleneck="parse -> enrich", cause="compute-bound", cpu_heavy=True,
        ),
        Scenario(
            "window", "a 30 s processing-time window whose firing costs ~12 s of work; "
            "between firings parse is the limit",
            {"topology": "window", "rate": "3000", "parse": "700:sleep",
             "window-ms": "30000", "window-cost": "300:sleep"},
            bottleneck="parse <-> window", cause="moving", min_observe_s=100.0,
        ),
        Scenario(
            "join", "two branches joined by key; the orders branch blocks 2 ms per record",
            {"topology": "join", "rate": "1500", "enrich": "2000:sleep"},
            bottleneck="enrich orders", cause="off-cpu",
        ),
        Scenario(
            "gc", "enrich allocates 384 KiB per record and keeps 280 MiB alive: GC takes over",
            {"rate": "3000", "alloc-kb": "384", "retain-mb": "280"},
            bottleneck="enrich", cause="gc-pressure", cpu_heavy=True,
        ),
        Scenario(
            "network", "2 KB records at 2000/s (32 Mbit/s) cross an 8 Mbit/s link to the "
            "TaskManager in a network namespace; every operator is cheap",
            {"rate": "2000", "payload": "2000"},
            bottleneck="Source: gen", cause="network", needs_netns=True,
        ),
        Scenario(
            "low-fill", "buffer timeout 0: every record leaves in a network buffer of its own",
            {"rate": "3000", "buffer-timeout-ms": "0"},
            bottleneck=None, cause="low-buffer-fill",
        ),
        Scenario(
            "head-cpu", "the source is chained with enrich, which burns 1 ms of CPU per "
            "record; the rate limiter allows more: the first task is the limit, nothing is "
            "backpressured",
            {"topology": "head", "rate": "3000", "enrich": "1000"},
            bottleneck="Source: gen -> enrich", cause="compute-bound", cpu_heavy=True,
            verdict="limited",
        ),
        Scenario(
            "head-offcpu", "the source is chained with enrich, which blocks 2 ms per record",
            {"topology": "head", "rate": "1500", "enrich": "2000:sleep"},
            bottleneck="Source: gen -> enrich", cause="off-cpu", verdict="limited",
        ),
        Scenario(
            "backlog", "a queue source (2 partitions, 1500 records/s arrive) chained with an "
            "enrich that blocks 2 ms per record: pendingRecords grows, and the partitions cap "
            "the parallelism that would help",
            {"topology": "head", "source": "queue", "splits": "2", "rate": "1500",
             "enrich": "2000:sleep"},
            bottleneck="Source: queue -> enrich", cause="off-cpu", verdict="limited",
            also="falling-behind",
        ),
        Scenario(
            "idle-partition", "event-time windows after a queue source whose partition 3 "
            "receives nothing, without withIdleness: the watermark never passes it",
            {"topology": "eventtime", "source": "queue", "splits": "4", "idle-splits": "3",
             "rate": "400", "window-ms": "5000"},
            bottleneck=None, cause="idle-source", min_observe_s=75.0,
        ),
        Scenario(
            "headroom", "the source chained with enrich at about 60% busy: a healthy job, "
            "no limit",
            {"topology": "head", "rate": "600", "enrich": "2000:sleep"},
            bottleneck=None, cause=None, min_observe_s=75.0,
        ),
        Scenario(
            "window-map", "a 40 s window over two keys (one per subtask) whose firing first "
            "computes ~16 s, then emits its 20,000 elements at once into an enrich that blocks "
            "0.5 ms per record (~10 s): the limit alternates between them",
            # No checkpoints: 20 MB of window state per subtask is over the JobManager
            # checkpoint storage's limit, and barriers are not what this scenario is about.
            {"topology": "window-map", "rate": "1000", "keys": "3", "key-base": "3",
             "payload": "1000", "window-ms": "40000", "window-cost": "800:sleep",
             "window-emit": "all", "enrich": "500:sleep", "checkpoint-ms": "0"},
            bottleneck="window <-> enrich", cause="moving", min_observe_s=150.0,
        ),
        Scenario(
            "slow-of-three", "enrich runs 3 subtasks, subtask 0 4x slower, before a sink of "
            "parallelism 2 that aligns checkpoint barriers every 10 s",
            {"rate": "1500", "enrich": "800:sleep", "enrich-parallelism": "3",
             "slow-subtask": "0", "slow-factor": "4", "checkpoint-ms": "10000"},
            bottleneck="enrich", cause="slow-instance",
        ),
        Scenario(
            "python-split", "a PyFlink thread-mode UDF whose two subtasks get 60% and 40% of "
            "the records: both busy, the imbalance is not skew",
            {"share": "0.6", "work": "3000"},
            bottleneck="_keyed_stream_values_operator, score, drop", cause="compute-bound",
            kind="python", cpu_heavy=True,
        ),
        Scenario(
            "async-capacity", "lookup is an Async I/O operator with 10 requests in flight "
            "calling a service that answers in 20 ms: at most 10 / 0.02 s = 500 records/s per "
            "subtask, fed 2000/s",
            {"topology": "async", "rate": "2000", "capacity": "10",
             "lookup-latency-us": "20000"},
            bottleneck="lookup", cause="async-capacity",
        ),
        Scenario(
            "checkpoint-stall", "flush is cheap per record, but its snapshotState blocks 3 s "
            "in every 5 s checkpoint interval: its inputs back up in bursts, one per checkpoint",
            {"topology": "stall", "rate": "2000", "payload": "1000",
             "snapshot-stall": "3000000:sleep", "checkpoint-ms": "5000"},
            bottleneck="flush", cause="checkpoint-stall", min_observe_s=60.0,
        ),
        Scenario(
            "restart-loop", "hoard keeps 2 KB per key for 100,000 keys: past the JobManager "
            "checkpoint storage's 5 MB per subtask within the first 4 s checkpoint interval, "
            "so every checkpoint fails, and with no failed checkpoint tolerated the job "
            "restarts (1 s delay, forever)",
            {"topology": "hoard", "rate": "2000", "payload": "2000", "keys": "100000",
             "checkpoint-ms": "4000", "tolerable-failures": "0", "restart-delay-ms": "1000"},
            bottleneck=None, cause="restart-loop", verdict="restarting", min_observe_s=60.0,
        ),
        Scenario(
            "state-access", "count reads and writes a 100-byte value per record in keyed "
            "state on RocksDB, over 4 million keys (more than its block cache holds): the "
            "state backend is where its time goes",
            # Checkpoints to files, incremental: a full RocksDB snapshot of this state is over
            # the JobManager checkpoint storage's 5 MB, which would fail every checkpoint.
            {"topology": "state", "rate": "0", "keys": "4000000", "state-backend": "rocksdb",
             "value-bytes": "100", "checkpoint-storage": "filesystem", "incremental": "true"},
            bottleneck="count", cause="state-access", cpu_heavy=True,
        ),
        Scenario(
            "sql-nan", "a SQL job whose datagen source reports busy time as NaN",
            {"rows-per-second": "2000"},
            bottleneck=None, cause="unmeasurable", kind="sql",
        ),
    ]
}



def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    path = base / "flowscope"
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_jar(home: Path | None = None) -> Path:
    """Compile the scenario job against the distribution's jars; cached by source hash."""
    home = home or flink_home()
    sources = sorted(JAVA_SRC.rglob("*.java"))
    digest = hashlib.sha256()
    for src in sources:
        digest.update(src.read_bytes())
    digest.update(str(home).encode())
    jar = _cache_dir() / f"scenario-{digest.hexdigest()[:16]}.jar"
    if jar.exists():
        return jar
    javac = shutil.which("javac")
    if javac is None:
        raise LabError(
            "javac is not installed; the scenario jobs are compiled at run time: "
            "`apt-get install openjdk-17-jdk-headless`"
        )
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(
            [javac, "-nowarn", "-cp", f"{home / 'lib'}/*", "-d", tmp, *map(str, sources)],
            capture_output=True, text=True,
        )
        if run.returncode != 0:
            raise LabError(f"compiling the scenario job failed:\n{run.stderr}")
        partial = jar.with_suffix(".tmp")
        with zipfile.ZipFile(partial, "w") as zf:
            manifest = f"Manifest-Version: 1.0\nMain-Class: {ENTRY_CLASS}\n"
            zf.writestr("META-INF/MANIFEST.MF", manifest)
            for cls in Path(tmp).rglob("*.class"):
                zf.write(cls, cls.relative_to(tmp).as_posix())
        partial.replace(jar)
    return jar


class ScenarioRunner:
    """Submits scenario jobs to a cluster and cancels them."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self._jar_id: str | None = None
        self._client = httpx.Client(base_url=cluster.url, timeout=30.0)

    def close(self) -> None:
        self._client.close()

    def _upload(self) -> str:
        if self._jar_id is None:
            jar = build_jar()
            with jar.open("rb") as fh:
                resp = self._client.post(
                    "/jars/upload",
                    files={"jarfile": (jar.name, fh, "application/x-java-archive")},
                )
            resp.raise_for_status()
            self._jar_id = resp.json()["filename"].rsplit("/", 1)[-1]
        return self._jar_id

    def submit(self, scenario: Scenario | str, **overrides: str) -> str:
        """Start a scenario; returns the job id once Flink has accepted it."""
        if isinstance(scenario, str):
            scenario = SCENARIOS[scenario]
        if overrides:
            scenario = dataclasses.replace(scenario, args={**scenario.args, **overrides})
        from flowscope.lab.netcluster import NetnsCluster

        if scenario.needs_netns and not isinstance(self.cluster, NetnsCluster):
            raise LabError(
                f"scenario {scenario.name} needs a TaskManager behind a capped link: run it on "
                "flowscope.lab.netcluster.running_netns_cluster() (root, ip netns, tc)"
            )
        if scenario.kind in PYTHON_JOBS:
            return self._submit_python(scenario)
        if scenario.args.get("checkpoint-storage") == "filesystem" and (
                "checkpoint-dir" not in scenario.args):
            # Inside the cluster's work dir, removed with it.
            base = self.cluster.workdir or Path(tempfile.gettempdir()) / "flowscope-lab"
            scenario = dataclasses.replace(scenario, args={
                **scenario.args, "checkpoint-dir": (base / "checkpoints").as_uri()})
        jar_id = self._upload()
        resp = self._client.post(
            f"/jars/{jar_id}/run",
            json={"entryClass": ENTRY_CLASS, "programArgsList": scenario.program_args()},
        )
        if resp.status_code != 200:
            raise LabError(f"submitting {scenario.name} failed: {resp.text[:500]}")
        return str(resp.json()["jobid"])

    def _submit_python(self, scenario: Scenario) -> str:
        home = flink_home()
        script = JOBS_DIR / PYTHON_JOBS[scenario.kind]
        env = self.cluster._env()
        env["PYFLINK_CLIENT_EXECUTABLE"] = sys.executable
        before = set(self.running_job_ids())
        run = subprocess.run(
            [str(home / "bin" / "flink"), "run", "-d", "-py", str(script),
             "-pyclientexec", sys.executable, "-pyexec", sys.executable,
             "--", *scenario.program_args()],
            env=env, capture_output=True, text=True, timeout=180,
        )
        if run.returncode != 0:
            raise LabError(
                f"submitting {scenario.name} failed:\n{run.stdout[-1500:]}{run.stderr[-1500:]}"
            )
        for line in run.stdout.splitlines():
            if "JobID" in line:
                return line.split()[-1].strip()
        new = set(self.running_job_ids()) - before
        if len(new) == 1:
            return new.pop()
        raise LabError(f"could not find the job id of {scenario.name} in:\n{run.stdout[-800:]}")

    def running_job_ids(self) -> list[str]:
        jobs = self._client.get("/jobs").json().get("jobs", [])
        return [j["id"] for j in jobs if j.get("status") == "RUNNING"]

    def wait_running(self, job_id: str, timeout_s: float = 60.0) -> None:
        """Wait until every subtask of the job is RUNNING."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = self._client.get(f"/jobs/{job_id}").json()
            vertices = job.get("vertices", [])
            if job.get("state") == "FAILED":
                raise LabError(f"job {job_id} failed: {job}")
            if vertices and all(v.get("status") == "RUNNING" for v in vertices):
                return
            time.sleep(0.3)
        raise LabError(f"job {job_id} did not reach RUNNING within {timeout_s:.0f} s")

    def cancel(self, job_id: str) -> None:
        self._client.patch(f"/jobs/{job_id}", params={"mode": "cancel"})

    def cancel_all(self) -> None:
        for jid in self.running_job_ids():
            self.cancel(jid)
