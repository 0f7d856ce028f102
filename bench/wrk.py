"""wrk, the harness's load generator: installing it, one run, and reading its result.

Every run uses bench/lua/rotate.lua: it POSTs the requests of a file in turn (one a line: the
Authorization value, a tab, the JSON body), counts answers carrying GraphQL `errors`, and
prints one `BENCH_JSON {...}` line (latency percentiles, wrk's error counters) when done.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).resolve().parent / "lua" / "rotate.lua"
MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class WrkResult:
    """One load run (wrk's, or bench/loadgen.py's in the same terms)."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    non_2xx: int = 0
    timeouts: int = 0
    graphql_errors: int = 0
    wrong: int = 0  # answers whose data differ from taskql's (bench/loadgen.py checks each)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors

    @property
    def failures(self) -> int:
        """Every answer that was not a clean success (wrk counts each kind on its own)."""
        return self.socket_errors + self.non_2xx + self.timeouts + self.graphql_errors + self.wrong


def parse_output(stdout: str) -> WrkResult:
    """The result in wrk's output; ValueError when the script's line is missing."""
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER) :])
            break
    else:
        raise ValueError(f"no {MARKER.strip()} line in wrk's output:\n{stdout[-2000:]}")
    errors, latency = raw["errors"], raw["latency_us"]
    return WrkResult(
        requests=int(raw["requests"]),
        seconds=raw["duration_us"] / 1e6,
        p50_ms=latency["p50"] / 1e3,
        p90_ms=latency["p90"] / 1e3,
        p99_ms=latency["p99"] / 1e3,
        max_ms=latency["max"] / 1e3,
        connect_errors=int(errors["connect"]),
        read_errors=int(errors["read"]),
        write_errors=int(errors["write"]),
        non_2xx=int(errors["status"]),
        timeouts=int(errors["timeout"]),
        graphql_errors=int(raw["graphql_errors"]),
    )


def request_line(authorization: str, body: bytes) -> str:
    """One line of a requests file; the body must be one line of JSON."""
    text = body.decode()
    if "\n" in text or "\t" in authorization or "\n" in authorization:
        raise ValueError("a request line holds no newline, and the header value no tab")
    return f"{authorization}\t{text}"


def write_requests(path: Path, requests: Sequence[tuple[str, bytes]]) -> None:
    path.write_text("".join(request_line(*request) + "\n" for request in requests), "utf-8")


def wrk_command(
    *, url: str, connections: int, seconds: int, timeout: int, pin: Sequence[str], threads: int = 1
) -> list[str]:
    return [
        *pin,
        "wrk",
        f"--threads={min(threads, connections)}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        f"--timeout={timeout}s",
        f"--script={LUA_SCRIPT}",
        url,
    ]


def run_wrk(
    *,
    url: str,
    requests_file: Path,
    connections: int,
    seconds: int,
    timeout: int,
    pin: Sequence[str] = (),
) -> WrkResult:
    command = wrk_command(
        url=url, connections=connections, seconds=seconds, timeout=timeout, pin=pin
    )
    done = subprocess.run(
        command,
        env={**os.environ, "BENCH_WRK_REQUESTS": str(requests_file)},
        capture_output=True,
        text=True,
        timeout=seconds + timeout + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}:\n{done.stderr}{done.stdout}")
    return parse_output(done.stdout)


def wrk_version() -> str:
    # `wrk -v` prints its banner and exits with 1.
    done = subprocess.run(
        [shutil.which("wrk") or "wrk", "-v"], capture_output=True, text=True, check=False
    )
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0].split(" [")[0].removeprefix("wrk ") if first else "?"


def ensure_wrk() -> None:
    """Installs Debian's wrk when missing (apt-get, through sudo unless root)."""
    if shutil.which("wrk"):
        return
    sudo: list[str] = [] if os.geteuid() == 0 else ["sudo"]
    if sudo and not shutil.which("sudo"):
        raise RuntimeError("wrk is missing and neither root nor sudo can install it")
    print("installing wrk (apt-get install wrk)...", flush=True)
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    # Through `env`: sudo would drop the variable from the environment.
    noninteractive = ["env", "DEBIAN_FRONTEND=noninteractive"]
    subprocess.run([*sudo, *noninteractive, "apt-get", "install", "-y", "-qq", "wrk"], check=True)
    if not shutil.which("wrk"):
        raise RuntimeError("apt-get install wrk did not put wrk on PATH")
