"""The fire loop: turn each due run time of a task into a job, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from asyncz_queue._waiting import Wakeup
from asyncz_queue.events import TaskEvent, constants
from asyncz_queue.jobs import utcnow
from asyncz_queue.stores import BaseStore, FireResult
from asyncz_queue.tasks import Task, plan_fire

if TYPE_CHECKING:
    from asyncz_queue.schedulers.asyncio import AsyncIOScheduler

logger = logging.getLogger("asyncz_queue.scheduler")

#: How many due tasks one store call leases at a time. Between batches the loop yields, so
#: the work loop starts the jobs of one batch while the next is fired: a backlog of due
#: tasks flows through instead of piling up as pending jobs first (fewer live objects for
#: the garbage collector to walk, smaller heaps).
FIRE_BATCH = 100


class Firer:
    """Fires due tasks of every store (role `scheduler`)."""

    def __init__(self, scheduler: AsyncIOScheduler) -> None:
        self.scheduler = scheduler
        self.wakeup = Wakeup()

    async def run(self) -> None:
        """Fire what is due, then sleep until the next run time or a wake-up."""
        await self.scheduler.run_loop("fire", self.step, self.wakeup)

    async def step(self) -> float | None:
        """One round: fire what is due now; seconds until the next run time (None: unknown)."""
        if not self.scheduler.dispatching:
            return None
        return await self.fire_due(utcnow())

    async def fire_due(self, now: datetime) -> float | None:
        """Fire every task due at `now`; return seconds until the next run time (or None)."""
        next_times: list[datetime] = []
        for store_name, store in self.scheduler.stores.items():
            await self._fire_store(store_name, store, now)
            next_time = await store.get_next_run_time()
            if next_time is not None:
                next_times.append(next_time)
        if not next_times:
            return None
        return max((min(next_times) - utcnow()).total_seconds(), 0.0)

    async def _fire_store(self, store_name: str, store: BaseStore, now: datetime) -> None:
        scheduler = self.scheduler
        while True:
            tasks = await store.acquire_tasks(
                scheduler.identity, now, FIRE_BATCH, scheduler.lease_seconds
            )
            if not tasks:
                return
            results: list[FireResult] = []
            missed: list[TaskEvent] = []
            broken: list[Task] = []
            want_missed = scheduler.wants(constants.TASK_MISSED, store_name)
            for task in tasks:
                try:
                    plan = plan_fire(task, now, scheduler.timezone)
                    jobs = [task.job_for(run_time, now) for run_time in plan.run_times]
                except Exception:  # a broken trigger must not stop the other tasks firing
                    logger.exception("task %r cannot fire and is paused", task.id)
                    broken.append(task)
                    continue
                results.append(FireResult(task, jobs, plan.next_run_time))
                if want_missed:
                    missed.extend(
                        TaskEvent(
                            code=constants.TASK_MISSED,
                            scheduler_identity=scheduler.identity,
                            task_id=task.id,
                            store=store_name,
                            scheduled_at=run_time,
                        )
                        for run_time in plan.missed
                    )
            inserted = await store.release_tasks(scheduler.identity, results)
            for task in broken:  # paused, its lease let go: it stops coming back every fire
                with contextlib.suppress(LookupError):  # deleted meanwhile
                    await store.update_task(task.model_copy(update={"next_run_time": None}))
            for event in missed:
                scheduler.emit(event, store_name)
            self._report(store_name, results, inserted)
            if len(tasks) < FIRE_BATCH:
                return
            await asyncio.sleep(0)  # let the work loop take this batch's jobs

    def _report(self, store_name: str, results: list[FireResult], inserted: list) -> None:
        scheduler = self.scheduler
        if scheduler.wants(constants.TASK_SUBMITTED, store_name):
            for job in inserted:
                scheduler.emit_job(constants.TASK_SUBMITTED, job, store_name)
        if scheduler.wants(constants.TASK_REMOVED, store_name):
            for result in results:
                if result.next_run_time is None:
                    scheduler.emit(
                        TaskEvent(
                            code=constants.TASK_REMOVED,
                            scheduler_identity=scheduler.identity,
                            task_id=result.task.id,
                            store=store_name,
                        ),
                        store_name,
                    )
