"""`ThreadPoolExecutor` (aliases `threadpool`, `pool`): each job on a thread of a pool.

A Python thread cannot be killed. When a thread job times out, is cancelled or is interrupted
by `shutdown(wait=False)`, its attempt is recorded at once, but the thread keeps running until
the function returns: the executor raises the job's stop flag (`stop_requested()` turns True),
discards whatever the function returns later, and keeps counting the thread as busy in
`free_slots` so that no more jobs are started than there are threads to run them. A coroutine
function is run with its own event loop in the thread; a stop request cancels it for real.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from asyncz_queue.executors._threads import (
    StopFlag,
    current_stop_flag,
    run_job_here,
    stop_requested,
)
from asyncz_queue.executors.base import BaseExecutor, OnDone, resolve_callable
from asyncz_queue.jobs import Job

__all__ = ["StopFlag", "ThreadPoolExecutor", "current_stop_flag", "stop_requested"]


class ThreadPoolExecutor(BaseExecutor):
    """Runs each job on a thread of a pool of `max_workers` threads (default 10).

    Options: `max_workers`; `timeout` — default seconds per attempt (`Job.timeout` wins).
    A timed-out attempt fails with `TimeoutError` whose message says the thread could not be
    stopped; cancellation only raises the job's stop flag (see `stop_requested()`). Until
    such an abandoned thread returns, it still counts against `free_slots`.
    """

    default_max_workers: ClassVar[int] = 10
    enforces_timeout: ClassVar[bool] = True

    async def start(self) -> None:
        """Prepare the threads (they start as jobs need them)."""
        self.threads(self.max_workers)

    def begin(self, job: Job, on_done: OnDone) -> None:
        try:
            func, is_coroutine = resolve_callable(job.fn)
        except Exception:
            super().begin(job, on_done)  # run_job raises the same error, recorded as usual
            return
        self.start_on_thread(job, on_done, self.threads(self.max_workers), func, is_coroutine)

    async def run_job(self, job: Job) -> Any:
        """One attempt on a pool thread, awaited (jobs from `submit` start on a thread
        directly, without an asyncio task each)."""
        func, is_coroutine = resolve_callable(job.fn)
        future = asyncio.get_running_loop().create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

        threads = self.threads(self.max_workers)
        threads.submit(settle, run_job_here, func, is_coroutine, job, StopFlag())
        return await future
