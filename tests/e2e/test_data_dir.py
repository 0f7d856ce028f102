"""`server.py services` keeps the embedded MongoDB's data in TASKQL_DATA_DIR: across a clean stop,
across `kill -9` of every process, and refusing clearly a second instance on the same files."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pymongo import MongoClient

from settings import DEFAULT_DATA_DIR, Settings
from tests.e2e.server_process import PROJECT_ROOT
from tests.e2e.services_process import running_services

pytestmark = pytest.mark.e2e


def _client(url: str) -> MongoClient[dict[str, object]]:
    return MongoClient(url, serverSelectionTimeoutMS=10_000)


def test_the_database_survives_a_stop_and_a_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with (
        running_services(tmp_path, data_dir=data) as (_, urls),
        _client(urls["MONGODB_URL"]) as client,
    ):
        client.taskql.kept.insert_one({"_id": "before-stop"})
    with running_services(tmp_path, data_dir=data) as (process, urls):
        with _client(urls["MONGODB_URL"]) as client:
            assert client.taskql.kept.find_one({"_id": "before-stop"}) is not None
            client.taskql.kept.insert_one({"_id": "before-kill"})
        # SIGKILL: the stores die with it (their parent-death signal is SIGKILL too).
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=15)
    with (
        running_services(tmp_path, data_dir=data) as (_, urls),
        _client(urls["MONGODB_URL"]) as client,
    ):
        ids = {document["_id"] for document in client.taskql.kept.find()}
    assert ids == {"before-stop", "before-kill"}
    assert (data / "secantus").is_dir()


def test_a_second_instance_on_the_same_data_directory_says_why_it_cannot_start(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with running_services(tmp_path, data_dir=data):
        second = subprocess.run(
            [sys.executable, "server.py", "services"],
            cwd=PROJECT_ROOT,
            env={"PATH": "/usr/bin:/bin", "TASKQL_DATA_DIR": str(data), "TMPDIR": str(tmp_path)},
            capture_output=True,
            timeout=60,
            check=False,
        )
    assert second.returncode != 0
    assert "is in use by another process" in second.stderr.decode()
    assert "TASKQL_DATA_DIR" in second.stderr.decode()


def test_the_data_directory_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKQL_DATA_DIR")  # the suite's own throwaway setting
    assert Settings().data_dir == DEFAULT_DATA_DIR == PROJECT_ROOT / ".taskql"
    assert Settings(TASKQL_DATA_DIR="/srv/taskql").data_dir == Path("/srv/taskql")
    assert Settings(TASKQL_DATA_DIR="").data_dir is None
