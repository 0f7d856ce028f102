"""The pure GCRA rule charges, refuses, restores, refunds and peeks as its docstring says."""

from __future__ import annotations

import pytest

from cost.gcra import BucketState, Mode, decide

# Powers of two keep every number below exact in binary floating point.
CAPACITY = 16.0
RATE = 4.0
NOW = 1000.0


def charge(tat: float, points: float, now: float = NOW) -> tuple[BucketState, float]:
    return decide(tat, now=now, mode=Mode.CHARGE, points=points, capacity=CAPACITY, rate=RATE)


def refund(tat: float, points: float, now: float = NOW) -> tuple[BucketState, float]:
    return decide(tat, now=now, mode=Mode.REFUND, points=points, capacity=CAPACITY, rate=RATE)


def peek(tat: float, now: float = NOW) -> tuple[BucketState, float]:
    return decide(tat, now=now, mode=Mode.PEEK, points=0, capacity=CAPACITY, rate=RATE)


def test_a_full_bucket_allows_up_to_capacity_then_refuses() -> None:
    tat = 0.0
    for taken in range(1, 17):
        state, tat = charge(tat, 1)
        assert state == BucketState(
            allowed=True, available=16 - taken, retry_after=0.0, full_after=taken / 4
        )
    assert tat == NOW + 4
    state, after = charge(tat, 1)
    assert state == BucketState(allowed=False, available=0.0, retry_after=0.25, full_after=4.0)
    assert after == tat


def test_one_charge_may_take_the_whole_capacity_but_not_more() -> None:
    state, tat = charge(0.0, CAPACITY)
    assert state.allowed
    assert state.available == 0
    assert tat == NOW + 4
    state, tat = charge(0.0, CAPACITY + 1)
    assert not state.allowed
    assert state.available == CAPACITY
    assert state.retry_after == 0.25
    assert tat == NOW


def test_retry_after_is_the_time_the_missing_points_take() -> None:
    _, tat = charge(0.0, 10)
    state, after = charge(tat, 12)
    assert state == BucketState(allowed=False, available=6.0, retry_after=1.5, full_after=2.5)
    assert after == tat
    later, _ = charge(tat, 12, now=NOW + state.retry_after)
    assert later.allowed
    assert later.available == 0


def test_points_restore_at_the_rate() -> None:
    _, tat = charge(0.0, CAPACITY)
    for elapsed, available in [(0.0, 0.0), (0.25, 1.0), (1.0, 4.0), (2.5, 10.0), (4.0, 16.0)]:
        state, after = peek(tat, now=NOW + elapsed)
        assert state.available == available
        assert state.full_after == 4.0 - elapsed
        assert after == tat


def test_a_bucket_never_fills_beyond_capacity_by_waiting() -> None:
    _, tat = charge(0.0, 2)
    state, after = peek(tat, now=NOW + 3600)
    assert state.available == CAPACITY
    assert state.full_after == 0
    assert after == NOW + 3600


def test_refund_gives_points_back() -> None:
    _, tat = charge(0.0, 12)
    state, tat = refund(tat, 8)
    assert state == BucketState(allowed=True, available=12.0, retry_after=0.0, full_after=1.0)
    assert tat == NOW + 1


@pytest.mark.parametrize(("charged", "refunded"), [(0, 5), (4, 5), (4, 4), (16, 100)])
def test_refund_never_lifts_available_above_capacity(charged: int, refunded: int) -> None:
    _, tat = charge(0.0, charged)
    state, tat = refund(tat, refunded)
    assert state.available == min(CAPACITY, CAPACITY - charged + refunded)
    assert state.available <= CAPACITY
    assert tat >= NOW


def test_refund_of_a_full_bucket_changes_nothing() -> None:
    state, tat = refund(0.0, 50)
    assert state == BucketState(allowed=True, available=CAPACITY, retry_after=0.0, full_after=0.0)
    assert tat == NOW
    state, _ = charge(tat, 17)
    assert not state.allowed


def test_refused_charges_take_nothing() -> None:
    _, tat = charge(0.0, 14)
    for _ in range(5):
        state, after = charge(tat, 3)
        assert not state.allowed
        assert state.available == 2
        assert after == tat
    state, after = charge(tat, 2)
    assert state.allowed
    assert state.available == 0


def test_peek_changes_nothing() -> None:
    _, tat = charge(0.0, 6)
    for _ in range(3):
        state, after = peek(tat)
        assert state == BucketState(allowed=True, available=10.0, retry_after=0.0, full_after=1.5)
        assert after == tat
    empty, after = peek(0.0)
    assert empty.available == CAPACITY
    assert after == NOW


@pytest.mark.parametrize(
    ("available", "remaining"), [(0.0, 0), (0.75, 0), (2.5, 2), (16.0, 16), (-1.0, 0)]
)
def test_remaining_is_whole_points(available: float, remaining: int) -> None:
    state = BucketState(allowed=True, available=available, retry_after=0.0, full_after=0.0)
    assert state.remaining == remaining


def test_fractional_rate_and_points() -> None:
    state, tat = decide(0.0, now=0.0, mode=Mode.CHARGE, points=3, capacity=10, rate=0.5)
    assert state.available == 7
    assert state.full_after == 6
    state, _ = decide(tat, now=0.0, mode=Mode.CHARGE, points=8, capacity=10, rate=0.5)
    assert not state.allowed
    assert state.retry_after == 2


def test_a_bucket_written_under_a_slower_tier_reads_as_empty_not_as_a_debt() -> None:
    # 100 points at 1/s leave the TAT 100 s ahead; the same key read at 10/s (capacity 100,
    # 10 s to fill) is empty now and has 10 points one second later.
    tat = 1_000.0 + 100.0
    state, stored = decide(tat, now=1_000.0, mode=Mode.CHARGE, points=10, capacity=100, rate=10)
    assert not state.allowed
    assert state.available == pytest.approx(0)
    assert stored == pytest.approx(1_010.0)
    state, _ = decide(stored, now=1_001.0, mode=Mode.CHARGE, points=10, capacity=100, rate=10)
    assert state.allowed
