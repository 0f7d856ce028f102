"""The project's nginx load balancer (docker/nginx/nginx.conf), run on loopback for tests.

The compose file's config is rendered, not copied by hand: only what ties it to the container
(the run-as user, pid, logs, temp paths, the listen port and the upstream servers' addresses)
is rewritten, each directive found where it is expected or the rendering fails, and every other
line stays exactly as written. nginx then runs in the foreground with its own prefix and
config: never the system's nginx service, and as any user.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

from storage.ports import free_loopback_port
from storage.processes import spawn_tied
from tests.e2e.server_process import PROJECT_ROOT

NGINX_CONF = PROJECT_ROOT / "docker" / "nginx" / "nginx.conf"
UPSTREAM = "taskql"
TEMP_PATHS = (
    "client_body_temp_path",
    "proxy_temp_path",
    "fastcgi_temp_path",
    "uwsgi_temp_path",
    "scgi_temp_path",
)
STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class NginxConfigShapeError(ValueError):
    """docker/nginx/nginx.conf no longer has a directive the renderer rewrites."""


def nginx_binary() -> str | None:
    """nginx from PATH, or Debian's /usr/sbin/nginx (not on a normal user's PATH)."""
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def _quoted(path: Path) -> str:
    text = str(path).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _directive(name: str) -> re.Pattern[str]:
    """One `name args;` directive on a line of its own (never a commented-out one)."""
    return re.compile(
        rf"^(?P<indent>[ \t]*){re.escape(name)}(?P<space>[ \t]+)(?P<args>[^;#\n]*);(?P<rest>.*)$",
        re.MULTILINE,
    )


def _rewrite(
    text: str,
    name: str,
    replace: Callable[[str], str],
    *,
    count: int | None = 1,
    minimum: int = 1,
) -> str:
    """Each `name` directive's arguments through `replace(args) -> new args`; exactly `count`
    of them (or at least `minimum` when count is None) must be there."""
    pattern = _directive(name)
    found = len(pattern.findall(text))
    if (count is not None and found != count) or found < minimum:
        wanted = f"exactly {count}" if count is not None else f"at least {minimum}"
        raise NginxConfigShapeError(
            f"{NGINX_CONF.name}: expected {wanted} `{name}` directive(s), found {found}"
        )

    def substitute(match: re.Match[str]) -> str:
        args = replace(match["args"].strip())
        return f"{match['indent']}{name}{match['space']}{args};{match['rest']}"

    return pattern.sub(substitute, text)


def _rewrite_upstream(text: str, addresses: Sequence[str]) -> str:
    block = re.search(rf"^[ \t]*upstream[ \t]+{UPSTREAM}[ \t]*\{{(?P<body>[^{{}}]*)\}}", text, re.M)
    if block is None:
        raise NginxConfigShapeError(f"{NGINX_CONF.name}: no `upstream {UPSTREAM}` block")
    servers = iter(addresses)

    def address(args: str) -> str:
        _, _, parameters = args.partition(" ")
        return f"{next(servers)} {parameters}".strip()

    body = _rewrite(block["body"], "server", address, count=len(addresses))
    return text[: block.start("body")] + body + text[block.end("body") :]


def _replaced_by(path: Path) -> Callable[[str], str]:
    return lambda _: _quoted(path)


def _run_as_line(args: str) -> str:
    if os.geteuid() != 0:
        # Ignored (with a warning) when the master does not run as root: the workers run as
        # the current user anyway.
        return args
    # As root, the workers must be able to reach the temp directory: run them as ourselves.
    return f"{pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name}"


def render_loopback(source: str, *, upstreams: Sequence[str], port: int, runtime_dir: Path) -> str:
    """The config `source` listening on 127.0.0.1:`port`, balancing over `upstreams`
    ("127.0.0.1:8001"...), writing only under `runtime_dir`."""
    text = _rewrite(source, "user", _run_as_line)
    text = _rewrite(text, "pid", lambda _: _quoted(runtime_dir / "nginx.pid"))

    def error_log(args: str) -> str:
        _, _, level = args.partition(" ")
        return f"{_quoted(runtime_dir / 'error.log')} {level}".strip()

    text = _rewrite(text, "error_log", error_log, count=None)

    def access_log(args: str) -> str:
        path, _, log_format = args.partition(" ")
        if path == "off":
            return args
        return f"{_quoted(runtime_dir / 'access.log')} {log_format}".strip()

    text = _rewrite(text, "access_log", access_log, count=None)
    for name in TEMP_PATHS:
        text = _rewrite(
            text, name, _replaced_by(runtime_dir / "temp" / name.removesuffix("_temp_path"))
        )

    def listen(args: str) -> str:
        address, _, parameters = args.partition(" ")
        if not address.rpartition(":")[2].isdigit():
            raise NginxConfigShapeError(f"{NGINX_CONF.name}: `listen {args}` names no port")
        return f"127.0.0.1:{port} {parameters}".strip()

    text = _rewrite(text, "listen", listen)
    return _rewrite_upstream(text, upstreams)


class NginxProcess:
    """nginx in the foreground on a free loopback port, in front of `upstreams`."""

    def __init__(
        self,
        *,
        upstreams: Sequence[str],
        runtime_dir: Path,
        source: Path = NGINX_CONF,
        binary: str | None = None,
    ) -> None:
        found = binary or nginx_binary()
        if found is None:
            raise FileNotFoundError("nginx is not installed")
        self.binary = found
        self.port = free_loopback_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.runtime_dir = runtime_dir
        runtime_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = runtime_dir / "nginx.conf"
        self.config_path.write_text(
            render_loopback(
                source.read_text(encoding="utf-8"),
                upstreams=upstreams,
                port=self.port,
                runtime_dir=runtime_dir,
            ),
            encoding="utf-8",
        )
        self.error_log_path = runtime_dir / "error.log"
        self.access_log_path = runtime_dir / "access.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self, *extra: str) -> list[str]:
        return [
            self.binary,
            *("-p", f"{self.runtime_dir}/"),
            *("-c", str(self.config_path)),
            *("-e", str(self.error_log_path)),
            *("-g", "daemon off;"),
            *extra,
        ]

    def check(self) -> subprocess.CompletedProcess[str]:
        """`nginx -t` on the rendered config."""
        (self.runtime_dir / "temp").mkdir(exist_ok=True)
        return subprocess.run(
            self.command("-t"), capture_output=True, text=True, timeout=30, check=False
        )

    def start(self) -> NginxProcess:
        """Starts nginx and waits until it answers. Call it from the main thread: nginx is
        killed when the thread that started it ends."""
        (self.runtime_dir / "temp").mkdir(exist_ok=True)
        with (self.runtime_dir / "stderr.log").open("ab") as output:
            # Its own session (nginx's workers with it) and killed if this process dies.
            self.process = spawn_tied(self.command(), stdout=output, stderr=output)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}:\n{self.logs()}")
            with contextlib.suppress(httpx.HTTPError):
                # Answered by nginx itself, whatever the upstreams do.
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not answer in time:\n{self.logs()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            # Fast shutdown: a graceful one would wait for every open websocket.
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # the master and its workers
                process.wait()

    def logs(self) -> str:
        parts = []
        for path in (self.runtime_dir / "stderr.log", self.error_log_path):
            if path.exists():
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
        return "\n".join(parts)

    def access_log(self) -> list[dict[str, Any]]:
        """The JSON access log's entries so far (nginx writes each line as it finishes)."""
        if not self.access_log_path.exists():
            return []
        lines = self.access_log_path.read_bytes().splitlines()
        return [orjson.loads(line) for line in lines if line.strip()]

    def __enter__(self) -> NginxProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
