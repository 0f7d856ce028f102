"""The input rules of tasks, and how create/update inputs and filters become model values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from beanie import PydanticObjectId

from models.task_query import TaskFilterSpec
from models.task_writes import update_document
from resolvers.task_changes import idempotency_key, new_task, task_changes
from schema.errors import TaskqlError
from schema.node import encode_global_id
from schema.task import CreateTaskInput, TaskFilter, TaskPriority, TaskStatus, UpdateTaskInput
from schema.task_rules import (
    check_description,
    check_idempotency_key,
    check_search,
    normalise_tags,
    normalise_title,
)

OWNER = PydanticObjectId()
TASK_ID = encode_global_id("Task", PydanticObjectId(), PydanticObjectId())
DUE = datetime(2026, 6, 1, tzinfo=UTC)


def _refused(call: Any) -> str | None:
    with pytest.raises(TaskqlError) as caught:
        call()
    assert caught.value.code == "BAD_USER_INPUT"
    return caught.value.field


def test_titles_are_trimmed_and_1_to_200_characters() -> None:
    assert normalise_title("  Buy milk \n", field="t") == "Buy milk"
    assert normalise_title("x" * 200, field="t") == "x" * 200
    assert normalise_title(" " + "é" * 200 + " ", field="t") == "é" * 200
    for bad in ("", "   ", "x" * 201):
        assert _refused(lambda bad=bad: normalise_title(bad, field="input.title")) == "input.title"


def test_descriptions_search_and_keys_have_limits() -> None:
    assert check_description("d" * 10_000, field="d") == "d" * 10_000
    assert check_description(None, field="d") is None
    assert _refused(lambda: check_description("d" * 10_001, field="d")) == "d"
    assert check_search("s" * 100, field="s") == "s" * 100
    assert _refused(lambda: check_search("s" * 101, field="s")) == "s"
    assert check_idempotency_key("k" * 64, field="k") == "k" * 64
    assert _refused(lambda: check_idempotency_key("k" * 65, field="k")) == "k"
    assert _refused(lambda: check_idempotency_key("", field="k")) == "k"


def test_tags_are_trimmed_deduplicated_in_first_seen_order() -> None:
    assert normalise_tags([" b", "a ", "b", "A", "a"], field="t") == ("b", "a", "A")
    assert normalise_tags([f"t{n}" for n in range(20)] * 2, field="t") == tuple(
        f"t{n}" for n in range(20)
    )
    assert normalise_tags(["x" * 32], field="t") == ("x" * 32,)
    for bad in ([" "], ["x" * 33], [f"t{n}" for n in range(21)]):
        assert _refused(lambda bad=bad: normalise_tags(bad, field="input.tags")) == "input.tags"


def test_create_input_defaults_and_normalisation() -> None:
    task = new_task(CreateTaskInput(title=" T "), owner_id=OWNER)
    assert (task.title, task.status, task.priority, task.tags, task.description) == (
        "T",
        "TODO",
        "MEDIUM",
        (),
        None,
    )
    explicit = new_task(
        CreateTaskInput(
            title="T",
            description="d",
            status=TaskStatus.DONE,
            priority=TaskPriority.URGENT,
            tags=[" x", "x", "y"],
            due_at=DUE,
        ),
        owner_id=OWNER,
    )
    assert (explicit.status, explicit.priority, explicit.tags, explicit.due_at) == (
        "DONE",
        "URGENT",
        ("x", "y"),
        DUE,
    )
    nulls = new_task(
        CreateTaskInput(title="T", status=None, priority=None, tags=None), owner_id=OWNER
    )
    assert (nulls.status, nulls.priority, nulls.tags) == ("TODO", "MEDIUM", ())
    assert idempotency_key(CreateTaskInput(title="T")) is None
    assert idempotency_key(CreateTaskInput(title="T", idempotency_key="k")) == "k"
    field = _refused(lambda: idempotency_key(CreateTaskInput(title="T", idempotency_key="k" * 65)))
    assert field == "input.idempotencyKey"


def test_updates_change_only_what_is_named() -> None:
    assert task_changes(UpdateTaskInput(id=TASK_ID, title=" New ")) == {"title": "New"}
    assert task_changes(UpdateTaskInput(id=TASK_ID, description=None, due_at=None)) == {
        "description": None,
        "due_at": None,
    }
    assert task_changes(
        UpdateTaskInput(
            id=TASK_ID, status=TaskStatus.DONE, priority=TaskPriority.LOW, tags=["a", "a "]
        )
    ) == {"status": "DONE", "priority": "LOW", "tags": ["a"]}


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({}, "input"),
        ({"expected_version": 3}, "input"),
        ({"title": None}, "input.title"),
        ({"status": None}, "input.status"),
        ({"priority": None}, "input.priority"),
        ({"tags": None}, "input.tags"),
        ({"title": "  "}, "input.title"),
        ({"description": "d" * 10_001}, "input.description"),
        ({"tags": ["x" * 33]}, "input.tags"),
    ],
)
def test_update_rules(arguments: dict[str, Any], field: str) -> None:
    assert _refused(lambda: task_changes(UpdateTaskInput(id=TASK_ID, **arguments))) == field


def test_update_documents_keep_sort_keys_beside_their_values() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    update = update_document(
        {"title": "ÄB", "priority": "HIGH", "due_at": None, "description": None}, now=now
    )
    assert update == {
        "$set": {
            "updated_at": now,
            "title": "ÄB",
            "title_key": "äb",
            "priority": "HIGH",
            "priority_rank": 2,
            "due_missing": True,
        },
        "$unset": {"due_at": "", "description": ""},
        "$inc": {"version": 1},
    }
    due = update_document({"due_at": DUE}, now=now)
    assert due["$set"] == {"updated_at": now, "due_at": DUE, "due_missing": False}
    assert "$unset" not in due


def test_filters_become_specs() -> None:
    assert TaskFilter().to_spec() == TaskFilterSpec()
    spec = TaskFilter(
        status=[TaskStatus.TODO],
        priority=[TaskPriority.HIGH, TaskPriority.LOW],
        search="a.b",
        tags=[" x ", "x"],
        due_before=DUE,
        due_after=None,
    ).to_spec()
    assert spec == TaskFilterSpec(
        statuses=("TODO",),
        priorities=("HIGH", "LOW"),
        tags=("x",),
        search="a.b",
        due_before=DUE,
    )
    assert TaskFilter(search="", status=[]).to_spec() == TaskFilterSpec(statuses=())
    assert _refused(lambda: TaskFilter(search="s" * 101).to_spec()) == "filter.search"
    assert _refused(lambda: TaskFilter(tags=[""]).to_spec()) == "filter.tags"
