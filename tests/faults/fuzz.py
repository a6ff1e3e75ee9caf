"""Fuzz cases, and what counts as a crash.

    RestCase       real REST bodies of a recording, some mutated (mutate.Mutation), fed through
                   the collector (FlinkRestSource, over an httpx.MockTransport) poll by poll,
                   each poll's samples through the diagnosis and its JSON rendering
    RecordingCase  a copy of a real recording, damaged (mutate.FILE_DAMAGE), read back with
                   flowscope.api.load_recording and diagnosed

A crash is any exception but flowscope's own (FlowscopeError and its subclasses): those are
the one-line errors the commands report; anything else is a traceback. A case is described by
plain numbers, so Hypothesis can generate and shrink it and a seeded random.Random can too.
"""

from __future__ import annotations

import functools
import json
import random
import shutil
import tempfile
import traceback
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from flowscope.errors import FlowscopeError
from tests.faults import mutate
from tests.faults.mutate import Mutation
from tests.faults.replay import Replay
from tests.faults.server import fixture_file

# Recordings whose bodies are mutated: several job shapes (a join, a chain, NaN busy time), a
# restart loop (the exception history, failed checkpoints' details) and RocksDB state metrics.
REST_FIXTURES = ("compute-bound", "skew", "join", "sql-nan", "chained", "restart-loop",
                 "state-access")
# Polls replayed per case: the mutated one among clean ones, so deltas and the graph cache see
# it from both sides.
POLLS = 3
# The recording damaged in recording cases, cut to its first polls so each case reads fast
# (still every table, every kind of body, metric values from the sixth poll on).
RECORDING_FIXTURE = "compute-bound"
RECORDING_POLLS = 12


@dataclass(frozen=True)
class Crash:
    error: str  # "KeyError: 'id'"
    site: str  # the innermost frame in flowscope: "flowscope/flink/rest.py:123 in graph"
    case: str  # what was done to the input


def crash_of(exc: BaseException, case: str) -> Crash | None:
    """None for flowscope's own errors; otherwise where it crashed."""
    if isinstance(exc, FlowscopeError):
        return None
    site = "(outside flowscope)"
    for frame in traceback.extract_tb(exc.__traceback__):
        marker = frame.filename.replace("\\", "/").rfind("/flowscope/")
        if marker >= 0:
            site = f"{frame.filename[marker + 1:]}:{frame.lineno} in {frame.name}"
    message = str(exc).splitlines()[0][:80] if str(exc) else ""
    return Crash(f"{type(exc).__name__}: {message}", site, case)


def summary(crashes: Iterable[Crash], cases: int) -> str:
    """'12 crashes in 600 cases at 3 sites:' then one line per site, most frequent first."""
    crashes = list(crashes)
    by_site = Counter(c.site for c in crashes)
    lines = [f"{len(crashes)} crash(es) in {cases} cases at {len(by_site)} site(s)"]
    for site, n in by_site.most_common():
        example = next(c for c in crashes if c.site == site)
        lines.append(f"  {n:4d}  {site}  {example.error}  (e.g. {example.case})")
    return "\n".join(lines)


# ---- mutated REST bodies through the collector ----------------------------------------------

@dataclass(frozen=True)
class RestCase:
    fixture: str
    start: int  # first poll replayed, modulo the polls there are
    at: int  # which of the POLLS polls answers with the mutated body
    target: int  # which path of that poll is mutated, modulo the paths it asks
    mutations: tuple[Mutation, ...]
    persist: bool = False  # the path stays mutated in the later polls too


@functools.cache
def _replay(fixture: str) -> Replay:
    replay = Replay(fixture_file(fixture), advance="manual")
    # The job starts when it was recorded: timestamps in bodies stay as they are, and the
    # collector's clock reads the recorded poll times.
    replay.jobs[0].epoch = replay.polls[0].t
    return replay


def _targets(replay: Replay, index: int, fresh: bool) -> list[str]:
    """The paths asked at poll `index` in the recording; a fresh collector also asks the paths
    read once per job (overview, plan, metric lists) that were recorded by then."""
    poll_id = replay.polls[index].id
    out = []
    for path in replay.store.paths():
        found = replay.store.at(path, poll_id)
        if found is not None and (found[0] == poll_id or (fresh and found[0] <= poll_id)):
            out.append(path)
    return sorted(out)


