"""`flowscope tune`: observe a running job, plan, apply the plan through the adaptive
scheduler, wait for the rescale, verify predicted against measured, roll an ineffective change
back, and journal every step. What to change and whether it worked is decided by
flowscope.analysis.plan / verify; this module talks to Flink and keeps time.

Writes go through flowscope.flink.writer only, and only from `Tuner.apply` and
`Tuner.rollback`; a job is never stopped or restarted by flowscope (the adaptive scheduler
restarts its tasks from the latest checkpoint at the new parallelism).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from flowscope import journal
from flowscope.analysis.diff import change_points, compare
from flowscope.analysis.engine import MIN_WINDOW_S
from flowscope.analysis.findings import Diagnosis
from flowscope.analysis.plan import TunePlan, plan
from flowscope.analysis.resources import ClusterFacts, facts_of
from flowscope.analysis.verify import EFFECTIVE_SHARE, Effect, Verification, verify
from flowscope.deadline import Deadline
from flowscope.errors import FlowscopeError
from flowscope.flink import requirements as reqs
from flowscope.flink import writer
from flowscope.flink.http import RestClient
from flowscope.flink.rest import JobSummary
from flowscope.model import JobGraph, Sample
from flowscope.recording import Recorder
from flowscope.render import tunejson
from flowscope.render.diff import to_dict as diff_dict
from flowscope.sampling import LiveSession, Progress, sample_until_confident

# After the rescale, the new tasks report Flink's start-up values for a few seconds and the
# JobManager's metric snapshot still holds the old attempt: wait this long before sampling.
SETTLE_S = 10.0
# The window after a change must cover this much before it is judged (two metric refreshes).
VERIFY_MIN_WINDOW_S = 20.0
RESCALE_TIMEOUT_S = 180.0
POLL_S = 0.5


@dataclass
class Observation:
    """One judged window of the job and what the cluster had then."""

    graph: JobGraph
    samples: list[Sample]
    diagnosis: Diagnosis
    facts: ClusterFacts
    requirements: reqs.Requirements
    slots: reqs.Slots | None


@dataclass
class Rescaled:
    """How a rescale went: `seconds` from the write to every vertex RUNNING at its new
    parallelism; `scheduler_s` the adaptive scheduler's own account (rescale history)."""

    done: bool
    seconds: float
    scheduler_s: float | None = None


@dataclass
class Outcome:
    """Everything `tune` did, for the renderers and the journal."""

    plan: TunePlan
    before: Observation
    applied: bool = False
    rescale: Rescaled | None = None
    after: Observation | None = None
    verification: Verification | None = None
    apply_to_verdict_s: float | None = None
    rolled_back: bool = False
    rollback_rescale: Rescaled | None = None
    rollback_after: Observation | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)


