"""Which MongoDB the server embeds, and independent side-by-side runs from one checkout."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

from tests.e2e.server_process import PROJECT_ROOT, ServerProcess

EMBEDDED = {"MONGODB_URL": None, "REDIS_URL": None, "JWT_SECRET": None}

# Stands in for a mongod binary: checks the arguments a real mongod needs, then serves the
# wire protocol on the port it was given (SecantusDB, storing in the mongod data directory).
MONGOD_STAND_IN = """#!{python}
import os, sys
arguments = sys.argv[1:]
def value(flag):
    return arguments[arguments.index(flag) + 1]
assert os.path.isdir(value("--dbpath")), "the data directory must exist"
assert "--nounixsocket" in arguments
with open(os.path.join(value("--dbpath"), "started-by-taskql"), "w") as marker:
    marker.write(" ".join(arguments))
os.execv(sys.executable, [sys.executable, "-m", "secantus", "--host", value("--bind_ip"),
                          "--port", value("--port"), "--storage-path", value("--dbpath"),
                          "--log-level", "WARNING"])
"""


def test_a_mongod_binary_is_preferred_to_secantusdb(tmp_path: Path) -> None:
    mongod = tmp_path / "bin" / "mongod"
    mongod.parent.mkdir()
    mongod.write_text(MONGOD_STAND_IN.format(python=sys.executable))
    mongod.chmod(mongod.stat().st_mode | stat.S_IXUSR)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    env = {
        **EMBEDDED,
        "MONGOD_BINARY": str(mongod),
        "TMPDIR": str(runtime),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    with ServerProcess(env=env) as server:
        assert server.get("/readyz").json()["dependencies"]["mongodb"] == "ok"
        markers = list(runtime.glob("taskql-*/mongod/started-by-taskql"))
        assert len(markers) == 1
        assert "--bind_ip 127.0.0.1" in markers[0].read_text()


def test_two_servers_run_side_by_side_with_their_own_stores(tmp_path: Path) -> None:
    env = {**EMBEDDED, "TMPDIR": str(tmp_path)}
    with ServerProcess(env=env) as first, ServerProcess(env=env) as second:
        assert first.port != second.port
        for server in (first, second):
            assert server.get("/readyz").json()["status"] == "ok"
        assert len(list(tmp_path.glob("taskql-*"))) == 2
    assert list(tmp_path.iterdir()) == []
