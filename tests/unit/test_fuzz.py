"""Fuzzing flowscope's two readers of outside data (tests/faults/fuzz.py): 0 crashes in 1,100
cases. A crash is any exception but flowscope's own FlowscopeError subclasses.

  - real REST bodies, structurally mutated (keys dropped, nulls, wrong types and containers,
    strings, negative, huge and NaN numbers), through the collector, the diagnosis and its
    JSON rendering;
  - damaged copies of a real recording (flipped bits, at random and inside the stored request
    paths and job ids that a replay puts back into requests; overwritten or zeroed pages,
    truncation, a copy taken mid-write with or without its -wal) through load_recording and
    the diagnosis.

Each test runs every case and then reports every crash site at once (one example each),
rather than stopping at the first: a fix is judged on the whole list. Derandomized, so CI
runs the same cases every time.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.faults import fuzz, mutate
from tests.faults.fuzz import Crash, RecordingCase, RestCase
from tests.faults.mutate import Mutation

REST_CASES = 700
RECORDING_CASES = 400
FUZZ = settings(derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

mutations = st.builds(Mutation, op=st.sampled_from(mutate.OPS),
                      site=st.integers(0, 2**20), variant=st.integers(0, 2**8))
rest_cases = st.builds(
    RestCase,
    fixture=st.sampled_from(fuzz.REST_FIXTURES),
    start=st.integers(0, 10**6),
    at=st.integers(0, fuzz.POLLS - 1),
    target=st.integers(0, 10**6),
    mutations=st.lists(mutations, min_size=1, max_size=4).map(tuple),
    persist=st.booleans(),
)
recording_cases = st.builds(
    RecordingCase,
    how=st.sampled_from(mutate.FILE_DAMAGE),
    seed=st.integers(0, 2**32 - 1),
    checkpointed=st.integers(0, fuzz.RECORDING_POLLS),
)


def test_mutated_rest_bodies_never_crash_the_collector() -> None:
    crashes: list[Crash] = []
    cases: list[RestCase] = []

    @settings(FUZZ, max_examples=REST_CASES)
    @given(case=rest_cases)
    def run(case: RestCase) -> None:
        cases.append(case)
        crash = fuzz.run_rest_case(case)
        if crash:
            crashes.append(crash)

    run()
    assert len(cases) >= REST_CASES
    assert not crashes, fuzz.summary(crashes, len(cases))


def test_damaged_recordings_never_crash_the_reader(tmp_path_factory: pytest.TempPathFactory
                                                   ) -> None:
    workdir = tmp_path_factory.mktemp("damaged")
    crashes: list[Crash] = []
    cases: list[RecordingCase] = []

    @settings(FUZZ, max_examples=RECORDING_CASES)
    @given(case=recording_cases)
    def run(case: RecordingCase) -> None:
        cases.append(case)
        crash = fuzz.run_recording_case(case, workdir)
        if crash:
            crashes.append(crash)

    run()
    assert len(cases) >= RECORDING_CASES
    assert not crashes, fuzz.summary(crashes, len(cases))
