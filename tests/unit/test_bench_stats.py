"""bench/stats.py: medians with their spread, percentiles, and ratios taken within a repeat."""

from __future__ import annotations

import pytest

from bench.stats import percentile, ratio_text, ratios_by_repeat, spread


def test_spread_is_the_median_with_the_extremes() -> None:
    found = spread([3.0, 1.0, 2.0])
    assert found is not None
    assert (found.median, found.low, found.high, found.count) == (2.0, 1.0, 3.0, 3)
    assert found.text() == "2 (1-3)"
    assert spread([]) is None


def test_a_single_value_has_no_range() -> None:
    found = spread([1234.5])
    assert found is not None
    assert found.text(digits=1) == "1,234.5"


def test_ratios_pair_the_same_repeat_only() -> None:
    ours = {1: 100.0, 2: 120.0, 3: 90.0}
    theirs = {1: 50.0, 3: 0.0, 4: 10.0}
    assert ratios_by_repeat(ours, theirs) == [pytest.approx(2.0)]


def test_ratio_text_shows_the_median_and_range() -> None:
    assert ratio_text([2.0, 2.5, 3.0]) == "2.50x (2.00-3.00)"
    assert ratio_text([24.0]) == "24.0x"
    assert ratio_text([]) == "-"


def test_percentile_is_the_nearest_rank() -> None:
    ordered = [float(value) for value in range(1, 101)]
    assert (percentile(ordered, 0.5), percentile(ordered, 0.99), percentile([3.0], 0.99)) == (
        50.0,
        99.0,
        3.0,
    )
    assert percentile([], 0.5) != percentile([], 0.5)  # NaN
