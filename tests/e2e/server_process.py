"""A real server process, started the way `make run` starts it, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from storage.ports import free_loopback_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0


class ServerProcess:
    """`python server.py serve` on a free loopback port, with the given environment."""

    def __init__(self, *, env: dict[str, str | None] | None = None, workers: int = 1) -> None:
        self.port = free_loopback_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        overrides = {"HOST": "127.0.0.1", "PORT": str(self.port), "WORKERS": str(workers)}
        merged: dict[str, str | None] = {**os.environ, **overrides, **(env or {})}
        self.env = {key: value for key, value in merged.items() if value is not None}
        self.process: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: a full pipe would block the server's logging.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by stop()

    def start(self) -> ServerProcess:
        self.spawn()
        self.wait_healthy()
        return self

    def spawn(self) -> subprocess.Popen[bytes]:
        """The process, started and not waited for."""
        self.process = subprocess.Popen(
            [sys.executable, "server.py", "serve"],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        return self.process

    def wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.log()
                self.stop()
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{output}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        output = self.log()
        self.stop()
        raise RuntimeError(f"server did not become healthy in time:\n{output}")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base_url}{path}", timeout=10.0)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
