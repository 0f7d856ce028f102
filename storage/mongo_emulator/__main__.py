"""`python -m storage.mongo_emulator [--host H] [--port P]`: serve until SIGTERM or SIGINT.

Prints exactly one line to stdout once connections are accepted:
`MONGODB_URL=mongodb://HOST:PORT/?directConnection=true`. Logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from observability.logging import configure_logging
from storage.mongo_emulator.mongomock_hooks import MONGOMOCK_VERSION
from storage.mongo_emulator.server import start_emulator

log = logging.getLogger("storage.mongo_emulator")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m storage.mongo_emulator",
        description="Embedded MongoDB emulator (wire protocol over mongomock) for dev and tests.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    return parser.parse_args(argv)


async def _serve(host: str, port: int) -> int:
    emulator = await start_emulator(host=host, port=port)
    log.info(
        "embedded MongoDB emulator on mongomock %s at %s — a development and test stand-in,"
        " not a database",
        MONGOMOCK_VERSION,
        emulator.url,
    )
    sys.stdout.write(f"MONGODB_URL={emulator.url}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("embedded MongoDB emulator stopping")
    await emulator.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    configure_logging()
    return asyncio.run(_serve(arguments.host, arguments.port))


if __name__ == "__main__":
    sys.exit(main())
