"""A third-party executor found through the `asyncz_queue.executors` entry-point group."""

from __future__ import annotations

from typing import Any

from asyncz_queue.executors import BaseExecutor, resolve_callable
from asyncz_queue.jobs import Job


class ReversingExecutor(BaseExecutor):
    """Calls the job's function with its positional arguments reversed; option `tag`."""

    def __init__(self, *, tag: str = "", **options: Any) -> None:
        super().__init__(**options)
        self.tag = tag

    async def run_job(self, job: Job) -> Any:
        func, is_coroutine = resolve_callable(job.fn)
        result = func(*reversed(job.args), **job.kwargs)
        return await result if is_coroutine else result
