"""The task and heartbeat methods of `PostgresStore` (a mixin: one class, two modules)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from asyncz_queue.exceptions import ConflictIdError, StoreUnavailableError, TaskLookupError
from asyncz_queue.jobs import Job
from asyncz_queue.stores.base import FireResult, Notification
from asyncz_queue.stores.postgres.channel import JOBS, TASKS
from asyncz_queue.tasks import Task

if TYPE_CHECKING:
    from asyncz_queue.stores.postgres.codec import Codec
    from asyncz_queue.stores.postgres.database import Database
    from asyncz_queue.stores.postgres.statements import Statements

logger = logging.getLogger("asyncz_queue.stores.postgres")

#: A scheduler without a heartbeat for this long disappears from `get_processes()`.
FORGET_PROCESSES_AFTER = timedelta(days=1)


class TaskMethods:
    """Tasks (`add_task` ... `release_tasks`) and heartbeats of a `PostgresStore`."""

    if TYPE_CHECKING:
        channel: str
        identity: str | None
        _db: Database
        _sql: Statements
        _codec: Codec
        _wake_jobs: str
        _wake_tasks: str

        def notify(self, notification: Notification) -> None: ...

    def _wake(self, wake: str) -> dict[str, Any]:
        return {"channel": self.channel, "wake": wake}

    # ---- processes ---------------------------------------------------------------------

    async def heartbeat(self, identity: str, info: dict[str, Any], now: datetime) -> None:
        """Record in the database that `identity` is alive; schedulers silent for a day
        are forgotten."""
        params = {
            "identity": identity,
            "info": json.dumps(info, default=str),
            "now": now,
            "forget_before": now - FORGET_PROCESSES_AFTER,
        }
        await self._db.fetch(self._sql.HEARTBEAT, params)

    async def get_processes(self) -> list[dict[str, Any]]:
        """The last heartbeat of every scheduler using this schema, newest first."""
        rows = await self._db.fetch(self._sql.GET_PROCESSES, {})
        return [
            {**json.loads(info), "identity": identity, "last_seen": seen}
            for identity, info, seen in rows
        ]

    # ---- tasks -----------------------------------------------------------------------

    async def add_task(self, task: Task, replace_existing: bool = False) -> None:
        params = self._codec.task_params(task) | self._wake(self._wake_tasks)
        if replace_existing:
            await self._db.fetch(self._sql.UPSERT_TASK, params)
        elif not await self._insert_task(task, params):
            raise ConflictIdError(task.id)
        self.notify(TASKS)

    async def _insert_task(self, task: Task, params: dict[str, Any]) -> bool:
        """Insert `task`; False when its id is taken. Not retried blind: after a commit
        whose reply was lost, the retry would find its own task and call it a conflict."""
        try:
            return bool(await self._db.fetch(self._sql.INSERT_TASK, params, retry=False))
        except StoreUnavailableError:
            rows = await self._db.fetch(self._sql.GET_TASK, {"id": task.id})
            if not rows:  # it did not get in: once more
                return bool(await self._db.fetch(self._sql.INSERT_TASK, params, retry=False))
            # Ours, when the stored task is the one sent: then the insert did commit.
            stored = self._codec.task_params(self._codec.decode_task(rows[0]))
            return stored.items() <= params.items()

    async def update_task(self, task: Task) -> None:
        params = self._codec.task_params(task) | self._wake(self._wake_tasks)
        if not await self._db.fetch(self._sql.UPDATE_TASK, params):
            raise TaskLookupError(task.id)
        self.notify(TASKS)

    async def get_task(self, task_id: str) -> Task:
        rows = await self._db.fetch(self._sql.GET_TASK, {"id": task_id})
        if not rows:
            raise TaskLookupError(task_id)
        return self._codec.decode_task(rows[0])

    async def get_tasks(self) -> list[Task]:
        rows = await self._db.fetch(self._sql.GET_TASKS, {})
        return [self._codec.decode_task(row) for row in rows]

    async def delete_task(self, task_id: str) -> None:
        if not await self._db.fetch(self._sql.DELETE_TASK, {"id": task_id}, retry=False):
            raise TaskLookupError(task_id)

    async def remove_all_tasks(self) -> None:
        await self._db.fetch(self._sql.DELETE_ALL_TASKS, {})

    async def get_next_run_time(self) -> datetime | None:
        rows = await self._db.fetch(self._sql.NEXT_RUN_TIME, {"owner": self.identity})
        return rows[0][0] if rows else None

    async def acquire_tasks(
        self, scheduler_id: str, now: datetime, limit: int, lease_seconds: float
    ) -> list[Task]:
        params = {
            "owner": scheduler_id,
            "now": now,
            "limit": limit,
            "lease_until": now + timedelta(seconds=lease_seconds),
        }
        tasks: list[Task] = []
        broken: list[str] = []
        for row in await self._db.fetch(self._sql.ACQUIRE_TASKS, params):
            try:
                tasks.append(self._codec.decode_task(row))
            except Exception as exc:  # one bad row must not stop the other tasks firing
                logger.error("task %r cannot be loaded and is paused: %s", row[0], exc)
                broken.append(row[0])
        if broken:
            await self._db.fetch(self._sql.PAUSE_TASKS, {"ids": broken})
        tasks.sort(key=lambda t: (t.next_run_time, t.id))
        return tasks

    async def release_tasks(self, scheduler_id: str, results: Sequence[FireResult]) -> list[Job]:
        if not results:
            return []
        jobs = [job for result in results for job in result.jobs]
        params = self._codec.job_columns(jobs) | self._wake(self._wake_jobs)
        params["owner"] = scheduler_id
        params["task_ids"] = [result.task.id for result in results]
        params["next_run_times"] = [result.next_run_time for result in results]
        rows = await self._db.fetch(self._sql.RELEASE_TASKS, params)
        ids = set(rows[0][0]) if rows else set()
        inserted = [job for job in jobs if job.id in ids]
        if inserted:
            self.notify(JOBS)
        return inserted
