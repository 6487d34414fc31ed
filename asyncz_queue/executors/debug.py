"""`DebugExecutor` (alias `debug`): every job inline on the event loop's thread."""

from __future__ import annotations

from typing import Any, ClassVar

from asyncz_queue.executors.base import BaseExecutor, call_job, resolve_callable
from asyncz_queue.jobs import Job


class DebugExecutor(BaseExecutor):
    """Runs every job inline on the event loop's thread (for tests and debugging): a plain
    function blocks the loop while it runs."""

    default_max_workers: ClassVar[int] = 1000

    async def run_job(self, job: Job) -> Any:
        func, is_coroutine = resolve_callable(job.fn)
        return await call_job(job, func, is_coroutine)
