"""The servers the harness compares, which scenarios each one runs, and how each is started.

A variant of taskql is one more line in CANDIDATES with its own environment, e.g.
`Candidate("taskql-noresponse", "taskql", ("list-warm",), env={"TASKQL_RESPONSE_CACHE": "0"})`;
`env` is applied on top of the harness's (bench database, one JWT key, raised cost tiers).
The Node peers' packages come from bench/peers/package-lock.json (`npm ci`), and the data they
serve from memory from the bench database (export_users).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from bson import ObjectId
from pymongo import MongoClient

PEERS = Path(__file__).resolve().parent / "peers"
NODE_PACKAGES = ("graphql-yoga", "mercurius", "graphql-jit", "fastify", "graphql")

Kind = Literal["taskql", "ceiling", "naive", "node"]

# Both object caches off: every read goes to MongoDB.
NO_CACHES = {"TASKQL_CACHE": "0", "TASKQL_RESPONSE_CACHE": "0"}


@dataclass(frozen=True)
class Candidate:
    name: str
    kind: Kind
    scenarios: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    script: str = ""  # the peer's file in bench/peers/ (not for taskql)

    @property
    def about(self) -> str:
        return ABOUT[self.name]


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("taskql", "taskql", ("hello", "list-warm", "mix", "cache-read", "cache-cold")),
    Candidate("taskql-objcache", "taskql", ("hello", "list-warm"), {"TASKQL_RESPONSE_CACHE": "0"}),
    Candidate("taskql-nocache", "taskql", ("list-cold", "cache-read"), NO_CACHES),
    Candidate("ceiling", "ceiling", ("hello", "list-warm"), script="ceiling.py"),
    Candidate("naive", "naive", ("hello", "list-warm", "list-cold"), script="naive_strawberry.py"),
    Candidate("yoga", "node", ("hello", "list-warm"), script="yoga.mjs"),
    Candidate("mercurius", "node", ("hello", "list-warm"), script="mercurius.mjs"),
)
REFERENCE = CANDIDATES[0]  # whose answers the others must give
ABOUT = {
    "taskql": "`python server.py serve`, everything on",
    "taskql-objcache": "taskql with TASKQL_RESPONSE_CACHE=0: executes every query, on the object"
    " cache (the comparison with the peers, which also serve data already in memory)",
    "taskql-nocache": "taskql with " + ", ".join(f"{k}={v}" for k, v in NO_CACHES.items()),
    "ceiling": "raw Starlette on uvicorn replaying taskql's bytes for each body",
    "naive": "plain Strawberry, async PyMongo, owner per task (N+1), no caches",
    "yoga": "GraphQL Yoga on node:http, data in memory",
    "mercurius": "Mercurius (jit: 1) on Fastify, data in memory",
}


def select(names: str | None) -> list[Candidate]:
    """The candidates named (comma-separated), in CANDIDATES' order; all for None."""
    wanted = [name.strip() for name in (names or "").split(",") if name.strip()]
    known = {candidate.name for candidate in CANDIDATES}
    if unknown := [name for name in wanted if name not in known]:
        raise ValueError(f"unknown candidates {unknown}; known: {sorted(known)}")
    return [c for c in CANDIDATES if not wanted or c.name in wanted]


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
    if candidate.kind == "node":  # one process: Node serves on one thread whatever WORKERS says
        env = {**os.environ, "BENCH_PEER_DATA": str(context.peer_data), **candidate.env}
        return ["node", str(PEERS / candidate.script)], env
    env = {**context.store_env, "MONGODB_DB": context.database, **workers, **candidate.env}
    if candidate.kind == "ceiling":
        env["BENCH_CEILING_ANSWERS"] = str(context.ceiling_answers)
    return [sys.executable, str(PEERS / candidate.script)], env


def ensure_node_peers() -> str | None:
    """`npm ci` in bench/peers when node_modules is missing or older than the lock file.
    None when the Node peers can run; else why they are skipped."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are not installed (apt-get install nodejs npm)"
    installed = PEERS / "node_modules" / ".package-lock.json"  # npm writes it when it installs
    if (
        installed.exists()
        and installed.stat().st_mtime >= (PEERS / "package-lock.json").stat().st_mtime
    ):
        return None
    print("installing the Node peers' packages (npm ci in bench/peers)...", flush=True)
    done = subprocess.run(
        [shutil.which("npm") or "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PEERS,
        capture_output=True,
        text=True,
        check=False,
    )
    return (
        f"npm ci failed: {(done.stderr or done.stdout).strip()[-500:]}" if done.returncode else None
    )


def node_versions() -> dict[str, str]:
    """node's version and each peer package's, as installed ('?' for what is missing)."""
    done = subprocess.run(
        [shutil.which("node") or "node", "--version"], capture_output=True, text=True, check=False
    )
    versions = {"node": done.stdout.strip().removeprefix("v") or "?"}
    for package in NODE_PACKAGES:
        try:
            manifest = (PEERS / "node_modules" / package / "package.json").read_text("utf-8")
            versions[package] = str(json.loads(manifest)["version"])
        except (OSError, ValueError, KeyError):
            versions[package] = "?"
    return versions


def export_users(*, mongodb_url: str, database: str, user_id: str, path: Path) -> None:
    """The user's name and tasks, read from the bench database, as the JSON file the Node peers
    serve from memory (bench/peers/shared.mjs)."""
    epoch, millisecond = datetime(1970, 1, 1), timedelta(milliseconds=1)  # naive UTC in PyMongo
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
    try:
        user = client[database]["users"].find_one({"_id": ObjectId(user_id)})
        if user is None:
            raise RuntimeError(f"user {user_id} is not in {database}")
        tasks = [
            {"id": str(task["_id"]), "title": task["title"], "status": task["status"]}
            | {"created_ms": (task["created_at"] - epoch) // millisecond}
            for task in client[database]["tasks"].find({"owner_id": ObjectId(user_id)})
        ]
    finally:
        client.close()
    users = [{"id": user_id, "name": user["name"], "tasks": tasks}]
    path.write_text(json.dumps({"users": users}), encoding="utf-8")
