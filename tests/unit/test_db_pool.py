"""The pool gauges follow the driver's connection events."""

from __future__ import annotations

from pymongo.monitoring import (
    ConnectionCheckedInEvent,
    ConnectionCheckedOutEvent,
    ConnectionCheckOutFailedEvent,
    ConnectionCheckOutFailedReason,
    ConnectionClosedEvent,
    ConnectionClosedReason,
    ConnectionCreatedEvent,
)

from observability.db_pool import PoolMetrics
from observability.metrics import TaskqlMetrics

ADDRESS = ("127.0.0.1", 27017)


def _value(metrics: TaskqlMetrics, name: str) -> float:
    found = metrics.registry.get_sample_value(name)
    assert found is not None, name
    return found


def test_connections_open_and_in_use_follow_the_pool() -> None:
    metrics = TaskqlMetrics()
    listener = PoolMetrics(metrics)
    for connection_id in (1, 2):
        listener.connection_created(ConnectionCreatedEvent(ADDRESS, connection_id))
    listener.connection_checked_out(ConnectionCheckedOutEvent(ADDRESS, 1, 0.001))
    listener.connection_checked_out(ConnectionCheckedOutEvent(ADDRESS, 2, 0.001))
    assert _value(metrics, "taskql_db_pool_connections_open") == 2
    assert _value(metrics, "taskql_db_pool_connections_in_use") == 2

    listener.connection_checked_in(ConnectionCheckedInEvent(ADDRESS, 1))
    listener.connection_closed(ConnectionClosedEvent(ADDRESS, 1, ConnectionClosedReason.IDLE))
    assert _value(metrics, "taskql_db_pool_connections_open") == 1
    assert _value(metrics, "taskql_db_pool_connections_in_use") == 1


def test_failed_checkouts_are_counted_and_hold_nothing() -> None:
    metrics = TaskqlMetrics()
    listener = PoolMetrics(metrics)
    listener.connection_check_out_failed(
        ConnectionCheckOutFailedEvent(ADDRESS, ConnectionCheckOutFailedReason.TIMEOUT, 0.5)
    )
    assert _value(metrics, "taskql_db_pool_checkout_failures_total") == 1
    assert _value(metrics, "taskql_db_pool_connections_in_use") == 0
