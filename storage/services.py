"""Where MongoDB and Redis come from: the configured URLs, or embedded servers started here."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from settings import Settings
from storage.embedded import start_mongo, start_redis
from storage.embedded_cluster import start_redis_cluster


@dataclass(frozen=True)
class ServiceUrls:
    mongodb_url: str
    redis_url: str


@contextmanager
def provide_services(settings: Settings, *, redis_cluster: bool = False) -> Iterator[ServiceUrls]:
    """Yield URLs for MongoDB and Redis, starting embedded servers for the unset ones; with
    `redis_cluster`, a Redis Cluster (3 masters, 3 replicas) instead of one redis-server.

    Embedded servers and their runtime directory belong to this process and end with it; the
    embedded MongoDB's files stay in `settings.data_dir` (TASKQL_DATA_DIR) when it is set.
    """
    if redis_cluster and settings.redis_url is not None:
        raise ValueError("redis_cluster starts a Redis Cluster of its own, but REDIS_URL is set")
    with ExitStack() as stack:
        runtime_dir = Path(tempfile.mkdtemp(prefix="taskql-"))
        stack.callback(shutil.rmtree, runtime_dir, ignore_errors=True)
        mongodb_url = settings.mongodb_url
        if mongodb_url is None:
            mongo = start_mongo(
                runtime_dir, mongod_binary=settings.mongod_binary, data_dir=settings.data_dir
            )
            stack.callback(mongo.close)
            mongodb_url = mongo.url
        redis_url = settings.redis_url
        if redis_url is None and redis_cluster:
            cluster = start_redis_cluster(runtime_dir)
            stack.callback(cluster.close)
            redis_url = cluster.url
        elif redis_url is None:
            redis = start_redis(runtime_dir)
            stack.callback(redis.close)
            redis_url = redis.url
        yield ServiceUrls(mongodb_url=mongodb_url, redis_url=redis_url)
