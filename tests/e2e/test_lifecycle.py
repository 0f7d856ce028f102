"""The server as `make run` starts it: embedded stores, health, readiness, and no orphans."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from storage.embedded import start_mongo, start_redis
from storage.ports import is_listening
from tests.e2e.server_process import ServerProcess

EMBEDDED = {"MONGODB_URL": None, "REDIS_URL": None, "JWT_SECRET": None}


def _listening_ports(processes: list[psutil.Process]) -> set[int]:
    ports: set[int] = set()
    for process in processes:
        for connection in process.net_connections(kind="inet"):
            if connection.status == psutil.CONN_LISTEN:
                ports.add(connection.laddr.port)
    return ports


def test_serves_healthz_and_readyz_with_embedded_stores(tmp_path: Path) -> None:
    with ServerProcess(env={**EMBEDDED, "TMPDIR": str(tmp_path)}) as server:
        assert server.get("/healthz").status_code == 200
        ready = server.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ok",
            "dependencies": {"mongodb": "ok", "redis": "ok"},
        }


@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_leaves_no_child_process_and_no_listening_port(
    tmp_path: Path, workers: int
) -> None:
    server = ServerProcess(env={**EMBEDDED, "TMPDIR": str(tmp_path)}, workers=workers).start()
    try:
        assert server.process is not None
        root = psutil.Process(server.process.pid)
        descendants = root.children(recursive=True)
        # redis-server, the MongoDB server and (with several workers) the worker processes.
        assert len(descendants) >= 2 + (workers if workers > 1 else 0)
        ports = _listening_ports([root, *descendants])
        assert server.port in ports
        assert len(ports) >= 3

        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        _, alive = psutil.wait_procs(descendants, timeout=10)
        assert alive == []
        assert [port for port in ports if is_listening("127.0.0.1", port)] == []
    finally:
        server.stop()  # its log file closed, whatever failed


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_stops_the_server_and_its_embedded_stores(tmp_path: Path, workers: int) -> None:
    server = ServerProcess(env={**EMBEDDED, "TMPDIR": str(tmp_path)}, workers=workers).start()
    assert server.process is not None
    descendants = psutil.Process(server.process.pid).children(recursive=True)
    server.stop()
    assert server.process.returncode == 0
    _, alive = psutil.wait_procs(descendants, timeout=10)
    assert alive == []
    assert list(tmp_path.iterdir()) == []  # the runtime directory is removed too


def test_readyz_reports_each_dependency_as_it_fails(tmp_path: Path) -> None:
    # Stores of this test's own, so that they can be stopped under a running server.
    mongo = start_mongo(tmp_path, mongod_binary=os.environ.get("MONGOD_BINARY"))
    redis = start_redis(tmp_path)
    try:
        env = {"MONGODB_URL": mongo.url, "REDIS_URL": redis.url}
        with ServerProcess(env=env) as server:
            assert server.get("/readyz").json()["status"] == "ok"

            redis.close()
            ready = server.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {
                "status": "degraded",
                "dependencies": {"mongodb": "ok", "redis": "down"},
            }

            mongo.close()
            ready = server.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["dependencies"]["mongodb"] == "down"
            assert server.get("/healthz").status_code == 200
    finally:
        redis.close()
        mongo.close()


def test_production_refuses_to_start_without_shared_stores() -> None:
    server = ServerProcess(env={**EMBEDDED, "TASKQL_ENV": "production"})
    with pytest.raises(
        RuntimeError, match="production requires JWT_SECRET, MONGODB_URL, REDIS_URL"
    ):
        server.start()


def test_sigkill_while_workers_still_start_leaves_no_worker(tmp_path: Path) -> None:
    """Killed while its workers still import, the supervisor leaves none behind: a worker
    that finds the supervisor gone exits (storage/processes.py) instead of tying itself to
    the process that adopted it."""
    server = ServerProcess(env={**EMBEDDED, "TMPDIR": str(tmp_path)}, workers=2)
    process = server.spawn()
    try:
        root = psutil.Process(process.pid)
        deadline = time.monotonic() + 60
        workers: list[psutil.Process] = []
        while len(workers) < 2 and time.monotonic() < deadline:
            workers = [
                child for child in root.children() if "spawn_main" in " ".join(child.cmdline())
            ]
            time.sleep(0.01)
        assert len(workers) == 2, server.log()
        os.kill(process.pid, signal.SIGKILL)  # the workers are still starting
        process.wait()
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == []
    finally:
        server.stop()
