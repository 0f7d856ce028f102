"""GraphiQL's page and every file it loads, all served by this server (it works offline).

`graphiql_response` answers a browser's GET /graphql; `graphiql_routes` serves the pinned npm
files (installed by `python -m graphiql.assets fetch`) and our own script and stylesheet, under
names that change with their content, so browsers may cache them for good.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from string import Template

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from graphiql.assets import FETCH_COMMAND, default_destination, is_current, load_manifest

PREFIX = "/graphiql"
STATIC_DIR = Path(__file__).with_name("static")
TEMPLATE = Path(__file__).with_name("page.html")
OWN_STYLESHEET = "taskql-graphiql.css"
OWN_SCRIPT = "taskql-graphiql.js"

# The npm files the page loads, in order: React before GraphiQL, GraphiQL before its plugin,
# and our own script last (it uses all three globals).
VENDOR_STYLESHEETS = (
    ("graphiql", "graphiql.min.css"),
    ("@graphiql/plugin-explorer", "dist/style.css"),
)
VENDOR_SCRIPTS = (
    ("react", "umd/react.production.min.js"),
    ("react-dom", "umd/react-dom.production.min.js"),
    ("graphiql", "graphiql.min.js"),
    ("@graphiql/plugin-explorer", "dist/index.umd.js"),
)
PREFILL_PARAMETERS = ("query", "variables", "operationName")

# Every URL carries a version (npm's, or a digest of our file), so a URL never changes content.
IMMUTABLE = "public, max-age=31536000, immutable"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    "": "text/plain; charset=utf-8",  # LICENSE
}
# The browser itself enforces "nothing from elsewhere": scripts, styles and connections (HTTP
# and the subscription websocket) go to this origin only. GraphiQL's fonts are data: URLs, and
# its components set inline styles.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
}

NOT_INSTALLED = f"""<!doctype html>
<html lang="en">
  <head><meta charset="utf-8" /><title>GraphiQL is not installed</title></head>
  <body>
    <h1>GraphiQL's files are not installed on this server</h1>
    <p>This server serves GraphiQL's pinned npm files itself, and they have not been fetched
    into its Python environment yet. On the server, run <code>make run</code>, or
    <code>{FETCH_COMMAND}</code> with the server's Python, then reload this page.</p>
    <p>The API itself works: POST GraphQL requests to this URL.</p>
  </body>
</html>
"""


def graphiql_response(request: Request) -> Response:
    """GraphiQL for a browser's GET /graphql: `?query=` fills the editor, nothing executes."""
    if not is_current(default_destination(), packages=load_manifest()):
        return HTMLResponse(NOT_INSTALLED, status_code=503, headers={"Cache-Control": "no-store"})
    prefill = {name: request.query_params.get(name) for name in PREFILL_PARAMETERS}
    page = render_page(
        endpoint=request.url.path, prefill=prefill, base=request.scope.get("root_path", "")
    )
    return HTMLResponse(page, headers=PAGE_HEADERS)


def render_page(*, endpoint: str, prefill: Mapping[str, str | None], base: str = "") -> str:
    """The page's HTML; request values reach it only as escaped JSON inside a data block."""
    folders = {package.name: package.folder for package in load_manifest()}
    vendor, static = f"{base}{PREFIX}/vendor", f"{base}{PREFIX}/static"
    stylesheets = [f"{vendor}/{folders[name]}/{file}" for name, file in VENDOR_STYLESHEETS]
    stylesheets.append(f"{static}/{versioned_name(OWN_STYLESHEET)}")
    scripts = [f"{vendor}/{folders[name]}/{file}" for name, file in VENDOR_SCRIPTS]
    scripts.append(f"{static}/{versioned_name(OWN_SCRIPT)}")
    config = {"endpoint": endpoint, **prefill}
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        stylesheets="\n".join(
            f'    <link rel="stylesheet" href="{html.escape(url)}" />' for url in stylesheets
        ),
        scripts="\n".join(f'    <script src="{html.escape(url)}"></script>' for url in scripts),
        config=json_for_script(config),
    )


def json_for_script(value: object) -> str:
    """JSON that cannot end its <script> element or open a comment: no raw `<`, `>` or `&`."""
    text = json.dumps(value, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def versioned_name(file: str) -> str:
    """`taskql-graphiql.js` as `taskql-graphiql.<digest>.js`: a new name whenever it changes."""
    digest = hashlib.sha256((STATIC_DIR / file).read_bytes()).hexdigest()[:12]
    path = PurePosixPath(file)
    return f"{path.stem}.{digest}{path.suffix}"


async def vendor_asset(request: Request) -> Response:
    """A file the manifest lists, and nothing else: no request path reaches the disk unchecked."""
    asset: str = request.path_params["asset"]
    listed = {f"{p.folder}/{file}" for p in load_manifest() for file in p.files}
    path = default_destination() / asset
    if asset not in listed or not path.is_file():
        return PlainTextResponse("Not Found", status_code=404)
    return _immutable_file(path)


async def own_asset(request: Request) -> Response:
    """Our script or stylesheet, under its current versioned name only."""
    name: str = request.path_params["name"]
    for file in (OWN_STYLESHEET, OWN_SCRIPT):
        if name == versioned_name(file):
            return _immutable_file(STATIC_DIR / file)
    return PlainTextResponse("Not Found", status_code=404)


def _immutable_file(path: Path) -> Response:
    return FileResponse(
        path,
        media_type=CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
        headers={"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"},
    )


def graphiql_routes() -> list[BaseRoute]:
    """The routes of every file the page loads (GET, and HEAD with it)."""
    return [
        Route(f"{PREFIX}/vendor/{{asset:path}}", vendor_asset, methods=["GET"]),
        Route(f"{PREFIX}/static/{{name}}", own_asset, methods=["GET"]),
    ]
