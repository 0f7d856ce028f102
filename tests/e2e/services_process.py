"""`python server.py services` in a subprocess, as an operator runs it for several instances."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.server_process import PROJECT_ROOT


@contextmanager
def running_services(
    runtime_dir: Path, *arguments: str, data_dir: Path | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, str]]]:
    """The process and the MONGODB_URL and REDIS_URL it printed; its stores die with it (the
    embedded MongoDB's files stay in `data_dir` when given, else they are thrown away)."""
    env = {**os.environ, "TMPDIR": str(runtime_dir), "TASKQL_DATA_DIR": str(data_dir or "")}
    env.pop("MONGODB_URL", None)
    env.pop("REDIS_URL", None)
    process = subprocess.Popen(
        [sys.executable, "server.py", "services", *arguments],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        lines = [process.stdout.readline().decode().strip() for _ in range(2)]
        yield process, dict(line.split("=", 1) for line in lines)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)
        process.stdout.close()
