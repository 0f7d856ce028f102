"""The load balancer's config (docker/nginx/nginx.conf) says what operations asked of it, and
the loopback rendering the end-to-end test runs changes nothing else and still passes
`nginx -t` (skipped without nginx)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.nginx_process import (
    NGINX_CONF,
    TEMP_PATHS,
    NginxConfigShapeError,
    NginxProcess,
    nginx_binary,
    render_loopback,
)

UPSTREAMS = ["127.0.0.1:18001", "127.0.0.1:18002", "127.0.0.1:18003"]
MIB = 1024 * 1024


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def all(self, name: str) -> list[Directive]:
        return [child for child in self.block or [] if child.name == name]

    def one(self, name: str, *args: str) -> Directive:
        found = [child for child in self.all(name) if child.args[: len(args)] == list(args)]
        assert len(found) == 1, f"{name} {' '.join(args)}: {len(found)} found in {self.name}"
        return found[0]

    def value(self, name: str) -> list[str]:
        return self.one(name).args


def _tokens(text: str) -> list[str]:
    pattern = re.compile(r"""#[^\n]*|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[{};]|[^\s{};"'#]+""")
    return [
        token[1:-1] if token[0] in "\"'" else token
        for token in pattern.findall(text)
        if not token.startswith("#")
    ]


def parse(text: str) -> Directive:
    """nginx's syntax, enough to find directives and blocks: words, quotes, `;`, `{ }`."""
    root = Directive("main", [], [])
    stack = [root]
    words: list[str] = []
    for token in _tokens(text):
        children = stack[-1].block
        assert children is not None
        if token == ";":
            assert words, "an empty directive"
            children.append(Directive(words[0], words[1:]))
            words = []
        elif token == "{":
            block = Directive(words[0], words[1:], [])
            children.append(block)
            stack.append(block)
            words = []
        elif token == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
        else:
            words.append(token)
    assert len(stack) == 1, "unbalanced braces"
    assert not words
    return root


@dataclass
class Config:
    main: Directive
    http: Directive = field(init=False)
    server: Directive = field(init=False)

    def __post_init__(self) -> None:
        self.http = self.main.one("http")
        self.server = self.http.one("server")

    def location(self, *args: str) -> Directive:
        return self.server.one("location", *args)


@pytest.fixture(scope="module")
def config() -> Config:
    return Config(parse(NGINX_CONF.read_text(encoding="utf-8")))


def _seconds(value: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = re.fullmatch(r"(\d+)([smh]?)", value).groups()  # type: ignore[union-attr]
    return int(number) * units.get(unit or "s", 1)


def _bytes(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmM]?)", value).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": MIB}[unit.lower()]


def test_the_upstream_balances_three_instances_by_least_connections(config: Config) -> None:
    upstream = config.http.one("upstream", "taskql")
    assert upstream.value("least_conn") == []
    assert upstream.all("zone") != []
    servers = upstream.all("server")
    assert [server.args[0] for server in servers] == ["app1:8000", "app2:8000", "app3:8000"]
    for server in servers:
        parameters = dict(arg.split("=", 1) for arg in server.args[1:])
        assert int(parameters["max_fails"]) >= 1
        assert _seconds(parameters["fail_timeout"]) >= 1
    assert int(upstream.value("keepalive")[0]) > 0
    # Shorter than uvicorn's 5 s keep-alive, so nginx closes idle connections first.
    assert _seconds(upstream.value("keepalive_timeout")[0]) < 5


def test_the_server_listens_on_80_and_proxies_over_http_1_1_with_forwarding_headers(
    config: Config,
) -> None:
    assert config.server.value("listen")[0] == "80"
    assert config.server.value("proxy_http_version") == ["1.1"]
    headers = {d.args[0].lower(): d.args[1] for d in config.server.all("proxy_set_header")}
    assert headers["x-forwarded-for"] == "$proxy_add_x_forwarded_for"
    assert headers["x-real-ip"] == "$remote_addr"
    assert headers["x-forwarded-proto"] == "$scheme"
    assert headers["upgrade"] == "$http_upgrade"
    assert headers["connection"] == "$connection_upgrade"
    # A location's own proxy_set_header would drop every inherited one.
    for location in config.server.all("location"):
        assert location.all("proxy_set_header") == [], location.args


def test_websockets_upgrade_on_graphql_with_long_timeouts(config: Config) -> None:
    upgrade = config.http.one("map", "$http_upgrade", "$connection_upgrade")
    assert {d.name: d.args for d in upgrade.block or []} == {"default": ["upgrade"], "": [""]}
    graphql = config.location("=", "/graphql")
    assert graphql.value("proxy_pass") == ["http://taskql"]
    assert graphql.one("error_page", "418").args[1:] == ["=", "@graphql_websocket"]
    websocket = config.location("@graphql_websocket")
    assert websocket.value("proxy_pass") == ["http://taskql"]
    assert _seconds(websocket.value("proxy_read_timeout")[0]) >= 3600
    assert _seconds(config.server.value("proxy_read_timeout")[0]) <= 120


