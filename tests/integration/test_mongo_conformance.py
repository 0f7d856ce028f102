"""MongoDB semantics the app relies on, checked against the session's server.

Each test names the manual page whose documented behaviour it reproduces. They use only the
driver, so they pass unchanged against a real mongod (MONGODB_URL=...) and SecantusDB alike.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from bson.binary import Binary
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

Db = AsyncDatabase[dict[str, Any]]
Collection = AsyncCollection[dict[str, Any]]


async def ids(collection: Collection, query: dict[str, Any], **options: Any) -> list[Any]:
    return [doc["_id"] async for doc in collection.find(query, {"_id": 1}, **options)]


async def test_sort_treats_missing_as_null_first_ascending_last_descending(mongo_db: Db) -> None:
    """MongoDB manual, Comparison/Sort Order, "Non-existent Fields": a sort treats a missing field
    as null, and null sorts below every other BSON type (so first ascending, last descending)."""
    things = mongo_db["things"]
    await things.insert_many(
        [
            {"_id": 1, "v": 3},
            {"_id": 2, "v": None},
            {"_id": 3},
            {"_id": 4, "v": 1},
            {"_id": 5, "v": "a"},
        ]
    )
    ascending = await ids(things, {}, sort=[("v", ASCENDING), ("_id", ASCENDING)])
    descending = await ids(things, {}, sort=[("v", DESCENDING), ("_id", ASCENDING)])
    assert ascending == [2, 3, 4, 1, 5]
    assert descending == [5, 1, 4, 2, 3]


async def test_sort_follows_the_bson_comparison_order_across_types(mongo_db: Db) -> None:
    """MongoDB manual, Comparison/Sort Order: MinKey < Null < Numbers (ints, longs, doubles,
    decimals compared by value) < Symbol/String < Object < Array < BinData < ObjectId < Boolean
    < Date < Timestamp < Regular Expression < MaxKey."""
    ordered: list[Any] = [
        MinKey(),
        None,
        1,
        2.5,
        Int64(3),
        Decimal128("4.5"),
        "apple",
        "banana",
        {"a": 1},
        Binary(b"\x01\x02", 0),
        ObjectId("000000000000000000000001"),
        False,
        True,
        datetime(2020, 1, 1),
        Timestamp(1, 1),
        Regex("^a"),
        MaxKey(),
    ]
    things = mongo_db["things"]
    # Inserted out of order, so that natural order cannot pass for sort order.
    await things.insert_many([{"_id": i, "v": v} for i, v in reversed(list(enumerate(ordered)))])
    expected = list(range(len(ordered)))
    assert await ids(things, {}, sort=[("v", ASCENDING)]) == expected
    assert await ids(things, {}, sort=[("v", DESCENDING)]) == expected[::-1]


async def test_sort_on_arrays_uses_the_smallest_or_largest_element(mongo_db: Db) -> None:
    """MongoDB manual, Comparison/Sort Order, "Arrays": an ascending sort compares the smallest
    element of an array, a descending sort the largest; an empty array is less than null."""
    things = mongo_db["things"]
    await things.insert_many(
        [
            {"_id": 1, "v": [1, 10]},
            {"_id": 2, "v": 5},
            {"_id": 3, "v": [3, 4]},
            {"_id": 4, "v": []},
            {"_id": 5, "v": None},
        ]
    )
    assert await ids(things, {}, sort=[("v", ASCENDING)]) == [4, 5, 1, 3, 2]
    assert await ids(things, {}, sort=[("v", DESCENDING)]) == [1, 2, 3, 5, 4]


async def test_range_operators_only_match_their_own_type_bracket(mongo_db: Db) -> None:
    """MongoDB manual, Comparison Query Operators and db.collection.find() "Type Bracketing":
    $gt/$gte/$lt/$lte only match fields whose BSON type is in the query value's bracket
    (all numeric types compare together; strings, booleans, dates and null do not)."""
    things = mongo_db["things"]
    await things.insert_many(
        [
            {"_id": 1, "v": 5},
            {"_id": 2, "v": 2.5},
            {"_id": 3, "v": Int64(20)},
            {"_id": 4, "v": "10"},
            {"_id": 5, "v": "abc"},
            {"_id": 6, "v": None},
            {"_id": 7},
            {"_id": 8, "v": True},
            {"_id": 9, "v": datetime(2021, 1, 1)},
            {"_id": 10, "v": [1, 7]},
        ]
    )
    by_id = [("_id", ASCENDING)]
    assert await ids(things, {"v": {"$gt": 1}}, sort=by_id) == [1, 2, 3, 10]
    assert await ids(things, {"v": {"$lt": "b"}}, sort=by_id) == [4, 5]
    assert await ids(things, {"v": {"$gte": datetime(2020, 1, 1)}}, sort=by_id) == [9]
    assert await ids(things, {"v": {"$lte": 2.5, "$gte": 0}}, sort=by_id) == [2, 10]


async def test_in_matches_any_value_array_element_and_null_matches_missing(mongo_db: Db) -> None:
    """MongoDB manual, $in: a document matches when the field equals any listed value, or is an
    array holding one, and a regular expression in the list matches strings; manual, "Query for
    Null or Missing Fields": null matches both a null value and a missing field."""
    things = mongo_db["things"]
    await things.insert_many(
        [
            {"_id": 1, "v": 1},
            {"_id": 2, "v": "a"},
            {"_id": 3, "v": [2, 3]},
            {"_id": 4, "v": None},
            {"_id": 5},
            {"_id": 6, "v": "bee"},
        ]
    )
    by_id = [("_id", ASCENDING)]
    assert await ids(things, {"v": {"$in": [1, "a", 3]}}, sort=by_id) == [1, 2, 3]
    assert await ids(things, {"v": {"$in": [None]}}, sort=by_id) == [4, 5]
    assert await ids(things, {"v": {"$in": [re.compile("^b")]}}, sort=by_id) == [6]
    assert await ids(things, {"v": {"$nin": [None, 1]}}, sort=by_id) == [2, 3, 6]


