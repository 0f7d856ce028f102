"""Persisted queries: Apollo's automatic persisted queries (APQ), and trusted documents.

APQ: a client sends `extensions.persistedQuery = {version: 1, sha256Hash}` without the document;
an unknown hash answers PERSISTED_QUERY_NOT_FOUND and the client resends hash and document,
which is kept (in Redis, shared by every instance, and in a per-process LRU in front of it)
once it has run without a parse or validation error. Hashes are SHA-256 of the document text,
so a kept document can never be replaced by another.

Trusted documents (`TASKQL_TRUSTED_DOCUMENTS`, an Apollo persisted-query manifest): only the
manifest's documents run, by hash or by text; anything else is PERSISTED_QUERY_NOT_IN_LIST.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from storage.redis import RedisClient
from storage.redis_guard import UNAVAILABLE, RedisGuard
from transport.payload import OperationRequest

log = logging.getLogger("taskql.persisted_queries")

APQ_VERSION = 1
KEY_PREFIX = "tq:apq:"
# A kept document outlives any client build that sends it; re-registering refreshes it.
TTL_SECONDS = 30 * 24 * 60 * 60
LOCAL_CAPACITY = 10_000


class PersistedQueryError(Exception):
    def __init__(self, message: str, *, code: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Resolved:
    """The operation with its document, and the hash to keep it under once it has run."""

    operation: OperationRequest
    register: str | None = None


def document_hash(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def load_manifest(path: Path) -> dict[str, str]:
    """hash -> document, from an Apollo persisted-query manifest; every id is checked."""
    manifest = orjson.loads(path.read_bytes())
    if manifest.get("format") != "apollo-persisted-query-manifest":
        raise ValueError(f"{path}: not an apollo-persisted-query-manifest")
    documents: dict[str, str] = {}
    for operation in manifest.get("operations", []):
        body = operation["body"]
        if document_hash(body) != operation["id"]:
            raise ValueError(f"{path}: operation {operation.get('name')!r}: id is not its SHA-256")
        documents[operation["id"]] = body
    return documents


class PersistedQueries:
    def __init__(
        self,
        redis: RedisClient | None,
        *,
        trusted: Mapping[str, str] | None = None,
        guard: RedisGuard | None = None,
    ) -> None:
        self.redis = redis
        self.trusted = trusted
        self.guard = guard if guard is not None else RedisGuard(redis) if redis else None
        self._local: OrderedDict[str, str] = OrderedDict()

    async def resolve(self, operation: OperationRequest) -> Resolved:
        digest = _requested_hash(operation.extensions)
        if self.trusted is not None:
            return self._trusted(operation, digest)
        if digest is None:
            if operation.query is None:
                raise PersistedQueryError(
                    "`query` must be a string holding a GraphQL document.",
                    code="BAD_USER_INPUT",
                    field="query",
                )
            return Resolved(operation)
        if operation.query is not None:
            if document_hash(operation.query) != digest:
                raise PersistedQueryError(
                    "provided sha does not match query",
                    code="BAD_USER_INPUT",
                    field="extensions.persistedQuery.sha256Hash",
                )
            known = self._local.get(digest) is not None
            return Resolved(operation, register=None if known else digest)
        query = await self._lookup(digest)
        if query is None:
            raise PersistedQueryError("PersistedQueryNotFound", code="PERSISTED_QUERY_NOT_FOUND")
        return Resolved(replace(operation, query=query))

    async def register(self, digest: str, query: str) -> None:
        """Keeps a document that ran; a Redis failure only costs a client one resend."""
        self._remember(digest, query)
        redis, guard, key = self.redis, self.guard, KEY_PREFIX + digest
        if redis is None or guard is None:
            return
        if await guard.run([key], lambda: redis.set(key, query, ex=TTL_SECONDS)) is UNAVAILABLE:
            log.info("persisted query kept in this process only: Redis unavailable")

    def _trusted(self, operation: OperationRequest, digest: str | None) -> Resolved:
        assert self.trusted is not None
        if digest is None and operation.query is not None:
            digest = document_hash(operation.query)
        query = self.trusted.get(digest) if digest is not None else None
        if query is None:
            raise PersistedQueryError(
                "This server runs only its trusted documents; this one is not among them.",
                code="PERSISTED_QUERY_NOT_IN_LIST",
            )
        return Resolved(replace(operation, query=query))

    async def _lookup(self, digest: str) -> str | None:
        query = self._local.get(digest)
        if query is not None:
            self._local.move_to_end(digest)
            return query
        redis, guard, key = self.redis, self.guard, KEY_PREFIX + digest
        if redis is None or guard is None:
            return None
        # Unknown for now when Redis is away: the client resends the document.
        stored = await guard.run([key], lambda: redis.get(key))
        if stored is None or stored is UNAVAILABLE:
            return None
        query = stored.decode() if isinstance(stored, bytes) else str(stored)
        self._remember(digest, query)
        return query

    def _remember(self, digest: str, query: str) -> None:
        self._local[digest] = query
        self._local.move_to_end(digest)
        while len(self._local) > LOCAL_CAPACITY:
            self._local.popitem(last=False)


def _requested_hash(extensions: dict[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != APQ_VERSION:
        raise PersistedQueryError(
            f"Only persisted query version {APQ_VERSION} is supported.",
            code="BAD_USER_INPUT",
            field="extensions.persistedQuery.version",
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or len(digest) != 64:
        raise PersistedQueryError(
            "`sha256Hash` must be the document's SHA-256, in hex.",
            code="BAD_USER_INPUT",
            field="extensions.persistedQuery.sha256Hash",
        )
    return digest.lower()
