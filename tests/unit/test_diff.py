"""Two windows compared (flowscope.analysis.diff, `flowscope diff`), on recorded lab runs."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import jsonschema
import pytest

from flowscope.analysis.diff import (
    RATE_NOISE,
    RATIO_NOISE,
    BottleneckChange,
    Pair,
    compare,
    rate_moved,
    ratio_moved,
)
from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Cause, Diagnosis
from flowscope.render.diff import render_diff, to_dict
from flowscope.render.safe import console
from flowscope.sampling import load_recording
from tests.conftest import fixture_path

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schema" / "diff.schema.json").read_text())


@cache
def diagnosis(name: str) -> Diagnosis:
    graph, samples = load_recording(fixture_path(name))
    return diagnose(graph, samples)


def test_the_noise_band_is_what_the_docstring_says():
    assert not ratio_moved(Pair(0.50, 0.50 + RATIO_NOISE))
    assert ratio_moved(Pair(0.50, 0.51 + RATIO_NOISE))
    assert not rate_moved(Pair(1000.0, 1000.0 * (1 + RATE_NOISE) - 1))
    assert rate_moved(Pair(1000.0, 1000.0 * (1 + RATE_NOISE) + 20))
    assert not rate_moved(Pair(1.0, 4.0))  # too few records to compare relatively
    assert not ratio_moved(Pair(None, 0.9)) and not rate_moved(Pair(900.0, None))


def test_a_window_compared_with_itself_is_within_noise():
    d = diagnosis("skew")
    diff = compare(d, d)
    assert diff.within_noise and diff.bottleneck == BottleneckChange.UNCHANGED
    assert not diff.appeared and not diff.gone and not any(t.changed for t in diff.tasks)


def test_a_bottleneck_that_goes_away_is_gone_with_its_cause():
    diff = compare(diagnosis("off-cpu"), diagnosis("healthy"))
    assert diff.bottleneck == BottleneckChange.GONE
    assert (Cause.OFF_CPU, "enrich") in {(c.cause, c.vertex_name) for c in diff.gone}
    enrich = next(t for t in diff.tasks if t.name == "enrich")
    assert enrich.changed and enrich.busy.delta is not None and enrich.busy.delta < -0.5
    assert not diff.within_noise


def test_appeared_and_moved_are_told_apart():
    assert compare(diagnosis("healthy"), diagnosis("skew")).bottleneck == (
        BottleneckChange.APPEARED)
    # Both have a bottleneck, on different vertices: the sink's writer and enrich.
    assert compare(diagnosis("slow-sink"), diagnosis("skew")).bottleneck == (
        BottleneckChange.MOVED)


def test_tasks_are_matched_by_vertex_id_and_the_rest_listed():
    # Chaining parse and enrich keeps parse's vertex id (the chain's head operator's uid):
    # the chained vertex is parse's successor, and enrich exists in A only.
    diff = compare(diagnosis("skew"), diagnosis("chained"))
    assert "parse -> enrich" in {t.name for t in diff.tasks}
    assert diff.only_a == ("enrich",) and diff.only_b == ()


def test_json_keeps_to_its_schema_and_the_terminal_says_the_headline():
    diff = compare(diagnosis("off-cpu"), diagnosis("healthy"))
    doc = to_dict(diff)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert doc["bottleneck"] == "gone" and doc["within_noise"] is False
    out = console(width=160)
    with out.capture() as cap:
        out.print(render_diff(diff))
    assert "bottleneck gone (was enrich)" in cap.get()


def test_diff_cli_exit_codes_say_changed_or_not():
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "flowscope.cli", "diff", *args],
                              capture_output=True, text=True, timeout=120)

    same = run(str(fixture_path("skew")), str(fixture_path("skew")), "--json")
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["within_noise"] is True
    changed = run(str(fixture_path("off-cpu")), str(fixture_path("healthy")))
    assert changed.returncode == 1 and "bottleneck gone" in changed.stdout
    one = run(str(fixture_path("healthy")))
    assert one.returncode == 4 and "no rescale or restart" in one.stderr
    assert run().returncode == 2


@pytest.mark.parametrize("noise", [RATIO_NOISE, RATE_NOISE])
def test_noise_bands_are_fractions(noise):
    assert 0 < noise < 0.5