async def test_regex_options_and_escaped_metacharacters(mongo_db: Db) -> None:
    """MongoDB manual, $regex: the `i` option matches case-insensitively (as $options or as the
    flags of a BSON regular expression); PCRE reads a backslash before a non-alphanumeric
    character as that literal character, so re.escape()d input matches literally."""
    people = mongo_db["people"]
    names = ["Alpha.Beta", "alphaXbeta", "a+b (c)", "A+B (C) and more", "ab c"]
    await people.insert_many([{"_id": i, "name": n} for i, n in enumerate(names)])
    by_id = [("_id", ASCENDING)]

    async def matching(query: Any) -> list[str]:
        return [names[i] for i in await ids(people, {"name": query}, sort=by_id)]

    assert await matching({"$regex": "^alpha", "$options": "i"}) == ["Alpha.Beta", "alphaXbeta"]
    assert await matching(re.compile("^ALPHA\\.", re.IGNORECASE)) == ["Alpha.Beta"]
    assert await matching({"$regex": "^alpha"}) == ["alphaXbeta"]
    escaped = re.escape("a+b (c)")
    assert await matching({"$regex": escaped, "$options": "i"}) == ["a+b (c)", "A+B (C) and more"]
    assert await matching({"$regex": re.escape("alpha.beta"), "$options": "i"}) == ["Alpha.Beta"]


async def test_inc_creates_a_missing_field(mongo_db: Db) -> None:
    """MongoDB manual, $inc: "If the field does not exist, $inc creates the field and sets the
    field to the specified value" (embedded documents on a dotted path are created too)."""
    counters = mongo_db["counters"]
    await counters.insert_one({"_id": 1})
    await counters.update_one({"_id": 1}, {"$inc": {"count": 2, "stats.views": 1}})
    await counters.update_one({"_id": 1}, {"$inc": {"count": 3}})
    assert await counters.find_one({"_id": 1}) == {"_id": 1, "count": 5, "stats": {"views": 1}}


