#!/usr/bin/env python3
"""REST requests and latency per poll: flowscope's collector vs fetching each subtask apart.

Starts a lab cluster (or uses --url), runs a multi-vertex scenario at the given parallelism,
and times N polls of each strategy in one run (interleaved, so machine noise hits both):

  flowscope      FlinkRestSource.poll(): one vertex-detail request and one `get=` request
                 (split only past the URL limit) per vertex, plus job, checkpoints, TaskManagers
  per-subtask    for every subtask: GET /jobs/:jid/vertices/:vid/subtasks/:i/metrics?get=...
                 with the same metric names (what a naive poller does)

Also prints flowscope's peak RSS after the polls. Figures, not assertions.

    python bench/bench_collector.py --parallelism 4 --polls 20
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import time
from urllib.parse import quote

from flowscope.lab.cluster import ClusterSpec, LocalCluster, running_cluster
from flowscope.lab.scenarios import ScenarioRunner
from flowscope.sources import metric_names as names
from flowscope.sources.rest import FlinkRestSource


def per_subtask_poll(src: FlinkRestSource, job_id: str) -> None:
    """The naive way: every subtask's metrics in a request of its own."""
    job = src.get(f"/jobs/{job_id}")
    bare = [c[0] for c in names.TASK_METRICS.values()]
    bare += ["accumulateBusyTimeMs", "accumulateIdleTimeMs", "accumulateBackPressuredTimeMs",
             "numRecordsIn", "numRecordsOut", "numBytesIn", "numBytesOut"]
    query = quote(",".join(dict.fromkeys(bare)), safe=",")
    for v in job["vertices"]:
        for i in range(int(v["parallelism"])):
            src.get(f"/jobs/{job_id}/vertices/{v['id']}/subtasks/{i}/metrics?get={query}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="an existing lab cluster")
    ap.add_argument("--parallelism", type=int, default=4)
    ap.add_argument("--polls", type=int, default=20)
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        if args.url:
            cluster = LocalCluster()
            cluster.rest_port = int(args.url.rsplit(":", 1)[1])
        else:
            cluster = stack.enter_context(running_cluster(ClusterSpec(slots_per_taskmanager=4)))
        runner = ScenarioRunner(cluster)
        stack.callback(runner.close)
        job_id = runner.submit("healthy", parallelism=str(args.parallelism))
        stack.callback(runner.cancel, job_id)
        runner.wait_running(job_id)
        time.sleep(12)  # let the metric fetcher see every subtask
        src = FlinkRestSource(cluster.url)
        stack.callback(src.close)
        graph, _ = src.poll(job_id)  # discovery (metric lists) happens once, not per poll
        subtasks = sum(v.parallelism for v in graph.vertices)
        timings: dict[str, list[float]] = {"flowscope": [], "per-subtask": []}
        requests: dict[str, list[int]] = {"flowscope": [], "per-subtask": []}
        for _ in range(args.polls):
            for name, fn in (("flowscope", lambda: src.poll(job_id)),
                             ("per-subtask", lambda: per_subtask_poll(src, job_id))):
                before = src.requests
                t = time.perf_counter()
                fn()
                timings[name].append(time.perf_counter() - t)
                requests[name].append(src.requests - before)
        print(f"job: {len(graph.vertices)} vertices, {subtasks} subtasks "
              f"(parallelism {args.parallelism}), {args.polls} polls each, interleaved")
        print(f"{'strategy':<12} {'requests/poll':>14} {'median ms':>10} {'p90 ms':>8}")
        for name in timings:
            ts = sorted(timings[name])
            p90 = ts[int(0.9 * (len(ts) - 1))]
            print(f"{name:<12} {statistics.median(requests[name]):>14.0f} "
                  f"{1000 * statistics.median(ts):>10.1f} {1000 * p90:>8.1f}")
        ratio = statistics.median(timings["per-subtask"]) / statistics.median(timings["flowscope"])
        print(f"per-subtask / flowscope median latency: {ratio:.2f}x")
        rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process (collector + analysis imports): {rss_mib:.0f} MiB")


if __name__ == "__main__":
    main()
