"""Child processes that never outlive this one, even when it is killed with SIGKILL."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        # The parent died before the request took effect.
        os._exit(1)


# Set by a supervisor before it spawns workers: their parent, named. A worker still starting
# when its supervisor was killed then finds it gone and exits, where asking the kernel for
# "the parent" would tie it to whichever process adopted it.
SUPERVISOR_VARIABLE = "TASKQL_SUPERVISOR_PID"


def tie_to_supervisor() -> None:
    """In a worker: die with the supervisor (at once if it is gone already)."""
    supervisor = os.environ.get(SUPERVISOR_VARIABLE)
    if supervisor is not None:
        die_with_parent(int(supervisor))


def _preexec_for(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:
        os.setsid()  # our own terminal signals reach the child only through us
        die_with_parent(parent_pid)

    return preexec


def spawn_tied(
    argv: Sequence[str],
    *,
    stdout: int | IO[bytes] = subprocess.DEVNULL,
    stderr: int | IO[bytes] | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` as a child tied to this process's lifetime.

    Must be called from the main thread: the kernel's parent-death signal fires when the
    spawning *thread* exits.
    """
    return subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=env,
        cwd=cwd,
        preexec_fn=_preexec_for(os.getpid()),  # noqa: PLW1509 -- spawned before threads start
        close_fds=True,
    )


def stop(process: subprocess.Popen[bytes], *, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds; always reaps the child."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
