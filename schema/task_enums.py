"""The enums of tasks. Their values are the stored strings (models' Literals) by design."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Where a task stands.")
class TaskStatus(Enum):
    TODO = "TODO"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"


@strawberry.enum(description="How pressing a task is, from LOW to URGENT.")
class TaskPriority(Enum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    URGENT = "URGENT"


@strawberry.enum(
    description="Ties are broken by id. PRIORITY orders LOW < MEDIUM < HIGH < URGENT; TITLE "
    "ignores case; tasks without dueAt come last in both directions."
)
class TaskOrderField(Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    DUE_AT = "DUE_AT"
    PRIORITY = "PRIORITY"
    TITLE = "TITLE"


@strawberry.enum(description="Ascending (ASC) or descending (DESC).")
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"
