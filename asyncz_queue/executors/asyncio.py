"""`AsyncIOExecutor` (alias `asyncio`): coroutines on the event loop, functions on threads."""

from __future__ import annotations

import asyncio
import contextvars
import os
from typing import Any, ClassVar

from asyncz_queue.executors._threads import ThreadRunner
from asyncz_queue.executors.base import BaseExecutor, resolve_callable
from asyncz_queue.jobs import Job

#: Threads for plain functions, as many as `asyncio.to_thread` would use.
THREADS = min(32, (os.cpu_count() or 1) + 4)


class AsyncIOExecutor(BaseExecutor):
    """Awaits coroutine functions on the event loop; runs plain functions on up to
    `THREADS` worker threads so they never block the loop. A plain function that is still
    running when its attempt times out or is cancelled runs on to its end (a thread cannot
    be stopped); what it returns then is discarded."""

    default_max_workers: ClassVar[int] = 1000

    def __init__(self, *, max_workers: int | None = None, timeout: float | None = None) -> None:
        super().__init__(max_workers=max_workers, timeout=timeout)
        self._threads: ThreadRunner | None = None

    async def shutdown(self, wait: bool = True) -> None:
        await super().shutdown(wait)
        threads, self._threads = self._threads, None
        if threads is not None:
            threads.close()

    async def run_job(self, job: Job) -> Any:
        func, is_coroutine = resolve_callable(job.fn)
        if is_coroutine:
            return await func(*job.args, **job.kwargs)
        threads = self._threads
        if threads is None:
            threads = self._threads = ThreadRunner(THREADS, f"asyncz_queue-{self.name}")
        # The copied context carries current_job() (set by the base class) into the thread.
        context = contextvars.copy_context()
        call = threads.submit(context.run, func, *job.args, **job.kwargs)
        try:
            result = await call.future
        except asyncio.CancelledError:
            threads.abandon(call)  # not started yet: it never will be
            raise
        if asyncio.iscoroutine(result):
            result = await result
        return result
