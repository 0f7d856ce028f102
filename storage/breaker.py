"""A circuit breaker for Redis: once it fails, requests skip it for a cool-down instead
of each waiting for a timeout, then one probe decides whether it is back."""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(
        self, *, cool_down: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.cool_down = cool_down
        self.clock = clock
        self._open_until: float | None = None
        self._saw_outage = False

    @property
    def is_open(self) -> bool:
        return self._open_until is not None and self.clock() < self._open_until

    @property
    def saw_outage(self) -> bool:
        """Redis failed since the last success: recovery work is due before trusting it."""
        return self._saw_outage

    def allows(self) -> bool:
        """Whether to try Redis now: always while closed, once per cool-down while open."""
        if self._open_until is None:
            return True
        if self.clock() < self._open_until:
            return False
        # Half-open: let this call probe, and hold the others off for another cool-down.
        self._open_until = self.clock() + self.cool_down
        return True

    def failed(self) -> None:
        self._open_until = self.clock() + self.cool_down
        self._saw_outage = True

    def succeeded(self) -> bool:
        """Close the breaker; True when this success ends an outage (recovery work is due)."""
        recovered = self._saw_outage
        self._open_until = None
        self._saw_outage = False
        return recovered
