"""Redis keys and values of the object cache.

Every key starts with the cache's schema version (a deploy that changes a cached shape reads
none of the old entries) and carries its owner as a `{hash tag}`: all keys of one owner share
a Redis Cluster slot, so one MGET or script covers them.

Every value starts with the cluster-wide epoch it was written under (fixed width), and a
reader takes only values of its own epoch: bumping the epoch retires everything at once.
The epoch is in the value, not in the key, so that instances briefly on different epochs
(each bumps it after an outage, and reads it every second) still share one task key and one
generation per owner: a write on any of them retires what every one of them cached.
"""

from __future__ import annotations

from enum import StrEnum

from beanie import PydanticObjectId

# Bump whenever the shape of a cached value changes.
CACHE_SCHEMA_VERSION = 4
PREFIX = f"tq:c{CACHE_SCHEMA_VERSION}"
EPOCH_KEY = f"{PREFIX}:epoch"

# Every value starts with its epoch; a task's body then with its version, both fixed width,
# so a script compares versions cheaply (characters 13-24 of a task value).
EPOCH_WIDTH = 12
VERSION_WIDTH = 12
DELETED_VERSION = 10**VERSION_WIDTH - 1
# A list value starts with the owner's generation it was computed under.
SEPARATOR = b"|"
# Read when an owner has no generation yet: no entry is ever filled under it.
NO_GENERATION = b""


class CacheKind(StrEnum):
    USER = "user"
    TASK = "task"
    TASK_LIST = "task_list"
    TASK_COUNTS = "task_counts"
    RESPONSE = "response"


TTL_SECONDS: dict[CacheKind, int] = {
    CacheKind.USER: 15 * 60,
    CacheKind.TASK: 10 * 60,
    CacheKind.TASK_LIST: 5 * 60,
    CacheKind.TASK_COUNTS: 5 * 60,
    CacheKind.RESPONSE: 5 * 60,
}
# Outlives every list entry, so a generation can never come back while entries made under
# it still live (generations are random tokens, never reused).
GENERATION_TTL_SECONDS = 60 * 60


class CacheKeys:
    """Key names, and the value stamp of one epoch."""

    base = PREFIX

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self._stamp = b"%0*d" % (EPOCH_WIDTH, epoch)

    def stamp(self, body: bytes) -> bytes:
        return self._stamp + body

    def unstamp(self, value: bytes) -> bytes | None:
        """The body of a value written under this epoch, else None (retired)."""
        if value[:EPOCH_WIDTH] != self._stamp:
            return None
        return value[EPOCH_WIDTH:]

    def user(self, user_id: PydanticObjectId) -> str:
        return f"{self.base}:{{{user_id}}}:user"

    def task(self, owner_id: PydanticObjectId, task_id: PydanticObjectId) -> str:
        return f"{self.base}:{{{owner_id}}}:task:{task_id}"

    def generation(self, owner_id: PydanticObjectId) -> str:
        return f"{self.base}:{{{owner_id}}}:generation"

    def task_list(self, owner_id: PydanticObjectId, name: str) -> str:
        return f"{self.base}:{{{owner_id}}}:list:{name}"

    def task_counts(self, owner_id: PydanticObjectId) -> str:
        return f"{self.base}:{{{owner_id}}}:counts"

    def response(self, owner_id: PydanticObjectId, digest: str) -> str:
        return f"{self.base}:{{{owner_id}}}:response:{digest}"


def versioned(version: int, payload: bytes) -> bytes:
    return b"%0*d" % (VERSION_WIDTH, version) + SEPARATOR + payload


def unversioned(value: bytes) -> bytes | None:
    """The payload of a versioned value; None for a deleted task's tombstone."""
    if int(value[:VERSION_WIDTH]) == DELETED_VERSION:
        return None
    return value[VERSION_WIDTH + 1 :]


def tombstone() -> bytes:
    return versioned(DELETED_VERSION, b"")


def of_generation(generation: bytes, payload: bytes) -> bytes:
    return generation + SEPARATOR + payload


def payload_if_current(value: bytes, generation: bytes) -> bytes | None:
    """The payload of a list value computed under `generation`, else None (retired)."""
    head, _, payload = value.partition(SEPARATOR)
    return payload if head == generation else None
