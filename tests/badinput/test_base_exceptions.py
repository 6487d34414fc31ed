"""A job function that raises `SystemExit`, `KeyboardInterrupt` or `GeneratorExit` fails its
job (not retried: these are not `Exception`s) and the worker goes on serving."""

from __future__ import annotations

import pytest

from asyncz_queue import Job, JobState
from asyncz_queue.exceptions import JobFailedError
from tests.badinput.helpers import running_scheduler

pytestmark = pytest.mark.anyio

F = "tests.badinput.funcs"
CASES = [
    (f"{F}:raise_system_exit", "SystemExit", "3"),
    (f"{F}:raise_keyboard_interrupt", "KeyboardInterrupt", "pressed ^C inside a job"),
    (f"{F}:raise_generator_exit", "GeneratorExit", "closed inside a job"),
    (f"{F}:raise_system_exit_sync", "SystemExit", "4"),
    (f"{F}:raise_keyboard_interrupt_sync", "KeyboardInterrupt", "pressed ^C inside a threaded"),
]


@pytest.mark.parametrize("executor", ["asyncio", "debug", "threadpool"])
@pytest.mark.parametrize(("fn", "error_type", "message"), CASES)
async def test_base_exception_fails_the_job_and_the_worker_survives(
    executor: str, fn: str, error_type: str, message: str
) -> None:
    if executor == "threadpool" and not fn.endswith("_sync"):
        pytest.skip("the thread pool runs plain functions")
    async with running_scheduler("memory", executors={"default": {"type": executor}}) as scheduler:
        ref = await scheduler.push(Job.from_func(fn, max_attempts=3))
        failed = await ref.wait(timeout=10)
        assert failed.state is JobState.FAILED
        assert failed.attempts == 1  # a BaseException is not retried
        assert failed.error_type == error_type
        assert message in (failed.error or "")
        assert error_type in failed.errors[-1]  # the traceback is kept
        with pytest.raises(JobFailedError, match=error_type):
            await ref.result()
        # The worker is still there: the next job runs.
        assert scheduler.running
        after = await scheduler.push(f"{F}:echo", "still serving")
        assert await after.result(timeout=10) == "still serving"


@pytest.mark.postgres
async def test_base_exceptions_are_recorded_in_postgres(postgres_dsn: str) -> None:
    async with running_scheduler("postgres", postgres_dsn) as scheduler:
        refs = [await scheduler.push(Job.from_func(fn, max_attempts=2)) for fn, _, _ in CASES]
        for ref, (_, error_type, message) in zip(refs, CASES, strict=True):
            job = await ref.wait(timeout=15)
            assert (job.state, job.attempts, job.error_type) == (JobState.FAILED, 1, error_type)
            assert message in (job.error or "")
        assert await (await scheduler.push(f"{F}:echo", 7)).result(timeout=10) == 7
