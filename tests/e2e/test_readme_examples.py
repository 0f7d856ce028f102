"""The README's curl walkthrough, run as written against a real server: every example works,
and every query and mutation of the schema has one."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from graphql import build_schema

from tests.e2e.server_process import ServerProcess

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[2]
README = PROJECT_ROOT / "README.md"
DEFAULT_API = "API=http://127.0.0.1:8000/graphql"


def walkthrough() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Every operation with curl", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the README lost its curl walkthrough"
    return match.group(1)


def test_every_query_and_mutation_has_an_example() -> None:
    script = walkthrough()
    schema = build_schema((PROJECT_ROOT / "schema.graphql").read_text(encoding="utf-8"))
    missing = [
        f"{root.name}.{name}"
        for root in (schema.query_type, schema.mutation_type)
        if root is not None
        for name in root.fields
        if not re.search(rf"#\s*{name}:", script)
    ]
    assert missing == []


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walkthrough needs curl")
def test_the_walkthrough_runs_without_an_error(api_server: ServerProcess) -> None:
    script = walkthrough()
    assert DEFAULT_API in script
    script = script.replace(DEFAULT_API, f"API={api_server.base_url}/graphql")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],  # noqa: S607 -- bash from PATH, as users run it
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    replies = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(replies) >= 15  # one per operation, then GET and a batch
    for reply in replies:
        for result in reply if isinstance(reply, list) else [reply]:
            assert "errors" not in result, result
            if "data" in result:
                assert result["data"], result
            else:  # GraphQL-Cost: validate answers with the price alone
                assert result["extensions"]["cost"]["requestedQueryCost"] == 102, result
