"""The processes a benchmark runs against, started the way a developer starts them.

`python server.py services` (shared MongoDB and Redis), `python server.py seed` into them, and
any number of `python server.py serve` on free loopback ports, each with its own environment.
Every process is stopped by `Stack.close()` (SIGTERM, then SIGKILL), also after an error or
Ctrl-C; their output goes to temporary files, shown when one fails to start.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil  # type: ignore[import-untyped]  # no stubs in the lock file

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Child:
    """One process of the stack, its output kept in a temporary file."""

    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@dataclass(frozen=True)
class Server:
    name: str
    base_url: str
    pid: int


@dataclass
class Stack:
    """Shared stores and the servers using them; `close()` stops everything it started."""

    children: list[Child] = field(default_factory=list)
    mongodb_url: str = ""
    redis_url: str = ""
    stores_pid: int = 0
    mongodb_kind: str = ""

    def _spawn(self, name: str, arguments: list[str], env: dict[str, str], **kw: int) -> Child:
        log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by Child.stop()
        process = subprocess.Popen(
            [sys.executable, "server.py", *arguments],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=kw.get("stdout", subprocess.DEVNULL),
            stderr=log,
        )
        child = Child(name=name, process=process, log=log)
        self.children.append(child)
        return child

    def start_services(self, *, redis_cluster: bool = False) -> None:
        """`server.py services`: the stores of MONGODB_URL/REDIS_URL if set, else embedded
        (with `redis_cluster`, a 3-master, 3-replica Redis Cluster)."""
        arguments = ["services", "--redis-cluster"] if redis_cluster else ["services"]
        # A throwaway embedded database unless TASKQL_DATA_DIR names one: bench data stays out of
        # the development database.
        env = {**os.environ, "TASKQL_DATA_DIR": os.environ.get("TASKQL_DATA_DIR", "")}
        child = self._spawn("services", arguments, env, stdout=subprocess.PIPE)
        stdout = child.process.stdout
        assert stdout is not None
        urls: dict[str, str] = {}
        printed = b""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while len(urls) < 2:
            # Unbuffered reads: a buffered readline could hold the second line out of select's view.
            if select.select([stdout], [], [], 0.5)[0]:
                printed += os.read(stdout.fileno(), 4096)
                for line in printed.decode().splitlines():
                    name, _, value = line.strip().partition("=")
                    if value:
                        urls[name] = value
            if len(urls) < 2 and (child.process.poll() is not None or time.monotonic() > deadline):
                raise RuntimeError(f"`server.py services` did not start:\n{child.output()}")
        self.mongodb_url, self.redis_url = urls["MONGODB_URL"], urls["REDIS_URL"]
        self.stores_pid = child.process.pid
        log = child.output()
        if os.environ.get("MONGODB_URL"):
            self.mongodb_kind = "MongoDB at MONGODB_URL"
        elif match := re.search(r"embedded SecantusDB (\S+)", log):
            self.mongodb_kind = f"embedded SecantusDB {match[1]}"
        else:
            self.mongodb_kind = "embedded mongod"

    def seed(self, *, database: str, users: int, tasks_per_user: int) -> str:
        """`server.py seed --reset` into `database`; its report."""
        env = {**self.store_env(), "MONGODB_DB": database}
        command = [sys.executable, "server.py", "seed", "--reset"]
        command += ["--users", str(users), "--tasks-per-user", str(tasks_per_user)]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"seeding failed:\n{done.stderr.decode(errors='replace')}")
        return done.stdout.decode()

    def store_env(self) -> dict[str, str]:
        return {**os.environ, "MONGODB_URL": self.mongodb_url, "REDIS_URL": self.redis_url}

    def start_server(self, name: str, env: dict[str, str]) -> Server:
        """`server.py serve`, one worker, on a free loopback port; returns once it is healthy."""
        port = free_port()
        overrides = {"HOST": "127.0.0.1", "PORT": str(port), "WORKERS": "1"}
        child = self._spawn(name, ["serve"], {**self.store_env(), **env, **overrides})
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=1.0) as reply:  # noqa: S310 -- loopback http
                    if reply.status == 200:
                        return Server(name=name, base_url=base_url, pid=child.process.pid)
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise RuntimeError(f"server {name!r} did not become healthy:\n{child.output()}")

    def processes(self, server: Server) -> dict[str, list[psutil.Process]]:
        """The processes whose CPU time a measurement of `server` accounts for, by part."""
        stores = psutil.Process(self.stores_pid).children(recursive=True)
        is_redis = ["redis-server" in " ".join(child.cmdline()) for child in stores]
        return {
            "app": [psutil.Process(server.pid)],
            "mongodb": [child for child, redis in zip(stores, is_redis, strict=True) if not redis],
            "redis": [child for child, redis in zip(stores, is_redis, strict=True) if redis],
        }

    def close(self) -> None:
        # Servers first (they hold connections to the stores), the stores last.
        for child in reversed(self.children):
            child.stop()
        self.children.clear()


def cpu_seconds(processes: dict[str, list[psutil.Process]]) -> dict[str, float]:
    """CPU time (user + system) spent so far by each part, and `idle`: every CPU's idle time."""
    spent = {
        part: sum(sum(p.cpu_times()[:2]) for p in members) for part, members in processes.items()
    }
    machine = psutil.cpu_times()
    spent["idle"] = machine.idle + getattr(machine, "iowait", 0.0)
    return spent
