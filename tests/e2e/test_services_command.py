"""`python server.py services`: shared embedded stores for several processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from pymongo import MongoClient

from tests.e2e.redis_cluster import cluster_client
from tests.e2e.server_process import PROJECT_ROOT
from tests.e2e.services_process import running_services

# A second process that writes to both stores, then reads what the first process wrote.
PEER_SCRIPT = """
import sys
import redis
from pymongo import MongoClient
mongodb_url, redis_url, name, token = sys.argv[1:5]
mongo = MongoClient(mongodb_url)
cache = redis.Redis.from_url(redis_url)
mongo.taskql_test[name].insert_one({"_id": "from-peer", "token": token})
cache.set(f"{name}:from-peer", token)
seen = mongo.taskql_test[name].find_one({"_id": "from-test"})
print(seen["token"] if seen else "missing", cache.get(f"{name}:from-test").decode())
"""


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, str]]]:
    with running_services(tmp_path) as running:
        yield running


def test_prints_both_urls(services: tuple[subprocess.Popen[bytes], dict[str, str]]) -> None:
    _, urls = services
    assert urls["MONGODB_URL"].startswith("mongodb://127.0.0.1:")
    assert urls["REDIS_URL"].startswith("redis://127.0.0.1:")


def test_two_processes_see_each_others_writes_at_once(
    services: tuple[subprocess.Popen[bytes], dict[str, str]],
) -> None:
    _, urls = services
    name = f"shared_{uuid.uuid4().hex}"
    token = uuid.uuid4().hex
    mongo = MongoClient(urls["MONGODB_URL"])
    cache = redis.Redis.from_url(urls["REDIS_URL"])
    try:
        mongo.taskql_test[name].insert_one({"_id": "from-test", "token": token})
        cache.set(f"{name}:from-test", token)
        peer = subprocess.run(
            [
                sys.executable,
                "-c",
                PEER_SCRIPT,
                urls["MONGODB_URL"],
                urls["REDIS_URL"],
                name,
                token,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert peer.stdout.split() == [token, token]
        assert mongo.taskql_test[name].find_one({"_id": "from-peer"}) == {
            "_id": "from-peer",
            "token": token,
        }
        assert cache.get(f"{name}:from-peer") == token.encode()
    finally:
        mongo.drop_database("taskql_test")
        cache.delete(f"{name}:from-test", f"{name}:from-peer")
        mongo.close()
        cache.close()


def test_embedded_redis_is_a_real_server(
    services: tuple[subprocess.Popen[bytes], dict[str, str]],
) -> None:
    _, urls = services
    cache = redis.Redis.from_url(urls["REDIS_URL"])
    try:
        info = cache.info("server")
        assert int(str(info["redis_version"]).split(".")[0]) >= 6
        assert info["process_id"] != os.getpid()
    finally:
        cache.close()


def test_sigterm_stops_every_embedded_store(
    services: tuple[subprocess.Popen[bytes], dict[str, str]],
) -> None:
    process, _ = services
    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) == 2
    process.terminate()
    assert process.wait(timeout=15) == 0
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []


def test_redis_cluster_option_serves_a_cluster_and_sigterm_stops_it(tmp_path: Path) -> None:
    with running_services(tmp_path, "--redis-cluster") as (process, urls):
        assert urls["MONGODB_URL"].startswith("mongodb://127.0.0.1:")
        assert urls["REDIS_URL"].startswith("redis+cluster://127.0.0.1:")
        assert len(urls["REDIS_URL"].split(",")) == 3
        with cluster_client(urls["REDIS_URL"]) as client:
            keys = [f"services-cluster:{index}" for index in range(30)]
            for key in keys:
                client.set(key, key)
            assert client.mget_nonatomic(keys) == keys
            assert len({client.get_node_from_key(key).port for key in keys}) == 3
            assert len(client.get_primaries()) == 3
            assert len(client.get_replicas()) == 3
        children = psutil.Process(process.pid).children(recursive=True)
        redis_servers = [child for child in children if "redis-server" in child.name()]
        assert len(redis_servers) == 6
        process.terminate()
        assert process.wait(timeout=15) == 0
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == []


def test_redis_cluster_option_refuses_a_configured_redis_url() -> None:
    done = subprocess.run(
        [sys.executable, "server.py", "services", "--redis-cluster"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "server.py services --redis-cluster starts its own Redis Cluster: unset REDIS_URL"
    ]
