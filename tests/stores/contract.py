"""Shared helpers of the store conformance suite: fixed times, jobs and tasks to store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from asyncz_queue.jobs import Job
from asyncz_queue.stores.base import BaseStore, Notification
from asyncz_queue.tasks import Task
from asyncz_queue.triggers import IntervalTrigger

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
FN = "tests.stores.contract:work"
LEASE = 30.0


def work(*args: Any, **kwargs: Any) -> None:
    """The callable every job here refers to (never run)."""


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def job(**options: Any) -> Job:
    options.setdefault("scheduled_at", T0)
    return Job.from_func(FN, **options)


def task_job(task_id: str, scheduled_at: datetime, max_instances: int = 1, **changes: Any) -> Job:
    return job(scheduled_at=scheduled_at).evolve(
        task_id=task_id, max_instances=max_instances, **changes
    )


def task(task_id: str = "t", next_run_time: datetime | None = T0, **options: Any) -> Task:
    options.setdefault("trigger", IntervalTrigger(seconds=10, start_at=T0))
    return Task(id=task_id, fn=FN, next_run_time=next_run_time, **options)


def dump(item: Job | Task) -> dict[str, Any]:
    return item.model_dump()


def collect(store: BaseStore) -> list[str]:
    kinds: list[str] = []

    def handler(notification: Notification) -> None:
        kinds.append(notification.kind)

    store.set_notification_handler(handler)
    return kinds
