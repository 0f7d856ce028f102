"""A task read back from the object cache equals the document it was cached from, field by
field, with and without its optional fields (the cache skips validation when decoding)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from beanie import PydanticObjectId

from loaders import codecs
from models.task import TaskDocument, find_tasks, parse_task
from models.task_reads import TaskPage

pytestmark = pytest.mark.usefixtures("models_db")


def _task(**optional: object) -> TaskDocument:
    now = datetime.now(UTC).replace(microsecond=123000)
    return TaskDocument(
        id=PydanticObjectId(),
        owner_id=PydanticObjectId(),
        title="Café in Kraków",
        title_key="café in kraków",
        tags=["travel", "food"],
        created_at=now,
        updated_at=now + timedelta(seconds=1),
        version=3,
        **optional,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "optional",
    [
        {},
        {
            "description": "with a view",
            "status": "DONE",
            "priority": "URGENT",
            "priority_rank": 3,
            "due_at": datetime(2027, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
            "due_missing": False,
            "idempotency_key": "key-1",
        },
    ],
)
def test_a_cached_task_decodes_to_the_same_document(optional: dict[str, object]) -> None:
    task = _task(**optional)
    decoded = codecs.TASK.decode(codecs.TASK.encode(task))
    assert decoded.model_dump() == task.model_dump()
    assert decoded.id == task.id
    assert isinstance(decoded.id, PydanticObjectId)
    assert decoded.created_at.tzinfo is not None
    page = codecs.TASK_PAGE.decode(codecs.TASK_PAGE.encode(TaskPage([task], has_more=True)))
    assert [d.model_dump() for d in page.documents] == [task.model_dump()]
    assert page.has_more is True


async def test_a_stored_task_reads_back_as_the_validated_document() -> None:
    task = _task(description="stored", due_at=datetime(2027, 3, 4, tzinfo=UTC), due_missing=False)
    await task.insert()
    assert task.id is not None
    raw = await TaskDocument.get_pymongo_collection().find_one({"_id": task.id})
    assert raw is not None
    (read,) = (await find_tasks([(task.owner_id, task.id)])).values()
    validated = parse_task(raw)
    assert read.model_dump() == validated.model_dump()
    for name in TaskDocument.model_fields:
        assert type(getattr(read, name)) is type(getattr(validated, name)), name
    await task.delete()
