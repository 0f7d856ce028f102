"""Equality and `$in` lookups on indexed fields stay exact through every kind of write.

An index must never change an answer: each lookup runs on an indexed collection, on an
unindexed twin that saw the same writes, and against a Python model of MongoDB's equality (a
value or an array element; null also matches a missing field). The three must agree. Only
the driver's public API is used: these pass unchanged against a real mongod (MONGODB_URL=...)
and SecantusDB.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson.objectid import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

Db = AsyncDatabase[dict[str, Any]]
Collection = AsyncCollection[dict[str, Any]]
Document = dict[str, Any]

SCALARS: list[Any] = [0, 1, 2, "a", "b"]
SLOTS: list[Any] = [None, 0, 1, 2]  # owner and key: the unique index's fields
UNSET = object()


def equal(stored: Any, wanted: Any) -> bool:
    return type(stored) is type(wanted) and stored == wanted


def matches(document: Document, name: str, wanted: Any) -> bool:
    """MongoDB equality on a top-level field: the value or an array element; null also missing."""
    if name not in document:
        return wanted is None
    stored = document[name]
    if isinstance(stored, list):
        return any(equal(item, wanted) for item in stored)
    return equal(stored, wanted)


def id_order(value: Any) -> tuple[int, Any]:
    """BSON order of the _ids used here: numbers before ObjectIds."""
    return (1, value.binary) if isinstance(value, ObjectId) else (0, value)


class Model:
    """What the collection holds, and what MongoDB's unique index on (owner, key) allows."""

    def __init__(self) -> None:
        self.documents: dict[Any, Document] = {}

    def clashes(self, document: Document) -> bool:
        slot = (document.get("owner"), document.get("key"))  # missing indexes as null
        return any(
            (other.get("owner"), other.get("key")) == slot
            for other_id, other in self.documents.items()
            if other_id != document["_id"]
        )

    def find(self, name: str, values: list[Any]) -> list[Document]:
        found = [d for d in self.documents.values() if any(matches(d, name, v) for v in values)]
        return sorted(found, key=lambda document: id_order(document["_id"]))


async def create_indexes(indexed: Collection) -> None:
    await indexed.create_index([("owner", 1), ("key", 1)], unique=True, name="owner_key")
    await indexed.create_index([("tag", 1)], name="tag")


async def found(collection: Collection, query: dict[str, Any]) -> list[Document]:
    documents = await collection.find(query).to_list()
    return sorted(documents, key=lambda document: id_order(document["_id"]))


async def refused(attempt: Awaitable[Any], document: Document) -> None:
    """The write fails with E11000 naming the (owner, key) index and the document's key."""
    with pytest.raises(DuplicateKeyError) as caught:
        await attempt
    assert caught.value.details is not None
    assert caught.value.details["keyPattern"] == {"owner": 1, "key": 1}
    key_value = {"owner": document.get("owner"), "key": document.get("key")}
    assert caught.value.details["keyValue"] == key_value


