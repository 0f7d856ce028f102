"""The harness's processes: the stores (`server.py services`), seeding, and one candidate server
at a time, the whole server side pinned to one CPU and the load generator to another.

Pinning is `taskset -c N` in front of each command, so every thread and child process (the
embedded MongoDB, redis-server, uvicorn workers) inherits it. Without taskset, or with fewer than
two CPUs, everything runs unpinned and the report says so.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field

import psutil  # type: ignore[import-untyped]  # no stubs in the lock file
from stack import ROOT, STARTUP_TIMEOUT, Child, Stack, free_port


@dataclass(frozen=True)
class Pinning:
    load: tuple[str, ...]  # the command prefix of the load generator
    server: tuple[str, ...]  # of every server-side process
    load_cpu: int | None
    note: str


def choose_pinning(*, enabled: bool) -> Pinning:
    if not enabled:
        return Pinning((), (), None, "unpinned (--no-pin)")
    taskset = shutil.which("taskset")
    cpus = sorted(os.sched_getaffinity(0))
    if taskset is None:
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


@dataclass(frozen=True)
class Running:
    """A candidate's server, listening."""

    name: str
    base_url: str
    child: Child

    @property
    def pid(self) -> int:
        return self.child.process.pid


@dataclass
class PinnedStack(Stack):
    """bench/stack.py's Stack, every process started behind the server side's pinning."""

    pin: tuple[str, ...] = ()
    candidates: list[Child] = field(default_factory=list)

    def _spawn(self, name: str, arguments: list[str], env: dict[str, str], **kw: int) -> Child:
        stdout = kw.get("stdout", subprocess.DEVNULL)
        return self.launch(name, [sys.executable, "server.py", *arguments], env, stdout=stdout)

    def launch(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str],
        *,
        stdout: int = subprocess.DEVNULL,
    ) -> Child:
        log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by Child.stop()
        process = subprocess.Popen(
            [*self.pin, *argv],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=log,
        )
        child = Child(name=name, process=process, log=log)
        self.children.append(child)
        return child

    def start(self, name: str, argv: Sequence[str], env: dict[str, str]) -> Running:
        """A server on a free loopback port (HOST/PORT in its environment), once healthy."""
        port = free_port()
        child = self.launch(name, argv, {**env, "HOST": "127.0.0.1", "PORT": str(port)})
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and child.process.poll() is None:
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=1.0) as reply:  # noqa: S310 -- loopback http
                    if reply.status == 200:
                        return Running(name, base_url, child)
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        output = child.output()
        self.stop(Running(name, base_url, child))
        raise RuntimeError(f"{name} did not become healthy:\n{output[-3000:]}")

    def stop(self, running: Running) -> None:
        running.child.stop()
        if running.child in self.children:
            self.children.remove(running.child)


def _tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (none once it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes (0 once it is gone)."""
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += member.memory_info().rss
    return int(total)


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) spent so far by a process and its descendants."""
    total = 0.0
    for member in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = member.cpu_times()
            total += times.user + times.system
    return total


def wait_idle(
    pids: Sequence[int],
    *,
    window: float = 0.25,
    busy: float = 0.05,
    quiet_windows: int = 2,
    timeout: float = 120.0,
) -> float:
    """Waits until the processes (with their descendants) use under `busy` of a CPU for
    `quiet_windows` windows in a row: a server still working off requests whose client is gone
    (wrk stops with requests in flight) would slow the next run. The seconds waited."""
    began = time.monotonic()
    quiet = 0
    spent = sum(tree_cpu_seconds(pid) for pid in pids)
    while quiet < quiet_windows and time.monotonic() - began < timeout:
        time.sleep(window)
        now = sum(tree_cpu_seconds(pid) for pid in pids)
        quiet = quiet + 1 if now - spent < busy * window else 0
        spent = now
    return time.monotonic() - began


@dataclass(frozen=True)
class CpuSnapshot:
    machine_busy: float  # every CPU's non-idle seconds, steal included
    ours: float  # the measured processes, wrk (waited children) and this process
    at: float


def cpu_snapshot(pids: Sequence[int]) -> CpuSnapshot:
    machine = psutil.cpu_times()
    idle = machine.idle + getattr(machine, "iowait", 0.0)
    busy = (
        sum(machine) - idle - getattr(machine, "guest", 0.0) - getattr(machine, "guest_nice", 0.0)
    )
    mine = resource.getrusage(resource.RUSAGE_SELF)
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = sum(tree_cpu_seconds(pid) for pid in pids)
    ours += mine.ru_utime + mine.ru_stime + waited.ru_utime + waited.ru_stime
    return CpuSnapshot(busy, ours, time.monotonic())


def others_share(before: CpuSnapshot, after: CpuSnapshot) -> float:
    """The share of the machine's CPUs that processes outside the benchmark took in between
    (other test suites, the hypervisor's steal): what makes a run noisy."""
    capacity = (after.at - before.at) * (os.cpu_count() or 1)
    if capacity <= 0:
        return 0.0
    others = (after.machine_busy - before.machine_busy) - (after.ours - before.ours)
    return max(0.0, others / capacity)


def waited_children_cpu() -> float:
    """CPU seconds of this process's children that ended and were waited for (wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class RssSampler:
    """The highest tree_rss(pid) seen while it runs (every `interval` seconds)."""

    def __init__(self, pid: int, *, interval: float = 0.5) -> None:
        self.pid, self.interval = pid, interval
        self.peak = tree_rss(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, tree_rss(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.pid))
