"""The job half of the scheduler's API: push jobs, look them up, cancel and await them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asyncz_queue.events import constants
from asyncz_queue.events.models import job_event
from asyncz_queue.jobs import Job, JobState, Reference, utcnow

if TYPE_CHECKING:
    from asyncz_queue.events import SchedulerEvent
    from asyncz_queue.schedulers._worker import Worker
    from asyncz_queue.stores import BaseStore


class JobAPI:
    """Job methods of `AsyncIOScheduler` (which provides the attributes declared here)."""

    if TYPE_CHECKING:
        stores: dict[str, BaseStore]
        identity: str
        broker: Any
        _worker: Worker | None

        def store(self, name: str) -> BaseStore: ...
        def check_executor(self, name: str) -> None: ...
        def emit(self, event: SchedulerEvent, store_name: str | None = None) -> None: ...
        def emit_job(self, code: int, job: Job, store_name: str) -> None: ...

    def __init__(self) -> None:
        self._waiters: dict[str, list[asyncio.Future[Job]]] = {}

    async def push(
        self, job: Job | Callable[..., Any] | str, *args: Any, **kwargs: Any
    ) -> Reference:
        """Queue a job (or `fn(*args, **kwargs)`) and return a `Reference` to it.

        With a `Job`, the keywords `store` (default `"default"`) and `connection` (write
        inside the caller's psycopg transaction, PostgreSQL only) are accepted; with a
        function, every keyword goes to the function.

        A job whose `unique_key` is held by an unfinished job returns that job's reference.
        Raises `UnknownAliasError` for an executor that is not configured and
        `SerializationError` for arguments the store cannot keep.
        """
        if not isinstance(job, Job):
            return (await self.push_many([Job.from_func(job, args=args, kwargs=kwargs)]))[0]
        unexpected = set(kwargs) - {"store", "connection"}
        if args or unexpected:
            raise TypeError(
                "push(job) takes only store= and connection=; put the function's arguments "
                "in Job.from_func()"
            )
        return (await self.push_many([job], **kwargs))[0]

    async def push_many(
        self, jobs: list[Job], store: str = "default", connection: Any = None
    ) -> list[Reference]:
        """Queue several jobs in one store call; references in the same order.

        `connection`: see `push`. Nothing is stored when one job is refused.
        """
        target = self.store(store)
        for job in jobs:
            self.check_executor(job.executor)
        # Other processes hear of each job with its insert (in the caller's transaction).
        stored = await target.add_jobs(jobs, connection=connection, announce=target.broadcasts)
        if self.broker.wants(constants.JOB_PUSHED):
            for job, kept in zip(jobs, stored, strict=True):
                if kept is job:  # not a job that held the unique key already
                    self.broker.publish(job_event(constants.JOB_PUSHED, job, self.identity))
        return [Reference(job.id, self) for job in stored]

    async def get_job(self, job_id: str) -> Job:
        """The job with this id from whichever store holds it; `JobLookupError` if none."""
        stores = list(self.stores.values())
        for store in stores[:-1]:
            with contextlib.suppress(LookupError):
                return await store.get_job(job_id)
        return await stores[-1].get_job(job_id)

    async def get_jobs(
        self, state: Any = None, task_id: str | None = None, limit: int = 100
    ) -> list[Job]:
        """Jobs of every store, newest first, optionally filtered by state and task.

        Raises `ValueError` for a state that is not a `JobState` (or its value) and for a
        `limit` that is not an integer >= 0.
        """
        if state is not None:
            try:
                state = JobState(state)
            except ValueError:
                known = ", ".join(s.value for s in JobState)
                raise ValueError(f"unknown job state {state!r}; known: {known}") from None
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"limit must be an integer >= 0, got {limit!r}")
        found: list[Job] = []
        for store in self.stores.values():
            found += await store.get_jobs(state=state, task_id=task_id, limit=limit)
        found.sort(key=lambda job: job.created_at, reverse=True)
        return found[:limit]

    async def cancel_job(self, job_id: str) -> Job:
        """Cancel a waiting job, or ask a running one to stop; returns the job as it is now.

        A cancelled job ends in state `CANCELLED` with a `JOB_CANCELLED` event. A running job
        is stopped where it runs (asyncio: cancelled; process pool: its child is stopped;
        thread pool: flagged, since a thread cannot be killed).
        """
        for name, store in self.stores.items():
            try:
                job = await store.cancel_job(job_id, utcnow())
            except LookupError:
                continue
            if job.state is JobState.CANCELLED:
                self.emit_job(constants.JOB_CANCELLED, job, name)
                self.job_finished(job)
            elif job.state is JobState.RUNNING and (
                self._worker is None or not self._worker.stop_job(job_id)
            ):
                await store.request_cancel(job_id)
            return job
        return await self.get_job(job_id)  # raises JobLookupError

    def job_finished(self, job: Job) -> None:
        """Resolve the `Reference.wait()` calls waiting for `job`."""
        for future in self._waiters.pop(job.id, ()):
            if not future.done():
                future.set_result(job)

    async def _refresh_waiters(self, job_id: str) -> None:
        job = await self.get_job(job_id)
        if job.state.finished:
            self.job_finished(job)

    async def wait_for_job(self, job_id: str, timeout: float | None = None) -> Job:
        """The job once finished; the builtin `TimeoutError` when `timeout` passes first.

        Raises `ValueError` for a `timeout` that is not a number of seconds (NaN would
        corrupt the event loop's timer queue)."""
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout != timeout
        ):
            raise ValueError(f"timeout must be a number of seconds or None, got {timeout!r}")
        job = await self.get_job(job_id)
        if job.state.finished:
            return job
        future: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, []).append(future)
        polls = [s.poll_interval for s in self.stores.values() if s.poll_interval is not None]
        try:
            async with asyncio.timeout(timeout):
                while True:
                    job = await self.get_job(job_id)  # finished between the checks?
                    if job.state.finished:
                        return job
                    done, _ = await asyncio.wait([future], timeout=min(polls, default=None))
                    if done:
                        return future.result()
        finally:
            waiters = self._waiters.get(job_id)
            if waiters and future in waiters:
                waiters.remove(future)
                if not waiters:
                    del self._waiters[job_id]