def test_request_ids_pass_through_and_come_back(config: Config) -> None:
    request_id = config.http.one("map", "$http_x_request_id", "$req_id")
    assert request_id.one("default").args == ["$request_id"]
    headers = {d.args[0].lower(): d.args[1] for d in config.server.all("proxy_set_header")}
    assert headers["x-request-id"] == "$req_id"
    assert config.server.value("proxy_hide_header") == ["X-Request-ID"]
    assert config.server.value("add_header") == ["X-Request-ID", "$req_id", "always"]


def test_bodies_a_little_over_1_mib_still_reach_the_app(config: Config) -> None:
    limit = _bytes(config.server.value("client_max_body_size")[0])
    assert MIB < limit <= 2 * MIB
    # Bodies over nginx's limit get the app's JSON, wherever error_page is redefined.
    for block in (config.server, config.location("=", "/graphql")):
        assert block.one("error_page", "413").args[1:] == ["@body_too_large"]
    too_large = config.location("@body_too_large")
    assert too_large.value("default_type") == ["application/json"]
    assert too_large.value("return")[0] == "413"
    assert '"code":"BAD_USER_INPUT"' in too_large.value("return")[1]


def test_only_idempotent_or_unsent_requests_move_to_the_next_instance(config: Config) -> None:
    retried = config.server.value("proxy_next_upstream")
    assert retried == ["error", "timeout", "http_502", "http_503"]
    for location in config.server.all("location"):
        for directive in location.all("proxy_next_upstream"):
            assert "non_idempotent" not in directive.args


def test_health_readiness_and_metrics_routes(config: Config) -> None:
    assert config.location("=", "/healthz").value("return")[0] == "200"
    assert config.location("=", "/readyz").value("proxy_pass") == ["http://taskql"]
    metrics = config.location("=", "/metrics")
    assert metrics.all("proxy_pass") == []
    assert metrics.value("return") == ["404"]


def test_the_access_log_is_json_with_request_id_and_upstream_timing(config: Config) -> None:
    log_format = config.http.one("log_format", "taskql_json")
    assert log_format.args[1] == "escape=json"
    line = "".join(log_format.args[2:])
    for variable in ("$req_id", "$upstream_addr", "$upstream_response_time", "$status"):
        assert variable in line
    assert config.http.value("access_log")[1:] == ["taskql_json"]


def test_rendering_changes_only_the_machine_specific_directives(tmp_path: Path) -> None:
    source = NGINX_CONF.read_text(encoding="utf-8")
    rendered = render_loopback(source, upstreams=UPSTREAMS, port=18080, runtime_dir=tmp_path)
    rewritten = {"user", "pid", "error_log", "access_log", "listen", "server", *TEMP_PATHS}
    source_lines, rendered_lines = source.splitlines(), rendered.splitlines()
    assert len(source_lines) == len(rendered_lines)
    changed = [
        (before, after)
        for before, after in zip(source_lines, rendered_lines, strict=True)
        if before != after
    ]
    names = {before.split()[0] for before, _ in changed}
    # `user` is rewritten only as root (nginx ignores it otherwise).
    assert rewritten - {"user"} <= names <= rewritten
    for _, after in changed:
        assert "/var/" not in after
        assert "app1" not in after
    parsed = Config(parse(rendered))
    addresses = [s.args[0] for s in parsed.http.one("upstream", "taskql").all("server")]
    assert addresses == UPSTREAMS
    assert parsed.server.value("listen")[0] == "127.0.0.1:18080"
    assert parsed.main.value("pid") == [str(tmp_path / "nginx.pid")]


@pytest.mark.parametrize(
    ("pattern", "replacement"),
    [
        (r"^pid .*$", ""),
        (r"^\s*listen .*$", ""),
        (r"^\s*proxy_temp_path .*$", ""),
        (r"^(\s*)server app3:8000.*$", ""),
        (r"^(\s*)upstream taskql", r"\1upstream app"),
    ],
)
def test_rendering_fails_loudly_when_the_config_changes_shape(
    tmp_path: Path, pattern: str, replacement: str
) -> None:
    source = NGINX_CONF.read_text(encoding="utf-8")
    changed = re.sub(pattern, replacement, source, count=1, flags=re.MULTILINE)
    assert changed != source
    with pytest.raises(NginxConfigShapeError):
        render_loopback(changed, upstreams=UPSTREAMS, port=18080, runtime_dir=tmp_path)


def test_nginx_accepts_the_rendered_config(tmp_path: Path) -> None:
    if nginx_binary() is None:
        pytest.skip("no nginx: install the Debian package `nginx` (.ci/run does)")
    checked = NginxProcess(upstreams=UPSTREAMS, runtime_dir=tmp_path).check()
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr
