"""Did a change do what its plan predicted? Predicted against measured, from the windows
before and after it. Pure.

As the Kubernetes operator's autoscaler judges "ineffective scaling": the share of the
predicted gain that was measured, `(measured - before) / (predicted - before)`, here on the
records/s the sources emit. Under EFFECTIVE_SHARE the change is ineffective (the operator's
default threshold is 0.1 of the expected increase in true processing rate, and its blocking
is off by default after false positives; at a fixed source rate the whole gain shows at the
sources within a window, so half the gain is a sharper and still safe bar).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from flowscope.analysis.diff import Pair, WindowDiff, compare, rate_moved
from flowscope.analysis.findings import Diagnosis, Verdict
from flowscope.analysis.plan import TunePlan

EFFECTIVE_SHARE = 0.5


class Effect(StrEnum):
    EFFECTIVE = "effective"  # at least EFFECTIVE_SHARE of the predicted gain was measured
    INEFFECTIVE = "ineffective"  # less than that
    UNCHANGED = "unchanged"  # no gain was predicted, and none beyond noise was measured
    UNVERIFIED = "unverified"  # the window after the change could not be judged


@dataclass(frozen=True)
class Verification:
    effect: Effect
    before_per_s: float | None  # records/s out of the sources before the change
    predicted_per_s: float | None
    measured_per_s: float | None  # ... after it
    gain_share: float | None  # measured gain over predicted gain
    diff: WindowDiff

    @property
    def ratio(self) -> float | None:
        """Measured over predicted records/s."""
        if self.measured_per_s is None or not self.predicted_per_s:
            return None
        return self.measured_per_s / self.predicted_per_s


def verify(p: TunePlan, before: Diagnosis, after: Diagnosis,
           threshold: float = EFFECTIVE_SHARE) -> Verification:
    """Judge the change `p` from the diagnoses of the windows before and after it."""
    diff = compare(before, after)
    was, now = diff.throughput.before, diff.throughput.after
    predicted = p.predicted_per_s
    if after.verdict == Verdict.UNKNOWN or now is None or was is None:
        return Verification(Effect.UNVERIFIED, was, predicted, now, None, diff)
    if predicted is None or not rate_moved(Pair(was, predicted)):
        effect = Effect.UNCHANGED if not diff.throughput_moved else (
            Effect.EFFECTIVE if now > was else Effect.INEFFECTIVE)
        return Verification(effect, was, predicted, now, None, diff)
    share = (now - was) / (predicted - was)
    effect = Effect.EFFECTIVE if share >= threshold else Effect.INEFFECTIVE
    return Verification(effect, was, predicted, now, share, diff)
