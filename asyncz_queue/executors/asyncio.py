"""`AsyncIOExecutor` (alias `asyncio`): coroutines on the event loop, functions on threads."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from asyncz_queue.executors.base import BaseExecutor, OnDone, resolve_callable
from asyncz_queue.jobs import Job

#: Threads for plain functions, as many as `asyncio.to_thread` would use.
THREADS = min(32, (os.cpu_count() or 1) + 4)


class AsyncIOExecutor(BaseExecutor):
    """Awaits coroutine functions on the event loop; runs plain functions on up to
    `THREADS` worker threads so they never block the loop.

    A plain function that is still running when its attempt times out or is cancelled runs
    on to its end (a thread cannot be stopped; `stop_requested()` turns True) and what it
    returns then is discarded. A plain function that returns an awaitable has it run to its
    end on an event loop of its thread.
    """

    default_max_workers: ClassVar[int] = 1000

    def begin(self, job: Job, on_done: OnDone) -> None:
        try:
            func, is_coroutine = resolve_callable(job.fn)
        except Exception:
            is_coroutine = True  # run_job raises the same error, recorded as the attempt's
        if is_coroutine:
            super().begin(job, on_done)
            return
        self.start_on_thread(job, on_done, self.threads(THREADS), func, False)

    async def run_job(self, job: Job) -> Any:
        func, _ = resolve_callable(job.fn)  # a coroutine function (see `begin`)
        return await func(*job.args, **job.kwargs)