class Tuner:
    """One job of one cluster. `transport`, `write_transport`, `sleep`, `monotonic` and
    `clock` are seams for tests."""

    def __init__(self, url: str, job: str | None, *, headers: Mapping[str, str] | None = None,
                 record_to: str | Path | None = None, journal_to: str | Path | None = None,
                 interval_s: float = 1.0, window_s: float = 60.0,
                 target_rate: float | None = None, user: str = "",
                 transport: httpx.BaseTransport | None = None,
                 write_transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic,
                 clock: Callable[[], float] = time.time,
                 on_progress: Callable[[str, Progress], None] | None = None) -> None:
        self.url, self.headers = url.rstrip("/"), dict(headers or {})
        self.record_to, self.journal_to = record_to, journal_to
        self.interval_s, self.window_s, self.target_rate = interval_s, window_s, target_rate
        self.user = user
        self.transport, self.write_transport = transport, write_transport
        self.sleep, self.monotonic, self.clock = sleep, monotonic, clock
        self.on_progress = on_progress
        self.job: str | JobSummary | None = job

    # -- reading -------------------------------------------------------------------------------

    def observe(self, duration_s: float, phase: str = "before",
                min_window_s: float = MIN_WINDOW_S) -> Observation:
        """Sample the job until its diagnosis holds (or `duration_s` passes)."""
        session = LiveSession(self.url, self.job, headers=self.headers,
                              record_to=self.record_to, transport=self.transport,
                              interval_s=self.interval_s,
                              deadline=Deadline(duration_s, clock=self.monotonic))
        try:
            self.job = session.job
            http = session.source.http
            # Read before sampling, so that a recording commits them with the first poll.
            requirements = reqs.requirements(http, session.job.id)
            slots = reqs.slots(http)
            show = self.on_progress

            def progress(p: Progress) -> None:
                if show is not None:
                    show(phase, p)

            graph, samples, d = sample_until_confident(
                session, interval_s=self.interval_s, max_duration_s=duration_s,
                window_s=self.window_s, target_rate=self.target_rate,
                on_progress=progress, min_window_s=min_window_s)
        finally:
            session.close()
        facts = facts_of(samples, self.window_s, slots.free if slots else None,
                         slots.total if slots else None)
        return Observation(graph, samples, d, facts, requirements, slots)

    def plan(self, obs: Observation, force: bool = False) -> TunePlan:
        return plan(obs.diagnosis, obs.facts, target_rate=self.target_rate, force=force)

    @property
    def job_id(self) -> str:
        if not isinstance(self.job, JobSummary):
            raise FlowscopeError("no job observed yet")
        return self.job.id

    def _http(self) -> RestClient:
        return RestClient(self.url, headers=self.headers, transport=self.transport)

    # -- writing -------------------------------------------------------------------------------

    def new_bounds(self, p: TunePlan, before: reqs.Requirements) -> dict[str, reqs.Bounds]:
        """The requirements to write: the changed vertices' upper bound raised to the plan,
        every other vertex as it is."""
        out = dict(before.bounds)
        for v in p.changes:
            old = before.bounds.get(v.vertex_id, reqs.Bounds(1, v.old))
            out[v.vertex_id] = reqs.Bounds(min(old.lower, v.new), v.new)
        return out

    def _put(self, bounds: Mapping[str, reqs.Bounds]) -> None:
        writer.put_requirements(self.url, self.job_id, bounds, headers=self.headers,
                                transport=self.write_transport)

    def apply(self, p: TunePlan, before: Observation, timeout_s: float = RESCALE_TIMEOUT_S
              ) -> tuple[dict[str, reqs.Bounds], Rescaled, float]:
        """Write the plan's requirements and wait for the rescale. Returns the bounds written,
        the rescale, and the monotonic time of the write."""
        bounds = self.new_bounds(p, before.requirements)
        began = self.monotonic()
        wall = self.clock()
        self._put(bounds)
        want = {vid: b.upper for vid, b in bounds.items()}
        rescaled = self.wait_rescale(want, began, wall, timeout_s)
        return bounds, rescaled, began

    def wait_rescale(self, want: Mapping[str, int], began: float, wall: float,
                     timeout_s: float) -> Rescaled:
        """Until every vertex runs at the parallelism wanted (and the rescale history, where
        it is kept, says the rescale completed)."""
        http = self._http()
        try:
            while self.monotonic() - began < timeout_s:
                state, vertices = reqs.vertex_states(http, self.job_id)
                at = all(vertices.get(vid, (0, ""))[0] == p for vid, p in want.items())
                running = all(s == "RUNNING" for _, s in vertices.values())
                if state == "RUNNING" and at and running:
                    seconds = self.monotonic() - began
                    return Rescaled(True, seconds, self._scheduler_seconds(http, wall))
                self.sleep(POLL_S)
            return Rescaled(False, self.monotonic() - began)
        finally:
            http.close()

    def _scheduler_seconds(self, http: RestClient, since: float) -> float | None:
        """The newest completed rescale the update triggered, from the rescale history."""
        for _ in range(10):
            history = reqs.rescale_history(http, self.job_id)
            if history is None:
                return None
            mine = [r for r in history if r.trigger == "UPDATE_REQUIREMENT" and r.start_ms
                    and r.start_ms >= (since - 1.0) * 1000]
            done = [r for r in mine if r.state is not None]
            if done:
                return max(done, key=lambda r: r.start_ms or 0).seconds
            if not mine:
                return None
            self.sleep(POLL_S)
        return None

    # -- the journal ---------------------------------------------------------------------------

    def record_step(self, out: Outcome, step: journal.Step, body: dict[str, Any]) -> None:
        entry = {"t": self.clock(), "step": step.value, "user": self.user, "url": self.url,
                 "job_id": out.before.diagnosis.job_id,
                 "job_name": out.before.diagnosis.job_name, **body}
        out.entries.append({"schema": journal.SCHEMA, **entry})
        if self.journal_to:
            journal.append(self.journal_to, entry)
        if self.record_to:
            rec = Recorder(self.record_to, self.url)
            try:
                rec.journal(entry["t"], json.dumps({"schema": journal.SCHEMA, **entry},
                                                   allow_nan=False))
            finally:
                rec.close()

    # -- the whole loop ------------------------------------------------------------------------

    def run(self, out: Outcome, *, verify_s: float, rollback_if_ineffective: bool,
            threshold: float = EFFECTIVE_SHARE, timeout_s: float = RESCALE_TIMEOUT_S) -> None:
        """Apply `out.plan`, verify it, and roll it back when it was ineffective and asked."""
        p, before = out.plan, out.before
        names = {v.vertex_id: v.name for v in p.vertices}
        old = before.requirements.bounds
        bounds, rescaled, began = self.apply(p, before, timeout_s)
        out.applied, out.rescale = True, rescaled
        self.record_step(out, journal.Step.APPLY, {
            "requirements_before": tunejson.bounds_dict(old),
            "requirements_after": tunejson.bounds_dict(bounds),
            "parallelism_before": {v.name: v.old for v in p.vertices},
            "parallelism_after": {v.name: v.new for v in p.vertices},
            "plan": tunejson.plan_dict(p),
            "evidence_before": tunejson.evidence(before.diagnosis),
            "rescaled": rescaled.done, "rescale_s": rescaled.seconds,
            "scheduler_rescale_s": rescaled.scheduler_s,
        })
        if rescaled.done:
            self.sleep(SETTLE_S)
            out.after = self.observe(verify_s, "after", VERIFY_MIN_WINDOW_S)
            out.verification = verify(p, before.diagnosis, out.after.diagnosis, threshold)
        out.apply_to_verdict_s = self.monotonic() - began
        v = out.verification
        self.record_step(out, journal.Step.VERIFY, {
            "of": journal.Step.APPLY.value,
            "parallelism_after": {names.get(t.vertex_id, t.name): t.parallelism
                                  for t in out.after.diagnosis.tasks} if out.after else {},
            "evidence_after": tunejson.evidence(out.after.diagnosis) if out.after else None,
            "effect": v.effect.value if v else Effect.UNVERIFIED.value,
            "verification": tunejson.verification_dict(v) if v else None,
            "apply_to_verdict_s": out.apply_to_verdict_s,
        })
        failed = v is None or v.effect in (Effect.INEFFECTIVE, Effect.UNVERIFIED)
        if rollback_if_ineffective and failed:
            self.rollback(out, old, bounds, verify_s, timeout_s)

    def rollback(self, out: Outcome, old: dict[str, reqs.Bounds],
                 written: dict[str, reqs.Bounds], verify_s: float, timeout_s: float) -> None:
        """Restore the requirements from before the change, and look again."""
        began, wall = self.monotonic(), self.clock()
        self._put(old)
        rescaled = self.wait_rescale({vid: b.upper for vid, b in old.items()}, began, wall,
                                     timeout_s)
        out.rolled_back, out.rollback_rescale = True, rescaled
        p = out.plan
        self.record_step(out, journal.Step.ROLLBACK, {
            "requirements_before": tunejson.bounds_dict(written),
            "requirements_after": tunejson.bounds_dict(old),
            "parallelism_before": {v.name: v.new for v in p.vertices},
            "parallelism_after": {v.name: v.old for v in p.vertices},
            "rescaled": rescaled.done, "rescale_s": rescaled.seconds,
            "scheduler_rescale_s": rescaled.scheduler_s,
        })
        if not rescaled.done:
            return
        self.sleep(SETTLE_S)
        out.rollback_after = self.observe(verify_s, "rollback", VERIFY_MIN_WINDOW_S)
        diff = compare(out.before.diagnosis, out.rollback_after.diagnosis)
        self.record_step(out, journal.Step.VERIFY, {
            "of": journal.Step.ROLLBACK.value,
            "parallelism_after": {t.name: t.parallelism
                                  for t in out.rollback_after.diagnosis.tasks},
            "evidence_after": tunejson.evidence(out.rollback_after.diagnosis),
            "effect": "restored" if all(t.parallelism[0] == t.parallelism[1]
                                        for t in diff.tasks) else "not-restored",
            "diff": diff_dict(diff),
        })


