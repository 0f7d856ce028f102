"""The Node peers' packages: `npm ci` in bench/peers (from its committed package-lock.json)
when node_modules is missing or older than the lock file, and the versions installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

PEERS = Path(__file__).resolve().parent / "peers"
PACKAGES = ("graphql-yoga", "mercurius", "graphql-jit", "fastify", "graphql")
# npm writes this when it installs; older than the lock file means the install is stale.
INSTALLED = PEERS / "node_modules" / ".package-lock.json"


def ensure_node_peers() -> str | None:
    """None when the peers can run; else why they are skipped."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are not installed (apt-get install nodejs npm)"
    lock = PEERS / "package-lock.json"
    if INSTALLED.exists() and INSTALLED.stat().st_mtime >= lock.stat().st_mtime:
        return None
    print("installing the Node peers' packages (npm ci in bench/peers)...", flush=True)
    done = subprocess.run(
        [shutil.which("npm") or "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PEERS,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return f"npm ci failed: {(done.stderr or done.stdout).strip()[-500:]}"
    return None


def node_versions() -> dict[str, str]:
    """node's version and each peer package's, as installed ('?' for what is missing)."""
    versions: dict[str, str] = {}
    try:
        done = subprocess.run(
            [shutil.which("node") or "node", "--version"],
            capture_output=True,
            text=True,
            check=False,
        )
        versions["node"] = done.stdout.strip().removeprefix("v") or "?"
    except OSError:
        versions["node"] = "?"
    for package in PACKAGES:
        manifest = PEERS / "node_modules" / package / "package.json"
        try:
            versions[package] = str(json.loads(manifest.read_text(encoding="utf-8"))["version"])
        except (OSError, ValueError, KeyError):
            versions[package] = "?"
    return versions
