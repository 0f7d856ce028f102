"""How the Python peers are served: uvicorn with the options `python server.py serve` uses
(HOST, PORT and WORKERS from the environment; no access log, no Server header, uvicorn's
automatic choice of event loop and HTTP parser, i.e. uvloop and httptools when installed)."""

from __future__ import annotations

import os
from pathlib import Path

import uvicorn


def serve(factory: str) -> None:
    """Runs `module:function` (a factory returning the ASGI app) until SIGTERM."""
    uvicorn.run(
        factory,
        factory=True,
        app_dir=str(Path(__file__).resolve().parent),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        workers=int(os.environ.get("WORKERS", "1")),
        log_config=None,
        access_log=False,
        server_header=False,
    )
