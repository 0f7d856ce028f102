"""A real Redis Cluster (3 masters, 3 replicas) shared by the session's e2e tests.

A test that kills a node restarts it before it ends (`ClusterNodeProcess.restart`, then
`wait_until_healthy(replicas=True)`), so the next test finds every master with its replica.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis.cluster import ClusterNode, RedisCluster

from storage.embedded_cluster import URL_SCHEME, EmbeddedCluster, start_redis_cluster


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    cluster = start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield cluster
    finally:
        cluster.close()


def cluster_client(url: str) -> RedisCluster:
    """A redis-py cluster client for a `redis+cluster://h:p,h:p` URL (which from_url rejects)."""
    seeds = url.removeprefix(URL_SCHEME).split(",")
    nodes = [ClusterNode(host, int(port)) for host, _, port in (s.rpartition(":") for s in seeds)]
    return RedisCluster(startup_nodes=nodes, decode_responses=True)
