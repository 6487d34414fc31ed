"""`AsyncIOExecutor` (alias `asyncio`): coroutines on the event loop, functions in a thread."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from asyncz_queue.executors.base import BaseExecutor, resolve_callable
from asyncz_queue.jobs import Job


class AsyncIOExecutor(BaseExecutor):
    """Awaits coroutine functions on the event loop; runs plain functions in a worker thread
    (`asyncio.to_thread`) so they never block the loop."""

    default_max_workers: ClassVar[int] = 1000

    async def run_job(self, job: Job) -> Any:
        func, is_coroutine = resolve_callable(job.fn)
        if is_coroutine:
            return await func(*job.args, **job.kwargs)
        result = await asyncio.to_thread(func, *job.args, **job.kwargs)
        if asyncio.iscoroutine(result):
            result = await result
        return result
