"""The processes a bench runs against, started as a developer starts them (`server.py services`,
`seed`, `serve` or a peer on a free loopback port; with `taskset -c N` in front when pinned), all
stopped by `Stack.close()`; what they cost (CPU, RSS) and what their /metrics say."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

import orjson
import psutil  # type: ignore[import-untyped]  # no stubs in the lock file
from common import ROOT
from prometheus_client.parser import text_string_to_metric_families

from storage.redis import create_redis_client

DEVNULL, PIPE = subprocess.DEVNULL, subprocess.PIPE
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
LOG_LEVELS = ("warning", "error", "critical", "raw")  # raw: not a JSON line (a traceback)


@dataclass
class Child:
    """One process, its stderr kept in a temporary file; `base_url` once a server is healthy."""

    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    base_url: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

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


@dataclass
class Stack:
    pin: tuple[str, ...] = ()
    children: list[Child] = field(default_factory=list)
    mongodb_url: str = ""
    redis_url: str = ""
    stores_pid: int = 0
    mongodb_kind: str = ""

    def launch(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], stdout: int = DEVNULL
    ) -> Child:
        log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by Child.stop()
        process = subprocess.Popen(
            [*self.pin, *argv], cwd=ROOT, env=env, stdin=DEVNULL, stdout=stdout, stderr=log
        )
        self.children.append(Child(name, process, log))
        return self.children[-1]

    def start_services(self, *, redis_cluster: bool = False) -> None:
        """`server.py services` (`--redis-cluster`: a 3-master, 3-replica Redis Cluster)."""
        argv = [sys.executable, "server.py", "services"]
        # A throwaway embedded database unless TASKQL_DATA_DIR names one.
        env = {**os.environ, "TASKQL_DATA_DIR": os.environ.get("TASKQL_DATA_DIR", "")}
        child = self.launch("services", argv + ["--redis-cluster"] * redis_cluster, env, PIPE)
        assert child.process.stdout is not None
        urls: dict[str, str] = {}
        printed = b""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while len(urls) < 2:
            # Unbuffered reads: a buffered readline could hold the second line out of select's view.
            if select.select([child.process.stdout], [], [], 0.5)[0]:
                printed += os.read(child.process.stdout.fileno(), 4096)
                for line in printed.decode().splitlines():
                    name, _, value = line.strip().partition("=")
                    if value:
                        urls[name] = value
            if len(urls) < 2 and (child.process.poll() is not None or time.monotonic() > deadline):
                raise RuntimeError(f"`server.py services` did not start:\n{child.output()}")
        self.mongodb_url, self.redis_url = urls["MONGODB_URL"], urls["REDIS_URL"]
        self.stores_pid = child.pid
        if os.environ.get("MONGODB_URL"):
            self.mongodb_kind = "MongoDB at MONGODB_URL"
        elif found := re.search(r"embedded SecantusDB (\S+)", child.output()):
            self.mongodb_kind = f"embedded SecantusDB {found[1]}"
        else:
            self.mongodb_kind = "embedded mongod"

    def store_env(self) -> dict[str, str]:
        return {**os.environ, "MONGODB_URL": self.mongodb_url, "REDIS_URL": self.redis_url}

    def seed(self, *, database: str, users: int, tasks_per_user: int) -> None:
        """`server.py seed --reset` into `database`."""
        command = [sys.executable, "server.py", "seed", "--reset", "--users", str(users)]
        command += ["--tasks-per-user", str(tasks_per_user)]
        env = {**self.store_env(), "MONGODB_DB": database}
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"seeding failed:\n{done.stderr.decode(errors='replace')}")

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        """A server on a free loopback port (HOST/PORT in its environment), once healthy."""
        with socket.socket() as probe:  # a free port
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        child = self.launch(name, argv, {**env, "HOST": "127.0.0.1", "PORT": str(port)})
        child.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and child.process.poll() is None:
            try:
                with urllib.request.urlopen(f"{child.base_url}/healthz", timeout=1.0) as reply:  # noqa: S310 -- loopback http
                    if reply.status == 200:
                        return child
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        output = child.output()
        self.stop(child)
        raise RuntimeError(f"{name} did not become healthy:\n{output[-3000:]}")

    def serve(self, name: str, env: Mapping[str, str]) -> Child:
        """`server.py serve`, one worker, on the stores."""
        argv = [sys.executable, "server.py", "serve"]
        return self.start(name, argv, {**self.store_env(), "WORKERS": "1", **env})

    def stop(self, child: Child) -> None:
        child.stop()
        if child in self.children:
            self.children.remove(child)

    def close(self) -> None:
        # Servers first (they hold connections to the stores), the stores last.
        for child in reversed(self.children):
            child.stop()
        self.children.clear()

    def stores(self) -> dict[str, list[psutil.Process]]:
        """The processes of MongoDB and of Redis (none when MONGODB_URL/REDIS_URL are set)."""
        found: dict[str, list[psutil.Process]] = {"mongodb": [], "redis": []}
        for member in psutil.Process(self.stores_pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                redis = "redis-server" in " ".join(member.cmdline())
                found["redis" if redis else "mongodb"].append(member)
        return found

    def server_log(self, limit: int = 8) -> list[str]:
        """The servers' warnings, errors and non-JSON lines (tracebacks), counted."""
        counts: dict[str, int] = {}
        for child in self.children:
            for line in child.output().splitlines() if child.name != "services" else []:
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    entry = {"level": "raw", "message": line}
                if isinstance(entry, dict) and entry.get("level") in LOG_LEVELS:
                    text = f"{child.name}: {entry['level']}: {str(entry.get('message'))[:200]}"
                    counts[text] = counts.get(text, 0) + 1
        found = [f"{text} (x{count})" for text, count in counts.items()]
        return found[:limit] + [f"... and {len(found) - limit} more"] * (len(found) > limit)


