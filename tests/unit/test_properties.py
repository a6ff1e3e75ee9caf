"""Properties of the diagnosis, checked on real recordings transformed in ways that must not
change the verdict."""

from __future__ import annotations

import copy
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from flowscope.analysis.engine import diagnose
from flowscope.api import load_recording
from flowscope.model import Quantity
from tests.conftest import fixture_path

SCALED = (Quantity.RECORDS_IN, Quantity.RECORDS_OUT, Quantity.BYTES_IN, Quantity.BYTES_OUT,
          Quantity.BUFFERS_OUT, Quantity.BUFFERS_IN_LOCAL, Quantity.BUFFERS_IN_REMOTE,
          Quantity.BYTES_IN_LOCAL, Quantity.BYTES_IN_REMOTE, Quantity.RECORDS_IN_PER_S,
          Quantity.RECORDS_OUT_PER_S)
NAMES = ["skew", "off-cpu", "slow-subtask", "slow-sink", "healthy", "join"]
LOADED = {name: load_recording(fixture_path(name)) for name in NAMES}


def located(d):
    return [(f.vertex_name, f.cause) for f in d.bottlenecks]


def scaled(samples, k):
    out = copy.deepcopy(samples)
    for s in out:
        for subs in s.subtasks.values():
            for st_ in subs:
                for q in SCALED:
                    if q.value in st_.values:
                        st_.values[q.value] *= k
                for counters in st_.operators.values():
                    for key in counters:
                        counters[key] *= k
    return out


@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(NAMES), k=st.floats(min_value=0.01, max_value=1000))
def test_scaling_every_rate_keeps_the_bottleneck(name, k):
    graph, samples = LOADED[name]
    base = diagnose(graph, samples)
    d = diagnose(graph, scaled(samples, k))
    assert located(d) == located(base)
    assert d.verdict == base.verdict


@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(NAMES), seed=st.integers(0, 2**16))
def test_repeated_polls_of_one_snapshot_change_nothing(name, seed):
    """Polling faster than the JobManager refreshes repeats snapshots: no effect."""
    graph, samples = LOADED[name]
    rng = random.Random(seed)
    doubled = []
    for s in samples:
        doubled.append(s)
        if rng.random() < 0.5:
            twin = copy.deepcopy(s)
            twin.t += 0.4
            doubled.append(twin)
    base, d = diagnose(graph, samples), diagnose(graph, doubled)
    assert located(d) == located(base)
    assert d.verdict == base.verdict


@settings(max_examples=8, deadline=None)
@given(name=st.sampled_from(NAMES), seed=st.integers(0, 2**16))
def test_subtask_order_does_not_matter(name, seed):
    graph, samples = LOADED[name]
    rng = random.Random(seed)
    shuffled = copy.deepcopy(samples)
    for s in shuffled:
        for subs in s.subtasks.values():
            rng.shuffle(subs)
    assert located(diagnose(graph, shuffled)) == located(diagnose(graph, samples))
