"""Scenarios to tune at a fixed source rate, and a runner that tunes one on a lab cluster step
by step (observe, plan, apply, verify) for the bench, the fixtures and the tests.

Each tune scenario is a lab scenario (flowscope.lab.scenarios) with its own arguments and the
target rate `tune` is given: the scenario's own source rate, so that "removes the
backpressure" means carrying what the source offers. `expect` is what `tune` must conclude:
`effective` in one step, or the refusal it must give.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flowscope.analysis.plan import TunePlan
from flowscope.analysis.verify import Effect
from flowscope.flink.requirements import Scheduler
from flowscope.lab.cluster import LocalCluster
from flowscope.lab.scenarios import ScenarioRunner
from flowscope.tuning import Outcome, Tuner

# A job younger than this has not filled the buffers before its bottleneck yet.
WARM_UP_S = 30.0


@dataclass(frozen=True)
class TuneScenario:
    name: str
    description: str
    scenario: str  # the lab scenario it runs
    target_rate: float  # records/s at the sources: the scenario's own rate
    expect: str  # "effective", or the RefusalReason value tune must give
    args: dict[str, str] = field(default_factory=dict)
    force: bool = False
    rollback: bool = False
    # Slots a filler job takes first (a cluster that lacks the slots the change needs).
    filler_slots: int = 0


TUNE_SCENARIOS: dict[str, TuneScenario] = {s.name: s for s in [
    TuneScenario("off-cpu", "enrich blocks 2 ms per record at 1500 records/s: two subtasks "
                 "carry ~900; more subtasks add capacity without cores", "off-cpu", 1500.0,
                 "effective"),
    TuneScenario("compute-carried", "enrich burns 1 ms of CPU per record in one subtask at "
                 "1200 records/s: a second subtask needs ~0.3 more cores, which 2 cores have",
                 "compute-bound", 1200.0, "effective",
                 {"rate": "1200", "enrich-parallelism": "1"}),
    TuneScenario("compute-cores", "enrich burns 1 ms of CPU per record at 3000 records/s: "
                 "3 cores' worth of work on 2 cores", "compute-bound", 3000.0,
                 "saturated-cpu"),
    TuneScenario("skew", "80% of records carry one key: the hot subtask caps enrich at any "
                 "parallelism; forced, the change is measured ineffective and rolled back",
                 "skew", 1500.0, "data-skew", force=True, rollback=True),
    TuneScenario("missing-slots", "the off-cpu job on a cluster whose free slots a filler "
                 "job has taken", "off-cpu", 1500.0, "missing-slots", filler_slots=-1),
]}


@dataclass
class TuneRun:
    """One tune scenario, step by step."""

    scenario: TuneScenario
    plans: list[TunePlan] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    scheduler: str = ""

    @property
    def steps(self) -> int:
        """Changes applied."""
        return len(self.outcomes)

    @property
    def last(self) -> Outcome | None:
        return self.outcomes[-1] if self.outcomes else None


def filler_parallelism(cluster_free: int, filler_slots: int) -> int:
    """A filler that leaves `-filler_slots` free (negative) or takes `filler_slots`."""
    return max(1, cluster_free + filler_slots) if filler_slots < 0 else filler_slots


def run_tune(cluster: LocalCluster, runner: ScenarioRunner, ts: TuneScenario, *,
             record_to: str | Path | None = None, journal_to: str | Path | None = None,
             max_steps: int = 3, apply: bool = True,
             say: Callable[[str], None] = lambda _m: None) -> TuneRun:
    """Submit the scenario, then observe, plan and apply until the job carries the target
    (or `tune` refuses, or `max_steps` changes were made); cancel what it submitted."""
    job_id = runner.submit(ts.scenario, **ts.args)
    submitted = [job_id]
    run = TuneRun(ts)
    try:
        runner.wait_running(job_id)
        if ts.filler_slots:
            free = _free_slots(runner)
            filler = runner.submit("healthy", name="flowscope-filler",
                                   parallelism=str(filler_parallelism(free, ts.filler_slots)))
            submitted.append(filler)
            runner.wait_running(filler)
        time.sleep(WARM_UP_S)
        tuner = Tuner(cluster.url, job_id, record_to=record_to, journal_to=journal_to,
                      target_rate=ts.target_rate, user="flowscope-lab")
        for step in range(max_steps):
            before = tuner.observe(150.0)
            run.scheduler = before.requirements.scheduler.value
            p = tuner.plan(before, force=ts.force)
            run.plans.append(p)
            say(f"{ts.name} step {step + 1}: {p.status}, "
                + ", ".join(f"{v.name} {v.old}->{v.new}" for v in p.changes))
            if not apply or not p.applicable or before.requirements.scheduler != (
                    Scheduler.ADAPTIVE):
                break
            out = Outcome(plan=p, before=before)
            tuner.run(out, verify_s=150.0, rollback_if_ineffective=ts.rollback)
            run.outcomes.append(out)
            v = out.verification
            say(f"{ts.name} step {step + 1}: {v.effect if v else 'unverified'}")
            if out.rolled_back or v is None or v.effect != Effect.EFFECTIVE:
                break
            if out.after is not None and not out.after.diagnosis.bottlenecks:
                break
    finally:
        for jid in submitted:
            runner.cancel(jid)
    return run


def _free_slots(runner: ScenarioRunner) -> int:
    body = runner._client.get("/overview").json()
    return int(body.get("slots-available", 0))
