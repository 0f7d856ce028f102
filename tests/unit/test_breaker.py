"""The cache's circuit breaker, on a hand-driven clock."""

from __future__ import annotations

from storage.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_closed_until_a_failure_then_open_for_the_cool_down() -> None:
    clock = Clock()
    breaker = CircuitBreaker(cool_down=2.0, clock=clock)
    assert breaker.allows()
    assert breaker.succeeded() is False  # no outage to recover from
    breaker.failed()
    assert breaker.is_open
    assert not breaker.allows()
    clock.now += 1.9
    assert not breaker.allows()


def test_one_probe_per_cool_down_while_redis_stays_down() -> None:
    clock = Clock()
    breaker = CircuitBreaker(cool_down=2.0, clock=clock)
    breaker.failed()
    clock.now += 2.0
    assert breaker.allows()  # the probe
    assert not breaker.allows()  # everyone else waits for it
    breaker.failed()
    clock.now += 1.0
    assert not breaker.allows()
    clock.now += 1.0
    assert breaker.allows()


def test_the_success_that_ends_an_outage_says_so_once() -> None:
    clock = Clock()
    breaker = CircuitBreaker(cool_down=2.0, clock=clock)
    breaker.failed()
    clock.now += 2.0
    assert breaker.allows()
    assert breaker.succeeded() is True
    assert not breaker.is_open
    assert breaker.allows()
    assert breaker.succeeded() is False
