"""Per-request DataLoaders: one per key, created for each request (never shared)."""

from __future__ import annotations

from dataclasses import dataclass

from aiodataloader import DataLoader
from beanie import PydanticObjectId

from loaders.task import (
    TotalKey,
    load_task_counts,
    load_task_pages,
    load_task_probes,
    load_task_totals,
    load_tasks,
)
from loaders.user import load_users
from models.task import TaskDocument
from models.task_query import BoundaryProbe, TaskPageQuery
from models.task_reads import StatusCounts, TaskPage
from models.user import UserDocument


@dataclass(frozen=True)
class Loaders:
    users: DataLoader[PydanticObjectId, UserDocument | None]
    tasks: DataLoader[PydanticObjectId, TaskDocument | None]
    task_pages: DataLoader[TaskPageQuery, TaskPage]
    task_totals: DataLoader[TotalKey, int]  # tasks passing a filter
    task_probes: DataLoader[BoundaryProbe, bool]
    task_counts: DataLoader[PydanticObjectId, StatusCounts]  # per owner

    def forget_task_lists(self) -> None:
        """After a write: list reads made earlier in this request no longer hold."""
        for loader in (self.task_pages, self.task_totals, self.task_probes, self.task_counts):
            loader.clear_all()


def create_loaders() -> Loaders:
    return Loaders(
        users=DataLoader(load_users),
        tasks=DataLoader(load_tasks),
        task_pages=DataLoader(load_task_pages),
        task_totals=DataLoader(load_task_totals),
        task_probes=DataLoader(load_task_probes),
        task_counts=DataLoader(load_task_counts),
    )
