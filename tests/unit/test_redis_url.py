"""Which Redis a REDIS_URL names: a single node, or a cluster's seed nodes."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from storage.redis import ClusterTarget, create_redis_client, parse_cluster_url


def test_a_plain_url_is_a_single_node() -> None:
    assert parse_cluster_url("redis://127.0.0.1:6379/0") is None
    assert parse_cluster_url("rediss://cache.internal:6380") is None


def test_a_cluster_url_names_its_seed_nodes_credentials_and_tls() -> None:
    assert parse_cluster_url("redis+cluster://a:7000,b:7001,[::1]:7002") == ClusterTarget(
        nodes=(("a", 7000), ("b", 7001), ("::1", 7002)), username=None, password=None, tls=False
    )
    assert parse_cluster_url("rediss+cluster://app:p%40ss@c:7000/0") == ClusterTarget(
        nodes=(("c", 7000),), username="app", password="p@ss", tls=True
    )
    assert parse_cluster_url("redis+cluster://seed") == ClusterTarget(
        nodes=(("seed", 6379),), username=None, password=None, tls=False
    )


def test_a_cluster_url_without_a_node_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one host"):
        parse_cluster_url("redis+cluster:///0")


async def test_the_scheme_chooses_the_client() -> None:
    single = create_redis_client("redis://127.0.0.1:6379/0")
    cluster = create_redis_client("redis+cluster://127.0.0.1:7000,127.0.0.1:7001")
    try:
        assert isinstance(single, Redis)
        assert isinstance(cluster, RedisCluster)
        # No retries: a hung node costs one deadline, not several.
        assert single.get_retry().get_retries() == 0  # type: ignore[union-attr]
        assert cluster.retry.get_retries() == 0
    finally:
        await single.aclose()
        await cluster.aclose()
