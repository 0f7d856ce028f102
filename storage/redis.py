"""The Redis client (redis-py asyncio): one node (`redis://`, `rediss://`) or a Redis Cluster
(`redis+cluster://host:port[,host:port...]`, `rediss+cluster://` for TLS) discovered from its
seed nodes. Nothing outside `storage/` knows which of the two it talks to.

Redis answers in well under a millisecond, so a call on the request path gets a deadline in
the tens of milliseconds (kept by `RedisGuard`, which then keeps the node off the request
path) and no retry (redis-py's default retries multiplied a 2 s timeout into 4-8 s per
request). The socket timeout here is only the backstop for calls the guard abandoned, and
for the commands off the request path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

RedisClient = Redis | RedisCluster

# The request path's deadline per call (RedisGuard); see TASKQL_REDIS_TIMEOUT_MS.
DEFAULT_TIMEOUT_SECONDS = 0.05
SOCKET_TIMEOUT_SECONDS = 1.0
# Connections per process (per node on a cluster): a burst of requests waits for one instead
# of opening hundreds at once.
MAX_CONNECTIONS = 64
CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}


@dataclass(frozen=True)
class ClusterTarget:
    """What a `redis+cluster://` URL names: seed nodes, credentials, TLS."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    tls: bool


def parse_cluster_url(url: str) -> ClusterTarget | None:
    """The cluster a `redis+cluster://` URL names; None for a single-node URL."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() not in CLUSTER_SCHEMES:
        return None
    netloc = rest.split("/", 1)[0].split("?", 1)[0]
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    nodes = tuple(_host_port(part) for part in hosts.split(",") if part.strip())
    if not nodes:
        raise ValueError("a redis+cluster:// URL names at least one host:port")
    return ClusterTarget(nodes, username, password, CLUSTER_SCHEMES[scheme.lower()])


def _host_port(part: str) -> tuple[str, int]:
    host, colon, port = part.strip().rpartition(":")
    if not colon or not port.isdigit():
        return part.strip().strip("[]"), 6379
    return host.strip("[]"), int(port)


def create_redis_client(url: str, *, timeout: float = SOCKET_TIMEOUT_SECONDS) -> RedisClient:
    common: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 30,
    }
    cluster = parse_cluster_url(url)
    if cluster is not None:
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in cluster.nodes],
            username=cluster.username,
            password=cluster.password,
            ssl=cluster.tls,
            max_connections=MAX_CONNECTIONS,
            # While a failed master's slots wait for their replica, the rest keeps working.
            require_full_coverage=False,
            **common,
        )
    pool = BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=timeout, **common
    )
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes it too
