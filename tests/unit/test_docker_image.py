"""docker/Dockerfile and /.dockerignore, read statically (no Docker engine needed): a multi-stage
build from the lock file, a non-root runtime that holds exactly our packages, and a context
that still contains everything the build copies."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import PurePosixPath

import pytest

from tests.unit.docker_files import PROJECT_ROOT, dockerfile_instructions


def _arguments(keyword: str) -> list[str]:
    return [arguments for name, arguments in dockerfile_instructions() if name == keyword]


def _copy_sources() -> list[tuple[str, bool]]:
    """(source, copied from another stage) for every COPY."""
    sources: list[tuple[str, bool]] = []
    for arguments in _arguments("COPY"):
        words = arguments.split()
        from_stage = any(word.startswith("--from=") for word in words)
        paths = [word for word in words if not word.startswith("--")][:-1]
        sources.extend((path, from_stage) for path in paths)
    return sources


def _context_sources() -> list[str]:
    return [source.rstrip("/") for source, from_stage in _copy_sources() if not from_stage]


def _ignore_patterns() -> list[str]:
    lines = (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip().lstrip("/") for line in lines if line.strip() and line[0] != "#"]


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            return True
        if pattern.startswith("**/") and any(fnmatch.fnmatchcase(part, bare) for part in parts):
            return True
    return False


def test_builds_in_two_stages_from_one_pinned_python() -> None:
    stages = _arguments("FROM")
    assert len(stages) >= 2
    base = next(arguments for name, arguments in dockerfile_instructions() if name == "ARG")
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim(-\w+)?", base), base
    assert all(stage.startswith("${PYTHON_IMAGE} AS ") for stage in stages)


def test_installs_the_lock_by_hash_and_fetches_graphiql() -> None:
    runs = " ".join(_arguments("RUN"))
    assert "pip install --require-hashes --no-deps -r requirements.runtime.lock" in runs
    assert "python -m graphiql.assets fetch" in runs


def test_every_copied_source_exists_in_the_context() -> None:
    sources = _context_sources()
    assert sources
    missing = [source for source in sources if not (PROJECT_ROOT / source).exists()]
    assert missing == []


def test_dockerignore_keeps_what_the_build_copies_and_drops_the_rest() -> None:
    patterns = _ignore_patterns()
    assert [source for source in _context_sources() if _ignored(source, patterns)] == []
    for unwanted in (".git", ".venv", "tests", "bench", "schema/__pycache__", ".pytest_cache"):
        assert _ignored(unwanted, patterns), unwanted


def test_copies_exactly_the_packages_and_modules_of_pyproject() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = pyproject["tool"]["setuptools"]
    packages = {pattern.rstrip("*") for pattern in setuptools["packages"]["find"]["include"]}
    modules = {f"{module}.py" for module in setuptools["py-modules"]}
    copied = set(_context_sources()) - {"requirements.runtime.lock"}
    assert copied == packages | modules


def test_runtime_is_non_root_production_and_checks_its_health() -> None:
    users = _arguments("USER")
    assert users
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0
    environment = " ".join(_arguments("ENV"))
    for setting in ("TASKQL_ENV=production", "HOST=0.0.0.0", "PORT=8000"):
        assert setting in environment
    assert _arguments("EXPOSE") == ["8000"]
    (healthcheck,) = _arguments("HEALTHCHECK")
    assert "urllib.request" in healthcheck
    assert "/healthz" in healthcheck
    assert _arguments("STOPSIGNAL") == ["SIGTERM"]


def test_runs_the_server_in_exec_form() -> None:
    (command,) = _arguments("CMD")
    assert json.loads(command) == ["python", "server.py", "serve"]


@pytest.mark.parametrize("path", ["schema/__pycache__/x.pyc", "tests/unit/test_x.py", ".git"])
def test_the_ignore_matcher_itself(path: str) -> None:
    assert _ignored(path, ["**/__pycache__", "tests", ".git"])
    assert not _ignored("schema/root.py", ["**/__pycache__", "tests", ".git"])
