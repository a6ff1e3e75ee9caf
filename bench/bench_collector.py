#!/usr/bin/env python3
"""REST requests and latency per poll: flowscope's collector vs fetching each subtask apart.

Starts a lab cluster (or uses --url), runs a multi-vertex scenario at the given parallelism,
and times N polls of each strategy in one run (interleaved, so machine noise hits both):

  flowscope      FlinkRestSource.poll(): one vertex-detail request and one `get=` request
                 (split only past the URL limit) per vertex, plus job, checkpoints, TaskManagers
  per-subtask    for every subtask: GET /jobs/:jid/vertices/:vid/subtasks/:i/metrics?get=...
                 with the same metric names (what a naive poller does)

Also prints flowscope's peak RSS after the polls. Figures, not assertions.

    python bench/bench_collector.py --parallelism 2 4 8 --polls 20
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import time
from urllib.parse import quote

from flowscope.flink import metric_names as names
from flowscope.flink.rest import FlinkRestSource
from flowscope.lab.cluster import ClusterSpec, LocalCluster, running_cluster
from flowscope.lab.scenarios import ScenarioRunner


def per_subtask_poll(src: FlinkRestSource, job_id: str, tms: list[str]) -> None:
    """The naive way: every subtask's metrics in a request of its own (plus the same job,
    checkpoint and TaskManager requests flowscope makes)."""
    job = src.get(f"/jobs/{job_id}")
    src.get(f"/jobs/{job_id}/checkpoints")
    for tm in tms:
        src.get(f"/taskmanagers/{quote(tm, safe='')}/metrics?get=Status.JVM.CPU.Load")
    bare = [c[0] for c in names.TASK_METRICS.values()]
    bare += ["accumulateBusyTimeMs", "accumulateIdleTimeMs", "accumulateBackPressuredTimeMs",
             "numRecordsIn", "numRecordsOut", "numBytesIn", "numBytesOut"]
    query = quote(",".join(dict.fromkeys(bare)), safe=",")
    for v in job["vertices"]:
        for i in range(int(v["parallelism"])):
            src.get(f"/jobs/{job_id}/vertices/{v['id']}/subtasks/{i}/metrics?get={query}")


def bench_one(cluster: LocalCluster, runner: ScenarioRunner, parallelism: int,
              polls: int) -> None:
    job_id = runner.submit("healthy", parallelism=str(parallelism))
    try:
        runner.wait_running(job_id)
        src = FlinkRestSource(cluster.url)
        try:
            # Discovery (listing metric names) happens once per vertex, not per poll: wait
            # until every vertex's names are resolved, as in a long-running watch.
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                graph, sample = src.poll(job_id)
                if all("in_pool_usage" in st.values or not graph.inputs(vid)
                       for vid, subs in sample.subtasks.items() for st in subs) and \
                        sample.taskmanagers:
                    break
                time.sleep(2)
            tms = sorted(sample.taskmanagers)
            subtasks = sum(v.parallelism for v in graph.vertices)
            timings: dict[str, list[float]] = {"flowscope": [], "per-subtask": []}
            requests: dict[str, list[int]] = {"flowscope": [], "per-subtask": []}
            for _ in range(polls):
                for name, fn in (("flowscope", lambda: src.poll(job_id)),
                                 ("per-subtask", lambda: per_subtask_poll(src, job_id, tms))):
                    before = src.requests
                    t = time.perf_counter()
                    fn()
                    timings[name].append(time.perf_counter() - t)
                    requests[name].append(src.requests - before)
            for name in timings:
                ts = sorted(timings[name])
                p90 = ts[int(0.9 * (len(ts) - 1))]
                print(f"{parallelism:>11} {subtasks:>8} {name:<12} "
                      f"{statistics.median(requests[name]):>13.0f} "
                      f"{1000 * statistics.median(ts):>9.1f} {1000 * p90:>7.1f}")
            ratio = (statistics.median(timings["per-subtask"])
                     / statistics.median(timings["flowscope"]))
            print(f"{'':>11} {'':>8} per-subtask / flowscope median latency: {ratio:.2f}x")
        finally:
            src.close()
    finally:
        runner.cancel(job_id)
        time.sleep(3)  # let the slots free up


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="an existing lab cluster")
    ap.add_argument("--parallelism", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--polls", type=int, default=20)
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        if args.url:
            cluster = LocalCluster()
            cluster.rest_port = int(args.url.rsplit(":", 1)[1])
        else:
            cluster = stack.enter_context(running_cluster(ClusterSpec(slots_per_taskmanager=8)))
        runner = ScenarioRunner(cluster)
        stack.callback(runner.close)
        print(f"{'parallelism':>11} {'subtasks':>8} {'strategy':<12} {'requests/poll':>13} "
              f"{'median ms':>9} {'p90 ms':>7}")
        for parallelism in args.parallelism:
            bench_one(cluster, runner, parallelism, args.polls)
        rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process (collector + analysis imports): {rss_mib:.0f} MiB")


if __name__ == "__main__":
    main()