def observation_from_recording(path: str | Path, job: str | None = None,
                               window_s: float = 60.0, target_rate: float | None = None
                               ) -> Observation:
    """An observation replayed from a recording (`tune --from`): its newest window (after its
    newest rescale or restart), and the
    requirements and slots as recorded, where the recording holds them (it does when `tune`
    recorded it), else the default scheduler's and unknown."""
    from flowscope.analysis.engine import diagnose
    from flowscope.recording import RecordedTransport
    from flowscope.sampling import ReplaySession

    replay = ReplaySession(path, job)
    try:
        pairs = list(replay.samples())
        transport = RecordedTransport(replay.recording)
        transport.poll_id = replay.polls[-1].id
        http = RestClient(replay.source.url, transport=transport, attempts=1)
        try:
            requirements = reqs.requirements(http, replay.job_id)
        except FlowscopeError:
            requirements = reqs.Requirements(reqs.Scheduler.DEFAULT, {})
        try:
            slots = reqs.slots(http)
        except FlowscopeError:
            slots = None
    finally:
        replay.close()
    graph = pairs[-1][0]
    samples = [s for _, s in pairs]
    cuts = change_points([g for g, _ in pairs], samples)
    samples = samples[cuts[-1]:] if cuts else samples  # after the newest rescale or restart
    d = diagnose(graph, samples, window_s=window_s, target_rate=target_rate)
    facts = facts_of(samples, window_s, slots.free if slots else None,
                     slots.total if slots else None)
    return Observation(graph, samples, d, facts, requirements, slots)
