"""A confident verdict holds: replaying every recorded run poll by poll, from the job's
start, no verdict given with confidence "high" is later contradicted (another bottleneck,
another cause, another verdict) in the same run."""

from __future__ import annotations

import pytest

from flowscope.analysis.engine import diagnose
from flowscope.analysis.findings import Confidence, Diagnosis
from flowscope.sampling import load_recording
from tests.conftest import FIXTURES


def signature(d: Diagnosis) -> tuple[str, tuple[tuple[str, str], ...]]:
    return str(d.verdict), tuple(sorted((f.vertex_name or "", str(f.cause))
                                        for f in d.bottlenecks))


@pytest.mark.parametrize("path", [
    pytest.param(p, id=p.stem)
    for p in sorted(FIXTURES.glob("*.fsrec"))])
def test_a_confident_verdict_is_never_contradicted(path):
    graph, samples = load_recording(path)
    confident: list[tuple[int, float, tuple[str, tuple[tuple[str, str], ...]]]] = []
    for n in range(1, len(samples) + 1):
        d = diagnose(graph, samples[:n])
        if d.confidence == Confidence.HIGH and (not confident
                                                or confident[-1][2] != signature(d)):
            confident.append((n, round(d.uptime_s or 0.0), signature(d)))
    assert confident, "the run never reached a confident verdict"
    assert len(confident) == 1, f"confident verdicts changed: {confident}"
