"""Session-wide stores: the configured MongoDB/Redis, or embedded ones started once per run.

With MONGODB_URL (and/or REDIS_URL) set, the whole suite runs against those servers instead.
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from storage.embedded import start_mongo, start_redis

# pytest-timeout fails a test at 120 s (pyproject.toml) once; a teardown that then hangs too
# would hold the run until CI's own limit. Past this, every thread's stack is printed and the
# run ends, so a hang costs minutes and shows where it was.
HUNG_TEST_SECONDS = 300
TERMINAL_STDERR = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    # The terminal's stderr, taken while pytest's capture is suspended, for the hang watchdog.
    config.stash[TERMINAL_STDERR] = os.dup(2)
    # Every query the suite sends, in process and to every server it starts, runs on both the
    # compiled path and graphql-core, and any difference fails the operation.
    os.environ.setdefault("TASKQL_COMPILED_EXECUTION", "verify")
    # Every server the suite starts keeps its embedded MongoDB in a throwaway directory, never
    # in the developer's TASKQL_DATA_DIR (a test that needs one sets its own).
    os.environ["TASKQL_DATA_DIR"] = ""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    faulthandler.dump_traceback_later(
        HUNG_TEST_SECONDS, exit=True, file=item.config.stash[TERMINAL_STDERR]
    )
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="session")
def runtime_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="taskql-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def mongodb_url(runtime_dir: Path) -> Iterator[str]:
    configured = os.environ.get("MONGODB_URL")
    if configured:
        yield configured
        return
    server = start_mongo(runtime_dir, mongod_binary=os.environ.get("MONGOD_BINARY"))
    yield server.url
    server.close()


@pytest.fixture(scope="session")
def redis_url(runtime_dir: Path) -> Iterator[str]:
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    server = start_redis(runtime_dir)
    yield server.url
    server.close()