def describe_rest(case: RestCase, path: str, done: list[str]) -> str:
    short = path.split("?")[0][-60:]
    return (f"{case.fixture} poll {case.at + 1}/{POLLS} {short}: " + "; ".join(done)
            + (" (every poll)" if case.persist else ""))


def run_rest_case(case: RestCase) -> Crash | None:
    from flowscope.analysis.engine import diagnose
    from flowscope.flink.rest import FlinkRestSource
    from flowscope.render import jsonout

    replay = _replay(case.fixture)
    first = case.start % (len(replay.polls) - POLLS + 1)
    mutated_index = first + case.at
    targets = _targets(replay, mutated_index, fresh=case.at == 0)
    target = targets[case.target % len(targets)]
    described = [""]
    state = {"index": first}
    mutated: dict[bytes, bytes] = {}

    def handle(request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode("ascii")
        answer = replay.answer(raw)
        body = answer.body
        index = state["index"]
        hit = index == mutated_index or (case.persist and index > mutated_index)
        if raw == target and hit and answer.status == 200:
            if body not in mutated:  # the same body again (a later poll): the same result
                doc, done = mutate.apply_all(json.loads(body), case.mutations)
                described[0] = describe_rest(case, raw, done)
                mutated[body] = mutate.dumps(doc)
            body = mutated[body]
        return httpx.Response(answer.status, content=body,
                              headers={"content-type": answer.content_type})

    now = [replay.seek(first).t]
    source = FlinkRestSource("http://flink.invalid", transport=httpx.MockTransport(handle),
                             clock=lambda: now[0], timeout_s=2.0)
    try:
        job = source.select_job(replay.recorded_id)
        samples = []
        for i in range(first, first + POLLS):
            state["index"] = i
            now[0] = replay.seek(i).t
            graph, sample = source.poll(job.id)
            samples.append(sample)
            jsonout.render(diagnose(graph, samples))
    except Exception as exc:
        return crash_of(exc, described[0] or describe_rest(case, target, ["(not reached)"]))
    finally:
        source.close()
    return None


def random_rest_case(rng: random.Random) -> RestCase:
    return RestCase(
        fixture=rng.choice(REST_FIXTURES),
        start=rng.randrange(10**6),
        at=rng.randrange(POLLS),
        target=rng.randrange(10**6),
        mutations=tuple(mutate.random_mutations(mutate.OPS, rng, rng.randint(1, 4))),
        persist=rng.random() < 0.3,
    )


# ---- damaged recordings through the reader --------------------------------------------------

@dataclass(frozen=True)
class RecordingCase:
    how: str  # one of mutate.FILE_DAMAGE
    seed: int
    checkpointed: int = 0  # wal_* kinds: polls already in the main file when it was copied


@functools.cache
def _base_recording() -> Path:
    workdir = Path(tempfile.mkdtemp(prefix="flowscope-fuzz-base-"))
    base = workdir / f"{RECORDING_FIXTURE}-{RECORDING_POLLS}.fsrec"
    mutate.trimmed_copy(fixture_file(RECORDING_FIXTURE), base, RECORDING_POLLS)
    return base


def run_recording_case(case: RecordingCase, workdir: Path) -> Crash | None:
    from flowscope.analysis.engine import diagnose
    from flowscope.api import load_recording

    for leftover in workdir.glob("case.fsrec*"):
        leftover.unlink()
    path = workdir / "case.fsrec"
    base = _base_recording()
    if case.how.startswith("wal_"):
        mutate.copy_mid_write(base, path, checkpointed=case.checkpointed % (RECORDING_POLLS + 1),
                              with_wal=case.how != "wal_missing")
    else:
        shutil.copyfile(base, path)
    what = mutate.damage(path, case.how, random.Random(case.seed))
    if case.how.startswith("wal_"):
        what += f" ({case.checkpointed % (RECORDING_POLLS + 1)} polls checkpointed)"
    try:
        graph, samples = load_recording(path)
        diagnose(graph, samples)
    except Exception as exc:
        return crash_of(exc, what)
    return None


def random_recording_case(rng: random.Random) -> RecordingCase:
    return RecordingCase(rng.choice(mutate.FILE_DAMAGE), rng.randrange(2**32),
                         rng.randrange(RECORDING_POLLS + 1))
