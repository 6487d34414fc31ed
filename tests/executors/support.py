"""Helpers for driving executors directly: collect outcomes, poll for conditions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from asyncz_queue.executors import BaseExecutor
from asyncz_queue.jobs import Job, JobError

#: Upper bound for any single wait in these tests; generous for a loaded 2-core machine.
WAIT = 15.0


class Outcomes:
    """The `on_done` callback of `BaseExecutor.submit`, remembering every outcome."""

    def __init__(self) -> None:
        self.outcomes: dict[str, tuple[Any, JobError | None]] = {}
        self._changed = asyncio.Event()

    def __call__(self, job: Job, result: Any, error: JobError | None) -> None:
        self.outcomes[job.id] = (result, error)
        self._changed.set()

    async def wait(self, job: Job, timeout: float = WAIT) -> tuple[Any, JobError | None]:
        """The outcome of `job`, once the executor reported it."""
        async with asyncio.timeout(timeout):
            while job.id not in self.outcomes:
                self._changed.clear()
                await self._changed.wait()
        return self.outcomes[job.id]

    async def result(self, job: Job, timeout: float = WAIT) -> Any:
        """The result of `job`; fails the test when it raised."""
        result, error = await self.wait(job, timeout)
        assert error is None, f"{error.type_name}: {error.message}\n{error.traceback}"
        return result

    async def error(self, job: Job, timeout: float = WAIT) -> JobError:
        """The error of `job`; fails the test when it succeeded."""
        result, error = await self.wait(job, timeout)
        assert error is not None, f"expected an error, got the result {result!r}"
        return error


async def run(executor: BaseExecutor, job: Job, outcomes: Outcomes | None = None) -> Any:
    """Submit `job` and return its result."""
    outcomes = outcomes or Outcomes()
    executor.submit(job, outcomes)
    return await outcomes.result(job)


async def fail(executor: BaseExecutor, job: Job) -> JobError:
    """Submit `job` and return its error."""
    outcomes = Outcomes()
    executor.submit(job, outcomes)
    return await outcomes.error(job)


async def until(condition: Callable[[], Any], timeout: float = WAIT) -> None:
    """Poll `condition` until it is true; fail after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def pid_gone(pid: int) -> bool:
    """Whether no process `pid` exists (or it is a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().split(") ")[1].startswith("Z")
    except (FileNotFoundError, ProcessLookupError):
        return True


E = TypeVar("E", bound=BaseExecutor)


@contextlib.asynccontextmanager
async def started(executor: E, name: str) -> AsyncIterator[E]:
    """`executor`, named `name` and started; shut down without waiting afterwards."""
    executor.name = name
    await executor.start()
    try:
        yield executor
    finally:
        await executor.shutdown(wait=False)