async def test_upsert_with_operators_seeds_the_query_equalities(mongo_db: Db) -> None:
    """MongoDB manual, db.collection.updateOne(), "Upsert": with no match, the new document is
    built from the query's equality conditions (dotted paths become embedded documents, and
    $and clauses count) and its _id, then the update operators apply; comparison conditions
    such as $gt are not copied; $setOnInsert only applies on that insert."""
    users = mongo_db["users"]
    result = await users.update_one(
        {"email": "a@x.org", "profile.lang": "en", "age": {"$gt": 5}, "$and": [{"team": "t1"}]},
        {"$set": {"name": "A"}, "$setOnInsert": {"created": True}},
        upsert=True,
    )
    assert isinstance(result.upserted_id, ObjectId)
    assert result.matched_count == 0
    assert await users.find_one({"_id": result.upserted_id}, {"_id": 0}) == {
        "email": "a@x.org",
        "profile": {"lang": "en"},
        "team": "t1",
        "name": "A",
        "created": True,
    }

    first = await users.update_one({"_id": "custom", "kind": "k"}, {"$inc": {"n": 1}}, upsert=True)
    second = await users.update_one({"_id": "custom", "kind": "k"}, {"$inc": {"n": 1}}, upsert=True)
    assert first.upserted_id == "custom"
    assert (second.upserted_id, second.matched_count, second.modified_count) == (None, 1, 1)
    assert await users.find_one({"_id": "custom"}) == {"_id": "custom", "kind": "k", "n": 2}


async def test_upsert_with_a_replacement_takes_only_the_id_from_the_query(mongo_db: Db) -> None:
    """MongoDB manual, db.collection.replaceOne(), "Upsert": with no match the replacement
    document is inserted, with the _id of the filter's equality condition on _id (or a new
    ObjectId); no other filter field is copied into it."""
    items = mongo_db["items"]
    await items.replace_one({"_id": 7, "kind": "x"}, {"name": "r"}, upsert=True)
    result = await items.replace_one({"kind": "y"}, {"name": "s"}, upsert=True)
    assert await items.find_one({"_id": 7}) == {"_id": 7, "name": "r"}
    assert isinstance(result.upserted_id, ObjectId)
    assert await items.find_one({"_id": result.upserted_id}, {"_id": 0}) == {"name": "s"}


async def test_duplicate_key_on_update_fails_with_11000_and_changes_nothing(mongo_db: Db) -> None:
    """MongoDB manual, "Unique Indexes" and "Write Errors": an update (or findAndModify, or an
    upsert's insert) that would repeat a unique key fails with E11000 duplicate key error, code
    11000, reporting keyPattern and keyValue; the document keeps its previous value."""
    users = mongo_db["users"]
    await users.create_index([("email", ASCENDING)], unique=True)
    await users.insert_many([{"_id": 1, "email": "a@x.org"}, {"_id": 2, "email": "b@x.org"}])

    with pytest.raises(DuplicateKeyError) as update_error:
        await users.update_one({"_id": 2}, {"$set": {"email": "a@x.org", "name": "B"}})
    assert update_error.value.code == 11000
    assert update_error.value.details is not None
    assert update_error.value.details["keyPattern"] == {"email": 1}
    assert update_error.value.details["keyValue"] == {"email": "a@x.org"}

    with pytest.raises(DuplicateKeyError) as modify_error:
        await users.find_one_and_update(
            {"_id": 2}, {"$set": {"email": "a@x.org"}}, return_document=ReturnDocument.AFTER
        )
    assert modify_error.value.details is not None
    assert modify_error.value.details["keyValue"] == {"email": "a@x.org"}

    with pytest.raises(DuplicateKeyError):
        await users.update_one({"email": "a@x.org", "v": 1}, {"$set": {"n": 1}}, upsert=True)

    assert await users.find_one({"_id": 2}) == {"_id": 2, "email": "b@x.org"}
    assert await users.count_documents({}) == 2


async def test_unknown_command_is_refused_by_name(mongo_db: Db) -> None:
    """MongoDB manual, Database Commands / Error Codes: an unknown command fails with
    CommandNotFound (code 59) naming it, rather than doing anything."""
    with pytest.raises(OperationFailure) as error:
        await mongo_db.command("noSuchCommandAnywhere")
    assert error.value.code == 59
    assert "noSuchCommandAnywhere" in str(error.value)