@dataclass
class Twins:
    """An indexed collection, its unindexed twin, and the model of what both hold."""

    indexed: Collection
    plain: Collection
    model: Model = field(default_factory=Model)

    @property
    def both(self) -> tuple[Collection, Collection]:
        return (self.indexed, self.plain)

    async def assert_lookups_agree(self) -> None:
        """Every lookup answers the same on the indexed collection, its twin and the model."""
        ids = [*self.model.documents, 99]
        lookups: list[tuple[str, list[Any]]] = [
            *(("owner", [value]) for value in SLOTS),
            *(("tag", [value]) for value in [*SCALARS, None]),
            ("tag", ["a", 2]),
            ("tag", [None, 0]),
            ("owner", [0, 2]),
            ("_id", ids[:3]),
            *(("_id", [value]) for value in ids[-3:]),
        ]
        for name, values in lookups:
            query = {name: values[0]} if len(values) == 1 else {name: {"$in": values}}
            expected = self.model.find(name, values)
            assert await found(self.indexed, query) == expected, query
            assert await found(self.plain, query) == expected, query
            assert await self.indexed.count_documents(query) == len(expected), query
        for owner in SLOTS:
            pinned = {"$and": [{"owner": owner}, {"tag": {"$in": ["a", 1]}}]}
            expected = [
                document
                for document in self.model.find("owner", [owner])
                if matches(document, "tag", "a") or matches(document, "tag", 1)
            ]
            assert await found(self.indexed, pinned) == expected, pinned

    async def write(self, operation: tuple[Any, ...]) -> bool:
        """Apply one write to both collections and the model; True if the unique index refused
        it (the model predicts which, and the E11000 it names)."""
        kind, *arguments = operation
        return bool(await getattr(self, f"_{kind}")(*arguments))

    async def _by_id(
        self, target: Any, after: Document | None, apply: Callable[[Collection], Awaitable[Any]]
    ) -> bool:
        if after is not None and self.model.clashes(after):
            await refused(apply(self.indexed), after)
            return True
        for collection in self.both:
            await apply(collection)
        if after is not None:
            self.model.documents[target] = after
        return False

    async def _insert(self, target: Any, fields: Document) -> bool:
        document = {"_id": target, **fields}
        if target in self.model.documents:
            for collection in self.both:
                with pytest.raises(DuplicateKeyError):
                    await collection.insert_one(dict(document))
            return False
        return await self._by_id(target, document, lambda c: c.insert_one(dict(document)))

    async def _set(self, target: Any, name: str, value: Any = UNSET) -> bool:
        current = self.model.documents.get(target)
        after = None if current is None else {k: v for k, v in current.items() if k != name}
        if after is not None and value is not UNSET:
            after[name] = value
        change = {"$unset": {name: ""}} if value is UNSET else {"$set": {name: value}}
        return await self._by_id(target, after, lambda c: c.update_one({"_id": target}, change))

    _unset = _set

    async def _replace(self, target: Any, fields: Document) -> bool:
        after = None if target not in self.model.documents else {"_id": target, **fields}
        return await self._by_id(target, after, lambda c: c.replace_one({"_id": target}, fields))

    async def _delete(self, target: Any) -> None:
        for collection in self.both:
            await collection.delete_one({"_id": target})
        self.model.documents.pop(target, None)

    async def _delete_tagged(self, tag: Any) -> None:
        for collection in self.both:
            await collection.delete_many({"tag": tag})
        for document in self.model.find("tag", [tag]):
            del self.model.documents[document["_id"]]

    async def _tag_owner(self, owner: Any, tag: Any) -> None:
        for collection in self.both:
            await collection.update_many({"owner": owner}, {"$set": {"tag": tag}})
        for document in self.model.find("owner", [owner]):
            document["tag"] = tag

    async def _upsert(self, owner: Any, key: Any, tag: Any) -> None:
        current = [d for d in self.model.find("owner", [owner]) if matches(d, "key", key)]
        result = await self.indexed.update_one(
            {"owner": owner, "key": key}, {"$set": {"tag": tag}}, upsert=True
        )
        if current:
            assert result.upserted_id is None
            await self.plain.update_one({"_id": current[0]["_id"]}, {"$set": {"tag": tag}})
            current[0]["tag"] = tag
            return
        document = {"_id": result.upserted_id, "owner": owner, "key": key, "tag": tag}
        await self.plain.insert_one(dict(document))
        self.model.documents[document["_id"]] = document

    async def _take(self, owner: Any, name: str, value: Any) -> bool:
        chosen = self.model.find("owner", [owner])
        after = {**chosen[0], name: value} if chosen else None
        change = {"$set": {name: value}}

        def take(collection: Collection) -> Awaitable[Any]:
            return collection.find_one_and_update(
                {"owner": owner}, change, sort=[("_id", 1)], return_document=ReturnDocument.AFTER
            )

        if after is not None and self.model.clashes(after):
            await refused(take(self.indexed), after)
            return True
        for collection in self.both:
            assert await take(collection) == after
        if after is not None:
            self.model.documents[after["_id"]] = after
        return False

    async def _pop(self, tag: Any) -> None:
        chosen = self.model.find("tag", [tag])
        for collection in self.both:
            popped = await collection.find_one_and_delete({"tag": tag}, sort=[("_id", -1)])
            assert popped == (chosen[-1] if chosen else None)
        if chosen:
            del self.model.documents[chosen[-1]["_id"]]


