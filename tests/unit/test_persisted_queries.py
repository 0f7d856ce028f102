"""Trusted-document manifests are checked when loaded, and APQ extensions when read."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest

from transport.payload import operations_from_body
from transport.persisted_queries import load_manifest

ME = "query Me { me { id } }"


def _manifest(tmp_path: Path, **operation: str) -> Path:
    path = tmp_path / "manifest.json"
    document = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [operation],
    }
    path.write_bytes(orjson.dumps(document))
    return path


def test_a_manifest_maps_each_hash_to_its_document(tmp_path: Path) -> None:
    digest = hashlib.sha256(ME.encode()).hexdigest()
    assert load_manifest(_manifest(tmp_path, id=digest, body=ME)) == {digest: ME}


def test_a_manifest_whose_id_is_not_the_hash_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not its SHA-256"):
        load_manifest(_manifest(tmp_path, id="0" * 64, body=ME, name="Me"))


def test_a_body_without_query_is_a_request_only_with_a_persisted_query() -> None:
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    (operation,), _ = operations_from_body({"extensions": extensions})
    assert operation.query is None
    assert operation.extensions == extensions