async def redis_version(url: str) -> str:
    redis = create_redis_client(url)
    try:
        info = await redis.info("server")
    finally:
        await redis.aclose()
    if isinstance(info, dict) and "redis_version" not in info:  # a cluster: one per node
        info = next(iter(info.values()), {})
    return f"redis-server {info.get('redis_version', '?')}"


# ---- pinning -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pinning:
    load: tuple[str, ...]  # the command prefix of the load generator
    server: tuple[str, ...]  # of every server-side process
    load_cpu: int | None
    note: str


def choose_pinning(*, enabled: bool) -> Pinning:
    """The load generator on one CPU, the whole server side on another (when there are two)."""
    cpus = sorted(os.sched_getaffinity(0))
    if not enabled:
        return Pinning((), (), None, "unpinned (--no-pin)")
    if shutil.which("taskset") is None:
        return Pinning((), (), None, "unpinned: taskset is not installed")
    if len(cpus) < 2:
        return Pinning((), (), None, f"unpinned: only {len(cpus)} CPU available")
    load, server = cpus[0], cpus[1]
    return Pinning(
        ("taskset", "-c", str(load)),
        ("taskset", "-c", str(server)),
        load,
        f"load generator (wrk) on CPU {load}; app, Redis and the embedded MongoDB on CPU {server}",
    )


# ---- CPU and memory ----------------------------------------------------------------------------


def tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (none once it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_of(processes: Sequence[psutil.Process]) -> float:
    """CPU seconds (user + system) the processes spent so far."""
    total = 0.0
    for member in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += sum(member.cpu_times()[:2])
    return total


def tree_rss(pid: int) -> int:
    try:
        return sum(int(member.memory_info().rss) for member in tree(pid)) if pid else 0
    except psutil.NoSuchProcess:
        return 0


def wait_idle(pids: Sequence[int], *, window: float = 0.25, timeout: float = 120.0) -> float:
    """Waits until the processes (with their descendants) use under 5% of a CPU for two windows
    in a row: a server still working off requests whose client is gone (wrk stops with requests
    in flight) would slow the next run. The seconds waited."""
    began, quiet = time.monotonic(), 0
    spent = sum(cpu_of(tree(pid)) for pid in pids)
    while quiet < 2 and time.monotonic() - began < timeout:
        time.sleep(window)
        now = sum(cpu_of(tree(pid)) for pid in pids)
        quiet = quiet + 1 if now - spent < 0.05 * window else 0
        spent = now
    return time.monotonic() - began


@dataclass(frozen=True)
class Cpu:
    """CPU seconds per part (`client`: this process and the children it waited for, e.g. wrk),
    the share of the machine's CPUs busy, and the share processes outside the bench took."""

    seconds: dict[str, float]
    busy: float
    others: float


class Meter:
    """What the parts spend from its start to `read()`, and the peak RSS of `pid`'s process tree
    meanwhile (sampled every half second)."""

    def __init__(self, parts: Mapping[str, Sequence[psutil.Process]], pid: int = 0) -> None:
        self.parts, self.pid, self.peak = parts, pid, tree_rss(pid)
        self.began, self.stopped = self._read(), threading.Event()
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()

    def _sample(self) -> None:
        while not self.stopped.wait(0.5):
            self.peak = max(self.peak, tree_rss(self.pid))

    def _read(self) -> tuple[dict[str, float], float, float]:
        spent = {name: cpu_of(members) for name, members in self.parts.items()}
        mine = resource.getrusage(resource.RUSAGE_SELF)
        waited = resource.getrusage(resource.RUSAGE_CHILDREN)
        spent["client"] = mine.ru_utime + mine.ru_stime + waited.ru_utime + waited.ru_stime
        machine = psutil.cpu_times()
        idle = machine.idle + getattr(machine, "iowait", 0.0)
        guests = getattr(machine, "guest", 0.0) + getattr(machine, "guest_nice", 0.0)
        return spent, sum(machine) - idle - guests, time.monotonic()

    def read(self) -> Cpu:
        self.stopped.set()
        self.sampler.join()
        self.peak = max(self.peak, tree_rss(self.pid))
        (before, busy_before, at), (after, busy_after, now) = self.began, self._read()
        seconds = {name: after[name] - before[name] for name in after}
        capacity = max((now - at) * (os.cpu_count() or 1), 1e-9)
        busy = busy_after - busy_before
        return Cpu(seconds, busy / capacity, max(0.0, busy - sum(seconds.values())) / capacity)


# ---- /metrics ----------------------------------------------------------------------------------

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
GRAPHQL_REQUESTS = "taskql_graphql_requests_total"


def samples(text: str) -> Samples:
    """One scrape of /metrics."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def grown(
    before: Samples, after: Samples, name: str, *, by: str, **labels: str
) -> dict[str, float]:
    """How much `name` grew per value of label `by`, among the series carrying `labels`."""
    growth: dict[str, float] = {}
    for (sample, found), value in after.items():
        change = value - before.get((sample, found), 0.0)
        if sample == name and set(labels.items()) <= found and change:
            key = dict(found)[by]
            growth[key] = growth.get(key, 0.0) + change
    return growth


def db_commands(before: Samples, after: Samples) -> dict[str, float]:
    """MongoDB commands made for GraphQL operations, per command."""
    return grown(before, after, "taskql_db_commands_total", by="command", source="request")


def cache_lookups(before: Samples, after: Samples) -> dict[str, float]:
    """Object cache lookups per result (`hit`, `miss`, `error`), all kinds together."""
    return grown(before, after, "taskql_cache_requests_total", by="result")
