"""The ceiling: a raw Starlette app that answers POST /graphql with the bytes taskql gave for the
same body, captured by the harness before timing. What an ASGI server and Starlette cost alone.

    BENCH_CEILING_ANSWERS=answers.json HOST=127.0.0.1 PORT=8001 python bench/peers/ceiling.py

The file is a JSON list of {"body", "status", "content_type", "answer"} (strings).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from serving import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

UNKNOWN = b'{"errors":[{"message":"the ceiling has no answer for this body"}]}'


def create_app() -> Starlette:
    recorded = json.loads(Path(os.environ["BENCH_CEILING_ANSWERS"]).read_text(encoding="utf-8"))
    answers = {
        entry["body"].encode(): (entry["status"], entry["content_type"], entry["answer"].encode())
        for entry in recorded
    }

    async def graphql(request: Request) -> Response:
        found = answers.get(await request.body())
        if found is None:
            return Response(UNKNOWN, status_code=400, media_type="application/json")
        status, content_type, answer = found
        return Response(answer, status_code=status, headers={"content-type": content_type})

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


if __name__ == "__main__":
    serve("ceiling:create_app")
