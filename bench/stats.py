"""The benches' arithmetic: medians with their spread, percentiles, ratios within a repeat. Pure."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """The median of some repeats, and the lowest and highest of them."""

    median: float
    low: float
    high: float
    count: int

    def text(self, *, digits: int = 0, unit: str = "") -> str:
        """`1,234 (1,100-1,300)`; just the value when there is one repeat."""
        value = f"{self.median:,.{digits}f}{unit}"
        if self.count < 2:
            return value
        return f"{value} ({self.low:,.{digits}f}-{self.high:,.{digits}f})"


def spread(values: Iterable[float]) -> Spread | None:
    """None when there is no value."""
    found = list(values)
    if not found:
        return None
    return Spread(statistics.median(found), min(found), max(found), len(found))


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values (NaN without any)."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def ratios_by_repeat(
    numerators: Mapping[int, float], denominators: Mapping[int, float]
) -> list[float]:
    """numerator / denominator for every repeat that has both (and a denominator above 0).

    Candidates of one repeat run minutes apart at most; across repeats the machine drifts,
    so a ratio is taken within a repeat before any median."""
    return [
        numerators[repeat] / denominators[repeat]
        for repeat in sorted(numerators.keys() & denominators.keys())
        if denominators[repeat] > 0
    ]


def ratio_text(values: list[float]) -> str:
    """`2.41x (2.2-2.9)`; `-` without any ratio."""
    found = spread(values)
    if found is None:
        return "-"
    digits = 2 if found.median < 10 else 1
    if found.count < 2:
        return f"{found.median:.{digits}f}x"
    return f"{found.median:.{digits}f}x ({found.low:.{digits}f}-{found.high:.{digits}f})"
