"""The embedded Redis Cluster: its shape, a cluster client on it, and a replica's promotion."""

from __future__ import annotations

import time
import uuid

import pytest
from redis.crc import REDIS_CLUSTER_HASH_SLOTS

from storage.embedded_cluster import URL_SCHEME, EmbeddedCluster
from tests.e2e.redis_cluster import cluster_client

pytestmark = pytest.mark.e2e


def test_three_masters_each_with_one_replica_serve_every_slot(
    redis_cluster: EmbeddedCluster,
) -> None:
    masters = redis_cluster.masters()
    assert len(masters) == 3
    assert all(len(master.replica_ports) == 1 for master in masters)
    assert sum(len(slots) for master in masters for slots in master.slots) == (
        REDIS_CLUSTER_HASH_SLOTS
    )
    roles = sorted(node.role() for node in redis_cluster.nodes)
    assert roles == ["master"] * 3 + ["replica"] * 3
    seeds = redis_cluster.url.removeprefix(URL_SCHEME).split(",")
    assert sorted(seeds) == sorted(f"{master.host}:{master.port}" for master in masters)


def test_a_cluster_client_writes_and_reads_on_every_master(
    redis_cluster: EmbeddedCluster,
) -> None:
    prefix = f"launcher:{uuid.uuid4().hex}"
    keys_by_master: dict[int, str] = {}
    for index in range(100):
        key = f"{prefix}:{index}"
        keys_by_master.setdefault(redis_cluster.master_of_key(key).port, key)
    assert len(keys_by_master) == 3
    with cluster_client(redis_cluster.url) as client:
        try:
            for port, key in keys_by_master.items():
                assert client.get_node_from_key(key).port == port
                assert client.set(key, port)
            for port, key in keys_by_master.items():
                assert client.get(key) == str(port)
        finally:
            client.delete(*keys_by_master.values())


def test_a_replica_replaces_its_killed_master(
    redis_cluster: EmbeddedCluster, record_property: pytest.RecordProperty
) -> None:
    key = f"{{failover-{uuid.uuid4().hex}}}:value"
    master = redis_cluster.master_of_key(key)
    (replica_port,) = next(
        m for m in redis_cluster.masters() if m.port == master.port
    ).replica_ports
    with master.client() as direct:
        direct.set(key, "before the crash")
        assert direct.execute_command("WAIT", 1, 5000) == 1  # the replica has it
    try:
        started = time.monotonic()
        master.kill()
        redis_cluster.wait_until_healthy(timeout=30)
        promotion = time.monotonic() - started
        print(f"replica promoted and the cluster healthy {promotion:.2f} s after SIGKILL")  # noqa: T201
        record_property("promotion_seconds", round(promotion, 2))
        assert promotion < 15
        promoted = redis_cluster.master_of_key(key)
        assert promoted.port == replica_port
        assert promoted.role() == "master"
        with cluster_client(redis_cluster.url) as client:
            assert client.get(key) == "before the crash"
            assert client.get_node_from_key(key).port == replica_port
            client.delete(key)
    finally:
        # The session's other tests expect every master to have its replica.
        if not master.alive:
            master.restart()
        redis_cluster.wait_until_healthy(timeout=30, replicas=True)
    assert master.role() == "replica"
