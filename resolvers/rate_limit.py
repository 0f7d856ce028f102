"""`rateLimit`: free to ask, and answers from what the QueryCost extension charged."""

from __future__ import annotations

from schema.context import Info
from schema.rate_limit import RateLimit


def rate_limit(info: Info) -> RateLimit:
    charge = info.context.charge
    if charge is None:
        # Every operation is priced before it runs: this is a bug, masked and logged as one.
        raise RuntimeError("rateLimit resolved in an operation that was not priced")
    return RateLimit.from_charge(charge)
