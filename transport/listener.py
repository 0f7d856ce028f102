"""The HTTP socket, bound before anything else starts: a taken port stops `serve` at once, before
it starts the embedded stores for nothing.

It listens only once the stores are up, just before Uvicorn serves on it, so that until then
connections are refused rather than left waiting. Bound with SO_REUSEADDR, as Uvicorn binds,
the port can still be taken in between by another process that binds it the same way and
listens first: `listen` then fails the same way and says the same thing.
"""

from __future__ import annotations

import errno
import socket

BACKLOG = 2048  # Uvicorn's default


class ListenError(Exception):
    """The port cannot be ours; the message says why in one line, and what to do."""


def bind_listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # Lets a restart bind the port while its previous connections linger in TIME_WAIT, but
    # never while another socket listens on it.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ListenError(_explained(error, host, port)) from None
    sock.set_inheritable(True)  # worker processes serve on it too
    return sock


def listen(sock: socket.socket, host: str, port: int) -> None:
    try:
        sock.listen(BACKLOG)
    except OSError as error:
        raise ListenError(_explained(error, host, port)) from None


def listener_url(sock: socket.socket, host: str) -> str:
    bound_port = sock.getsockname()[1]
    return f"http://[{host}]:{bound_port}" if ":" in host else f"http://{host}:{bound_port}"


def _explained(error: OSError, host: str, port: int) -> str:
    if error.errno == errno.EADDRINUSE:
        other = port + 1 if port < 65535 else port - 1
        return (
            f"port {port} on {host} is already in use: stop what holds it or choose another, "
            f"e.g. PORT={other} make run"
        )
    return f"cannot listen on port {port} of {host}: {error.strerror or error}"