TAGS = st.one_of(
    st.sampled_from([*SCALARS, None]),
    st.lists(st.sampled_from([*SCALARS, None]), max_size=3),
)
SLOT = st.sampled_from(SLOTS)
IDS = st.integers(0, 7)
FIELDS = st.fixed_dictionaries({}, optional={"owner": SLOT, "key": SLOT, "tag": TAGS})
SET = st.one_of(st.tuples(st.sampled_from(["owner", "key"]), SLOT), st.tuples(st.just("tag"), TAGS))
OPERATIONS = st.one_of(
    st.tuples(st.just("insert"), IDS, FIELDS),
    SET.flatmap(lambda change: st.tuples(st.just("set"), IDS, *map(st.just, change))),
    st.tuples(st.just("unset"), IDS, st.sampled_from(["owner", "key", "tag"])),
    st.tuples(st.just("replace"), IDS, FIELDS),
    st.tuples(st.just("delete"), IDS),
    st.tuples(st.just("delete_tagged"), st.sampled_from(SCALARS)),
    st.tuples(st.just("tag_owner"), SLOT, TAGS),
    st.tuples(st.just("upsert"), SLOT, SLOT, TAGS),
    SET.flatmap(lambda change: st.tuples(st.just("take"), SLOT, *map(st.just, change))),
    st.tuples(st.just("pop"), st.sampled_from(SCALARS)),
)


@settings(
    max_examples=75,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(OPERATIONS, max_size=30))
async def test_random_writes_keep_indexed_lookups_exact(
    mongo_db: Db, operations: list[tuple[Any, ...]]
) -> None:
    twins = Twins(mongo_db["indexed"], mongo_db["plain"])
    for collection in twins.both:
        await collection.drop()
    await create_indexes(twins.indexed)
    for operation in operations:
        await twins.write(operation)
    await twins.assert_lookups_agree()


async def test_values_and_unique_keys_move_through_arrays_null_and_missing(mongo_db: Db) -> None:
    twins = Twins(mongo_db["indexed"], mongo_db["plain"])
    await create_indexes(twins.indexed)
    steps: list[tuple[tuple[Any, ...], bool]] = [  # (write, refused by the unique index)
        (("insert", 0, {"owner": 0, "key": 0, "tag": 0}), False),
        (("insert", 1, {"owner": 0, "key": 1, "tag": 1}), False),
        (("insert", 2, {"owner": 1, "tag": 2}), False),
        (("set", 1, "key", 0), True),  # (0, 0) is taken
        (("set", 0, "tag", [1, "a"]), False),
        (("set", 0, "key", 2), False),  # frees (0, 0)
        (("set", 1, "key", 0), False),
        (("replace", 2, {"owner": 0, "key": 2, "tag": "b"}), True),  # (0, 2) is taken
        (("set", 1, "tag", [2, None]), False),
        (("set", 0, "tag", ["a"]), False),
        (("set", 2, "tag", []), False),
        (("set", 0, "tag", None), False),
        (("unset", 1, "tag"), False),
        (("insert", 3, {"owner": 1, "tag": "a"}), True),  # (1, null) is 2's
        (("unset", 2, "owner"), False),  # 2 moves to (null, null)
        (("insert", 3, {"owner": 1, "tag": "a"}), False),
        (("take", 1, "owner", None), True),  # 3 onto (null, null)
        (("take", 0, "key", 3), False),  # 0 moves to (0, 3), freeing (0, 2)
        (("replace", 2, {"owner": 0, "key": 2, "tag": [2]}), False),
        (("pop", "a"), False),  # deletes 3, freeing (1, null)
        (("upsert", 1, None, ["b"]), False),  # inserts (1, null)
        (("upsert", 0, 2, None), False),  # updates 2
        (("tag_owner", 0, [0, "b"]), False),  # 0, 1 and 2
        (("delete_tagged", "b"), False),
        (("insert", 4, {"owner": 0, "key": 3}), False),  # 0 held it, and is gone
    ]
    for step, refusal in steps:
        assert await twins.write(step) == refusal, step
        await twins.assert_lookups_agree()
    assert list(twins.model.documents) == [4]  # "b" was everyone else's tag


