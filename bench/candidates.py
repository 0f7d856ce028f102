"""The servers the harness compares, and which scenarios each one runs.

A variant of taskql is one more line in CANDIDATES with its own environment, e.g.
`Candidate("taskql-noresponse", "taskql", ("list-warm",), env={"TASKQL_RESPONSE_CACHE": "0"})`.
Every taskql candidate also gets the harness's shared environment (bench database, one JWT
key, raised cost tier, WORKERS); `env` is applied on top of it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

PEERS = Path(__file__).resolve().parent / "peers"

Kind = Literal["taskql", "ceiling", "naive", "node"]

# Both object caches off: every read goes to MongoDB. Unknown variables are ignored by the
# server's settings, so a name that does not exist (yet) changes nothing.
NO_CACHES = {"TASKQL_CACHE": "0", "TASKQL_RESPONSE_CACHE": "0"}


@dataclass(frozen=True)
class Candidate:
    name: str
    kind: Kind
    scenarios: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    script: str = ""  # the peer's file in bench/peers/ (not for taskql)
    about: str = ""

    @property
    def is_database(self) -> bool:
        """Reads its answers from MongoDB on every request (may run cold scenarios)."""
        return self.kind in ("taskql", "naive")


CANDIDATES: tuple[Candidate, ...] = (
    Candidate(
        "taskql",
        "taskql",
        ("hello", "list-warm", "mix"),
        env={},
        about="`python server.py serve`, everything on",
    ),
    Candidate(
        "taskql-objcache",
        "taskql",
        ("hello", "list-warm"),
        env={"TASKQL_RESPONSE_CACHE": "0"},
        about="taskql with TASKQL_RESPONSE_CACHE=0: executes every query, on the object "
        "cache (the comparison with the peers, which also serve data already in memory)",
    ),
    Candidate(
        "taskql-nocache",
        "taskql",
        ("list-cold",),
        env=NO_CACHES,
        about="taskql with " + ", ".join(f"{k}={v}" for k, v in NO_CACHES.items()),
    ),
    Candidate(
        "ceiling",
        "ceiling",
        ("hello", "list-warm"),
        script="ceiling.py",
        about="raw Starlette on uvicorn replaying taskql's bytes for each body",
    ),
    Candidate(
        "naive",
        "naive",
        ("hello", "list-warm", "list-cold"),
        script="naive_strawberry.py",
        about="plain Strawberry, async PyMongo, owner per task (N+1), no caches",
    ),
    Candidate(
        "yoga",
        "node",
        ("hello", "list-warm"),
        script="yoga.mjs",
        about="GraphQL Yoga on node:http, data in memory",
    ),
    Candidate(
        "mercurius",
        "node",
        ("hello", "list-warm"),
        script="mercurius.mjs",
        about="Mercurius (jit: 1) on Fastify, data in memory",
    ),
)

# The candidate whose throughput the others are divided into, per kind of scenario.
REFERENCE = "taskql"


def select(names: str | None) -> list[Candidate]:
    """The candidates named (comma-separated), in CANDIDATES' order; all for None."""
    if not names:
        return list(CANDIDATES)
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    known = {candidate.name for candidate in CANDIDATES}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ValueError(f"unknown candidates {unknown}; known: {sorted(known)}")
    return [candidate for candidate in CANDIDATES if candidate.name in wanted]


@dataclass(frozen=True)
class LaunchContext:
    """What starting any candidate needs, beyond its own definition."""

    store_env: Mapping[str, str]  # this process's environment with MONGODB_URL, REDIS_URL
    taskql_env: Mapping[str, str]  # shared by every taskql candidate
    database: str
    workers: int
    ceiling_answers: Path
    peer_data: Path


def launch_command(
    candidate: Candidate, context: LaunchContext
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a candidate's server (HOST and PORT come later)."""
    workers = {"WORKERS": str(context.workers)}
    if candidate.kind == "taskql":
        env = {**context.store_env, **context.taskql_env, **workers, **candidate.env}
        return [sys.executable, "server.py", "serve"], env
    if candidate.kind == "node":
        # One process: Node serves on one thread whatever WORKERS says.
        env = {**os.environ, "BENCH_PEER_DATA": str(context.peer_data), **candidate.env}
        return ["node", str(PEERS / candidate.script)], env
    env = {**context.store_env, "MONGODB_DB": context.database, **workers, **candidate.env}
    if candidate.kind == "ceiling":
        env["BENCH_CEILING_ANSWERS"] = str(context.ceiling_answers)
    return [sys.executable, str(PEERS / candidate.script)], env
