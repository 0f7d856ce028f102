"""The caller's query-cost budget as the `rateLimit` field reports it."""

from __future__ import annotations

from datetime import datetime, timedelta

import strawberry

from cost.budget import Charge


@strawberry.type(
    description="The caller's query-cost budget, after the current operation is charged."
)
class RateLimit:
    limit: int = strawberry.field(description="Bucket capacity in cost points.")
    remaining: int = strawberry.field(description="Points left now.")
    cost: int = strawberry.field(description="The requested cost of the operation that asked.")
    restore_rate: float = strawberry.field(description="Points restored per second.")
    reset_at: datetime = strawberry.field(description="When the bucket will be full again.")

    @classmethod
    def from_charge(cls, charge: Charge) -> RateLimit:
        return cls(
            limit=int(charge.tier.capacity),
            remaining=charge.state.remaining,
            cost=charge.requested,
            restore_rate=charge.tier.restore_rate,
            reset_at=charge.at + timedelta(seconds=charge.state.full_after),
        )
