"""`make run` (`server.py serve`, embedded stores) on a taken port, and stopped by a signal at
each point of its startup: it ends promptly, and nothing it started outlives it.

Exit status: a taken port is 1, said in one line. A stop that a signal asked for is 0 wherever
the startup had got to, as it is once serving: the process did what it was asked and cleaned
up after itself (stores stopped, runtime directory removed). Only a signal that arrives before
`serve` has set its handlers, while Python still imports the modules, ends the process by the
signal's default action (status -SIGTERM): nothing has been started by then.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.server_process import ServerProcess

pytestmark = pytest.mark.e2e

EMBEDDED = {"MONGODB_URL": None, "REDIS_URL": None, "JWT_SECRET": None}
SHUTDOWN_TIMEOUT = 5  # seconds; the tests wait no longer than this for a stop
STAGE_TIMEOUT = 30.0


class Watched:
    """`server.py serve` with embedded stores, and every descendant it ever had: once it has
    exited, orphans are no longer its children, and could not be found that way."""

    def __init__(self, tmp_path: Path, *, workers: int = 1) -> None:
        env = {
            **EMBEDDED,
            # The runtime directory goes here, so that its removal can be checked.
            "TMPDIR": str(tmp_path),
            "TASKQL_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
        }
        self.runtime_parent = tmp_path
        self.server = ServerProcess(env=env, workers=workers)
        self.descendants: dict[int, psutil.Process] = {}
        self._watcher: threading.Thread | None = None

    def spawn(self) -> None:
        process = self.server.spawn()
        root = psutil.Process(process.pid)
        self._watcher = threading.Thread(target=self._watch, args=(root,), daemon=True)
        self._watcher.start()

    def _watch(self, root: psutil.Process) -> None:
        while self.returncode is None:
            try:
                for child in root.children(recursive=True):
                    self.descendants.setdefault(child.pid, child)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.01)

    @property
    def returncode(self) -> int | None:
        assert self.server.process is not None
        return self.server.process.poll()

    def send(self, signum: signal.Signals) -> None:
        assert self.server.process is not None
        self.server.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.server.process is not None
        return self.server.process.wait(timeout=timeout)

    def log(self) -> str:
        return self.server.log()

    def until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + STAGE_TIMEOUT
        while not condition():
            if self.returncode is not None:
                pytest.fail(f"exited ({self.returncode}) before {what}:\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"never reached {what}:\n{self.log()}")
            time.sleep(0.01)

    def leftovers(self) -> list[psutil.Process]:
        """Its descendants still running, and any process working in its runtime directory
        (redis-server's and SecantusDB's working directory), in case one went unseen."""
        assert self._watcher is not None
        self._watcher.join(timeout=5)
        _, alive = psutil.wait_procs(list(self.descendants.values()), timeout=5)
        for process in psutil.process_iter(["cwd"]):
            cwd = process.info["cwd"]
            if cwd and Path(cwd).is_relative_to(self.runtime_parent):
                alive.append(process)
        return [process for process in alive if _running(process)]

    def close(self) -> None:
        if self.server.process is not None and self.returncode is None:
            self.server.process.kill()
            self.server.process.wait()
        for process in self.descendants.values():
            if _running(process):
                process.kill()
        self.server.stop()


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@contextmanager
def watched(tmp_path: Path, *, workers: int = 1) -> Iterator[Watched]:
    server = Watched(tmp_path, workers=workers)
    try:
        yield server
    finally:
        server.close()


def _listening(port: int) -> socket.socket:
    # SO_REUSEADDR, as servers bind: what the server's own bind has to refuse.
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen()
    return holder


def _assert_refused_in_one_line(server: Watched, port: int) -> None:
    lines = [line for line in server.log().splitlines() if f"port {port}" in line]
    assert lines == [server.log().splitlines()[-1]], server.log()
    assert lines[0].startswith(f"taskql: port {port} on 127.0.0.1 is already in use")
    assert f"PORT={port + 1} make run" in lines[0]


def test_a_taken_port_stops_it_at_once_before_it_starts_anything(tmp_path: Path) -> None:
    with watched(tmp_path) as server:
        port = server.server.port
        with _listening(port):
            server.spawn()
            assert server.wait(timeout=15) == 1  # Python's imports are most of it
        _assert_refused_in_one_line(server, port)
        assert server.descendants == {}
        assert list(tmp_path.iterdir()) == []


def test_a_port_taken_while_the_stores_start_stops_them_and_says_so(tmp_path: Path) -> None:
    # The port is bound before the stores start but listened on only after: another server
    # binding it the same way can still listen on it first.
    with watched(tmp_path) as server:
        port = server.server.port
        server.spawn()
        server.until(lambda: bool(server.descendants), "the stores' start")
        with _listening(port):
            assert server.wait(timeout=15) == 1
        _assert_refused_in_one_line(server, port)
        assert server.descendants != {}
        assert server.leftovers() == []
        assert list(tmp_path.iterdir()) == []


def _healthy(server: Watched) -> bool:
    try:
        return httpx.get(f"{server.server.base_url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


STAGES: dict[str, Callable[[Watched], bool]] = {
    "spawned": lambda _: True,
    "mongodb starting": lambda server: bool(server.descendants),
    "redis starting": lambda server: "embedded SecantusDB" in server.log(),
    "app starting": lambda server: "Waiting for application startup." in server.log(),
    "serving": _healthy,
}


@pytest.mark.parametrize(
    ("stage", "signum", "workers"),
    [
        ("spawned", signal.SIGTERM, 1),
        ("mongodb starting", signal.SIGTERM, 1),
        ("mongodb starting", signal.SIGINT, 1),
        ("redis starting", signal.SIGTERM, 1),
        ("app starting", signal.SIGTERM, 1),
        ("app starting", signal.SIGTERM, 2),
        ("serving", signal.SIGINT, 1),
    ],
)
def test_a_stop_signal_at_any_point_stops_it_and_everything_it_started(
    tmp_path: Path, stage: str, signum: signal.Signals, workers: int
) -> None:
    with watched(tmp_path, workers=workers) as server:
        server.spawn()
        server.until(lambda: STAGES[stage](server), stage)
        server.send(signum)
        try:
            status = server.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {SHUTDOWN_TIMEOUT} s after {signum.name}:\n{server.log()}")
        allowed = {0, -signum} if stage == "spawned" else {0}
        assert status in allowed, server.log()
        assert server.leftovers() == []
        assert list(tmp_path.iterdir()) == []
