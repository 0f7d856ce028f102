"""MongoDB connection pool monitoring: connections open and in use, from the driver's pool events.

A pool near its `maxPoolSize` makes operations queue for a connection before any command is
sent; command latency alone would not show it.
"""

from __future__ import annotations

from pymongo.monitoring import (
    ConnectionCheckedInEvent,
    ConnectionCheckedOutEvent,
    ConnectionCheckOutFailedEvent,
    ConnectionCheckOutStartedEvent,
    ConnectionClosedEvent,
    ConnectionCreatedEvent,
    ConnectionPoolListener,
    ConnectionReadyEvent,
    PoolClearedEvent,
    PoolClosedEvent,
    PoolCreatedEvent,
    PoolReadyEvent,
)

from observability.metrics import TaskqlMetrics


class PoolMetrics(ConnectionPoolListener):
    """Keeps `taskql_db_pool_connections_{open,in_use}` at the pool's state, every server summed."""

    def __init__(self, metrics: TaskqlMetrics) -> None:
        self.metrics = metrics

    def connection_created(self, event: ConnectionCreatedEvent) -> None:
        self.metrics.db_pool_open.inc()

    def connection_closed(self, event: ConnectionClosedEvent) -> None:
        self.metrics.db_pool_open.dec()

    def connection_checked_out(self, event: ConnectionCheckedOutEvent) -> None:
        self.metrics.db_pool_in_use.inc()

    def connection_checked_in(self, event: ConnectionCheckedInEvent) -> None:
        self.metrics.db_pool_in_use.dec()

    def connection_check_out_failed(self, event: ConnectionCheckOutFailedEvent) -> None:
        self.metrics.db_pool_checkout_failures.inc()

    # The remaining events change neither count.
    def connection_ready(self, event: ConnectionReadyEvent) -> None:
        return

    def connection_check_out_started(self, event: ConnectionCheckOutStartedEvent) -> None:
        return

    def pool_created(self, event: PoolCreatedEvent) -> None:
        return

    def pool_ready(self, event: PoolReadyEvent) -> None:
        return

    def pool_cleared(self, event: PoolClearedEvent) -> None:
        return

    def pool_closed(self, event: PoolClosedEvent) -> None:
        return
