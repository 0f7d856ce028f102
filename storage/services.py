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


@dataclass(frozen=True)
class ServiceUrls:
    mongodb_url: str
    redis_url: str


@contextmanager
def provide_services(settings: Settings) -> Iterator[ServiceUrls]:
    """Yield URLs for MongoDB and Redis, starting embedded servers for the unset ones.

    Embedded servers and their runtime directory belong to this process and end with it.
    """
    with ExitStack() as stack:
        runtime_dir = Path(tempfile.mkdtemp(prefix="taskql-"))
        stack.callback(shutil.rmtree, runtime_dir, ignore_errors=True)
        mongodb_url = settings.mongodb_url
        if mongodb_url is None:
            mongo = start_mongo(runtime_dir, mongod_binary=settings.mongod_binary)
            stack.callback(mongo.close)
            mongodb_url = mongo.url
        redis_url = settings.redis_url
        if redis_url is None:
            redis = start_redis(runtime_dir)
            stack.callback(redis.close)
            redis_url = redis.url
        yield ServiceUrls(mongodb_url=mongodb_url, redis_url=redis_url)