async def test_many_owners_under_random_writes(mongo_db: Db) -> None:
    """A seeded mix over a thousand documents: every owner's lookup matches the twin's."""
    indexed, plain = mongo_db["indexed"], mongo_db["plain"]
    await create_indexes(indexed)
    rng = random.Random(20240601)
    owners = [ObjectId() for _ in range(40)]
    documents = [
        {"_id": n, "owner": owners[n % 40], "key": n, "tag": [n % 7, str(n % 3)]}
        for n in range(1000)
    ]
    await indexed.insert_many(documents)
    await plain.insert_many(documents)
    for _ in range(300):
        target = rng.randrange(1200)
        change = rng.choice(
            [
                {"$set": {"owner": rng.choice(owners)}},
                {"$set": {"tag": rng.choice([None, 3, "1", [3, "2"], []])}},
                {"$unset": {"tag": ""}},
                {"$set": {"owner": [rng.choice(owners), rng.choice(owners)], "key": -target}},
            ]
        )
        if rng.random() < 0.1:
            for collection in (indexed, plain):
                await collection.delete_one({"_id": target})
            continue
        if "key" not in change.get("$set", {}):
            change["$setOnInsert"] = {"key": target}  # (owner, key) stays unique
        for collection in (indexed, plain):
            await collection.update_one({"_id": target}, change, upsert=target >= 1000)
    for owner in owners:
        query = {"owner": owner}
        assert await found(indexed, query) == await found(plain, query)
    for tag in [None, 3, "1", "2", 0]:
        query = {"tag": {"$in": [tag, 6]}}
        assert await found(indexed, query) == await found(plain, query)
    picked = rng.sample(range(1200), 60)
    query = {"_id": {"$in": picked}}
    assert await found(indexed, query) == await found(plain, query)


async def test_ttl_deletes_leave_lookups_and_unique_keys_consistent(mongo_db: Db) -> None:
    sessions = mongo_db["sessions"]
    await sessions.create_index([("owner", 1), ("key", 1)], unique=True, name="owner_key")
    await sessions.create_index([("expires", 1)], name="expiry", expireAfterSeconds=0)
    now = datetime.now(UTC).replace(tzinfo=None)
    expiry = [now - timedelta(days=1)] * 4 + [now + timedelta(days=1)] * 4
    await sessions.insert_many(
        [{"_id": n, "owner": n % 2, "key": n, "expires": expiry[n]} for n in range(8)]
    )
    deadline = time.monotonic() + 100  # mongod's TTL monitor runs every 60 s
    while await sessions.count_documents({}) > 4:
        assert time.monotonic() < deadline, "the TTL monitor deleted nothing"
        await asyncio.sleep(0.2)
    assert [d["_id"] for d in await found(sessions, {"owner": {"$in": [0, 1]}})] == [4, 5, 6, 7]
    assert await found(sessions, {"_id": {"$in": [0, 1, 2, 3]}}) == []
    await sessions.insert_one({"_id": 0, "owner": 0, "key": 0, "expires": now + timedelta(days=1)})
    with pytest.raises(DuplicateKeyError):
        await sessions.insert_one({"_id": 9, "owner": 0, "key": 4})
    assert [d["_id"] for d in await found(sessions, {"owner": 0})] == [0, 4, 6]
