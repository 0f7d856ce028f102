"""The MongoDB operations the app performs, through Beanie 2 and PyMongo's async driver.

Only the driver's public API is used: these pass unchanged against a real mongod.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from beanie import Document, Indexed, UpdateResponse, init_beanie
from beanie.operators import In, Inc, Pull, Push, RegEx, Set
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


class PersonDocument(Document):
    name: str
    email: Indexed(str, unique=True)  # type: ignore[valid-type]
    age: int = 0
    team: str = "red"
    tags: list[str] = Field(default_factory=list)
    version: int = 0

    class Settings:
        name = "people"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel([("team", ASCENDING), ("age", DESCENDING)], name="team_age")
        ]


class SessionDocument(Document):
    token: str
    expires_at: datetime

    class Settings:
        name = "sessions"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel([("expires_at", ASCENDING)], name="expiry", expireAfterSeconds=3600)
        ]


class ItemDocument(Document):
    n: int

    class Settings:
        name = "items"


class NameOnly(BaseModel):
    name: str


@pytest.fixture
async def models(mongo_db: AsyncDatabase[dict[str, Any]]) -> None:
    await init_beanie(
        database=mongo_db, document_models=[PersonDocument, SessionDocument, ItemDocument]
    )


def person(name: str, age: int = 30, team: str = "red", **fields: Any) -> PersonDocument:
    return PersonDocument(
        name=name, email=f"{name.lower()}@example.org", age=age, team=team, **fields
    )


@pytest.mark.usefixtures("models")
async def test_insert_one_and_many() -> None:
    ann = await person("Ann").insert()
    assert ann.id is not None
    await PersonDocument.insert_many([person("Bob"), person("Cid")])
    assert await PersonDocument.count() == 3
    fetched = await PersonDocument.get(ann.id)
    assert fetched is not None
    assert (fetched.name, fetched.email) == ("Ann", "ann@example.org")


@pytest.mark.usefixtures("models")
async def test_find_with_filter_sort_skip_limit_and_projection() -> None:
    await PersonDocument.insert_many([person(f"P{age}", age=age) for age in range(20, 30)])
    page = (
        await PersonDocument.find(PersonDocument.age >= 22)
        .sort(-PersonDocument.age)
        .skip(1)
        .limit(3)
        .to_list()
    )
    assert [p.age for p in page] == [28, 27, 26]
    names = (
        await PersonDocument.find(PersonDocument.age < 22).sort("+age").project(NameOnly).to_list()
    )
    assert names == [NameOnly(name="P20"), NameOnly(name="P21")]
    raw = await PersonDocument.get_pymongo_collection().find_one(
        {"name": "P25"}, {"_id": 0, "name": 1, "age": 1}
    )
    assert raw == {"name": "P25", "age": 25}


@pytest.mark.usefixtures("models")
async def test_in_operator() -> None:
    await PersonDocument.insert_many([person("Ann"), person("Bob"), person("Cid")])
    found = await PersonDocument.find(In(PersonDocument.name, ["Ann", "Cid", "Zed"])).to_list()
    assert sorted(p.name for p in found) == ["Ann", "Cid"]


@pytest.mark.usefixtures("models")
async def test_case_insensitive_regex_on_escaped_input() -> None:
    names = ["Dr. Who (1963)", "drXwho", "dr. who (1963) returns", "Mr. Who"]
    await PersonDocument.insert_many(
        [PersonDocument(name=n, email=f"{i}@example.org") for i, n in enumerate(names)]
    )
    pattern = re.escape("dr. who (1963)")
    found = await PersonDocument.find(RegEx(PersonDocument.name, pattern, "i")).to_list()
    assert sorted(p.name for p in found) == ["Dr. Who (1963)", "dr. who (1963) returns"]


@pytest.mark.usefixtures("models")
async def test_set_inc_push_and_pull() -> None:
    ann = await person("Ann", age=30, tags=["a", "b"]).insert()
    await PersonDocument.find_one(PersonDocument.id == ann.id).update(
        Set({PersonDocument.team: "blue"}),
        Inc({PersonDocument.age: 2}),
        Push({PersonDocument.tags: "c"}),
    )
    await PersonDocument.find_one(PersonDocument.id == ann.id).update(
        Pull({PersonDocument.tags: "a"})
    )
    updated = await PersonDocument.get(ann.id)
    assert updated is not None
    assert (updated.team, updated.age, updated.tags) == ("blue", 32, ["b", "c"])


@pytest.mark.usefixtures("models")
async def test_find_one_and_update_with_a_version_condition() -> None:
    ann = await person("Ann").insert()

    async def rename(name: str, *, expected_version: int) -> PersonDocument | None:
        return await PersonDocument.find_one(
            PersonDocument.id == ann.id, PersonDocument.version == expected_version
        ).update(
            Set({PersonDocument.name: name}),
            Inc({PersonDocument.version: 1}),
            response_type=UpdateResponse.NEW_DOCUMENT,
        )

    first = await rename("Anna", expected_version=0)
    assert first is not None
    assert (first.name, first.version) == ("Anna", 1)
    assert await rename("Hannah", expected_version=0) is None  # a stale writer loses
    current = await PersonDocument.get(ann.id)
    assert current is not None
    assert (current.name, current.version) == ("Anna", 1)


@pytest.mark.usefixtures("models")
async def test_unique_index_violation_raises_duplicate_key_error() -> None:
    await person("Ann").insert()
    with pytest.raises(DuplicateKeyError) as error:
        await PersonDocument(name="Other Ann", email="ann@example.org").insert()
    assert error.value.details is not None
    assert error.value.details["keyValue"] == {"email": "ann@example.org"}
    assert await PersonDocument.count() == 1


@pytest.mark.usefixtures("models")
async def test_compound_and_ttl_indexes_are_listed() -> None:
    people = await PersonDocument.get_pymongo_collection().index_information()
    assert people["team_age"]["key"] == [("team", 1), ("age", -1)]
    assert people["email_1"]["unique"] is True
    sessions = await SessionDocument.get_pymongo_collection().index_information()
    assert sessions["expiry"]["key"] == [("expires_at", 1)]
    assert sessions["expiry"]["expireAfterSeconds"] == 3600
    await SessionDocument(token="t", expires_at=datetime.now(UTC)).insert()
    assert await SessionDocument.count() == 1  # an hour from expiry


@pytest.mark.usefixtures("models")
async def test_aggregate_match_group_sort_and_count() -> None:
    await PersonDocument.insert_many(
        [person(f"R{i}", age=20 + i, team="red") for i in range(3)]
        + [person(f"B{i}", age=30 + i, team="blue") for i in range(2)]
        + [person("Kid", age=10, team="green")]
    )
    grouped = await PersonDocument.aggregate(
        [
            {"$match": {"age": {"$gte": 18}}},
            {"$group": {"_id": "$team", "members": {"$sum": 1}, "oldest": {"$max": "$age"}}},
            {"$sort": {"members": -1, "_id": 1}},
        ]
    ).to_list()
    assert grouped == [
        {"_id": "red", "members": 3, "oldest": 22},
        {"_id": "blue", "members": 2, "oldest": 31},
    ]
    counted = await PersonDocument.aggregate(
        [{"$match": {"team": {"$ne": "green"}}}, {"$count": "total"}]
    ).to_list()
    assert counted == [{"total": 5}]


@pytest.mark.usefixtures("models")
async def test_count_and_delete() -> None:
    await PersonDocument.insert_many([person(f"P{age}", age=age) for age in range(20, 30)])
    assert await PersonDocument.find(PersonDocument.age < 25).count() == 5
    result = await PersonDocument.find(PersonDocument.age < 25).delete()
    assert result is not None
    assert result.deleted_count == 5
    youngest = await PersonDocument.find_one(PersonDocument.age == 25)
    assert youngest is not None
    await youngest.delete()
    assert await PersonDocument.count() == 4


@pytest.mark.usefixtures("models")
async def test_a_thousand_documents_are_read_across_get_more_batches() -> None:
    await ItemDocument.insert_many([ItemDocument(n=n) for n in range(1000)])
    items = await ItemDocument.find_all().sort(+ItemDocument.n).to_list()
    assert [item.n for item in items] == list(range(1000))

    cursor = ItemDocument.get_pymongo_collection().find(
        {}, sort=[("n", DESCENDING)], batch_size=300
    )
    first = await cursor.next()
    assert cursor.cursor_id not in (None, 0)  # the server kept the rest for getMore
    rest = [doc["n"] async for doc in cursor]
    assert [first["n"], *rest] == list(range(999, -1, -1))
    assert not cursor.alive
