"""Small numeric helpers shared by the analysis: folds that skip unknown values. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable


def _known(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def finite_mean(values: Iterable[float | None]) -> float | None:
    """The mean of the finite values, None when there is none."""
    vals = _known(values)
    return sum(vals) / len(vals) if vals else None


def finite_sum(values: Iterable[float | None]) -> float | None:
    """The sum of the finite values, None when there is none."""
    vals = _known(values)
    return sum(vals) if vals else None


def finite_max(values: Iterable[float | None]) -> float | None:
    """The largest finite value, None when there is none."""
    vals = _known(values)
    return max(vals) if vals else None


def pct(x: float | None) -> str:
    """A ratio 0..1 as a whole percentage ("n/a" when unknown)."""
    return "n/a" if x is None else f"{100 * x:.0f}%"


def rounded(v: float | None, nd: int = 3) -> float | str:
    """An evidence value: rounded, or "n/a" when unknown."""
    return "n/a" if v is None else round(v, nd)
