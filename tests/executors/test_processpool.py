"""ProcessPoolExecutor: real child processes, recycled, killed on timeout, replaced on crash."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asyncz_queue.executors.process import ProcessPoolExecutor
from asyncz_queue.jobs import Job
from tests.executors import jobfuncs
from tests.executors.support import Outcomes, fail, pid_gone, run, started, until

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pool() -> AsyncIterator[ProcessPoolExecutor]:
    async with started(ProcessPoolExecutor(max_workers=2), "cpu") as executor:
        yield executor


async def test_functions_and_coroutines_run_in_children_that_see_their_job(
    pool: ProcessPoolExecutor,
) -> None:
    job = Job.from_func(jobfuncs.whoami)
    seen = await run(pool, job)
    assert seen["pid"] != os.getpid() and seen["pid"] in pool.worker_pids
    assert seen["job_id"] == job.id
    coroutine_job = Job.from_func(jobfuncs.async_whoami)
    seen = await run(pool, coroutine_job)
    assert seen["pid"] != os.getpid() and seen["job_id"] == coroutine_job.id
    assert await run(pool, Job.from_func(jobfuncs.async_add, args=(2, 3))) == 5


async def test_an_error_in_the_child_keeps_its_type_message_and_traceback(
    pool: ProcessPoolExecutor,
) -> None:
    error = await fail(pool, Job.from_func(jobfuncs.fail, args=("boom",)))
    assert (error.type_name, error.message) == ("ValueError", "boom")
    assert "jobfuncs.py" in error.traceback and "in fail" in error.traceback
    assert "ValueError" in error.names and error.retryable


async def test_a_child_is_replaced_after_max_jobs_per_worker() -> None:
    executor = ProcessPoolExecutor(max_workers=1, max_jobs_per_worker=2)
    try:
        pids = [(await run(executor, Job.from_func(jobfuncs.whoami)))["pid"] for _ in range(5)]
    finally:
        await executor.shutdown()
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
    assert len(set(pids)) == 3
    await until(lambda: all(pid_gone(pid) for pid in pids))


async def test_timeout_kills_the_child_and_the_pool_goes_on(pool: ProcessPoolExecutor) -> None:
    started = time.monotonic()
    job = Job.from_func(jobfuncs.sleep, args=(60,), timeout=0.5)
    error = await fail(pool, job)
    assert time.monotonic() - started < 10
    assert error.type_name == "TimeoutError"
    assert "timeout of 0.5 s" in error.message and "was killed" in error.message
    killed = int(error.message.split("(pid ")[1].split(")")[0])
    await until(lambda: pid_gone(killed))
    assert (await run(pool, Job.from_func(jobfuncs.whoami)))["pid"] != killed


async def test_executor_timeout_is_the_default_and_job_timeout_wins() -> None:
    executor = ProcessPoolExecutor(max_workers=1, timeout=0.3)
    try:
        error = await fail(executor, Job.from_func(jobfuncs.sleep, args=(60,)))
        assert "timeout of 0.3 s" in error.message
        assert await run(executor, Job.from_func(jobfuncs.sleep, args=(0.5,), timeout=30))
    finally:
        await executor.shutdown()


@pytest.mark.parametrize(
    ("func", "args", "expected"),
    [
        (jobfuncs.exit_now, (3,), "exited with code 3"),
        (jobfuncs.segfault, (), "killed by signal SIGSEGV"),
    ],
)
async def test_a_dying_child_fails_only_its_job_and_is_replaced(
    pool: ProcessPoolExecutor, func: object, args: tuple[object, ...], expected: str
) -> None:
    outcomes = Outcomes()
    survivor = Job.from_func(jobfuncs.sleep, args=(1,))
    pool.submit(survivor, outcomes)
    crash = Job.from_func(func, args=args)  # type: ignore[arg-type]
    pool.submit(crash, outcomes)
    error = await outcomes.error(crash)
    assert error.type_name == "asyncz_queue.executors.process.WorkerDiedError"
    assert expected in error.message and "will be replaced" in error.message
    assert await outcomes.result(survivor) == "slept"  # the other child's job is not lost
    assert await run(pool, Job.from_func(jobfuncs.add, args=(1, 2))) == 3


async def test_a_job_over_memory_limit_fails_with_memory_error_and_its_child_is_replaced() -> None:
    executor = ProcessPoolExecutor(max_workers=1, memory_limit=300 << 20)
    try:
        before = (await run(executor, Job.from_func(jobfuncs.whoami)))["pid"]
        error = await fail(executor, Job.from_func(jobfuncs.hog, args=(600,)))
        assert error.type_name == "MemoryError"
        assert f"memory_limit={300 << 20} bytes" in error.message
        assert await run(executor, Job.from_func(jobfuncs.hog, args=(32,))) == 32 << 20
        assert executor.worker_pids != [before]
    finally:
        await executor.shutdown()
    await until(lambda: pid_gone(before))


async def test_stop_job_kills_the_child_running_it(
    pool: ProcessPoolExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    outcomes = Outcomes()
    job = Job.from_func(jobfuncs.sleep, args=(60, str(marker)))
    pool.submit(job, outcomes)
    await until(marker.exists)
    pids = pool.worker_pids
    assert pool.stop_job(job.id)
    error = await outcomes.error(job)
    assert error.type_name.endswith("JobCancelledError")
    await until(lambda: sum(pid_gone(pid) for pid in pids) == 1)
    assert await run(pool, Job.from_func(jobfuncs.add, args=(2, 2))) == 4


async def test_shutdown_with_wait_lets_the_running_job_finish_then_ends_children() -> None:
    executor = ProcessPoolExecutor(max_workers=2)
    outcomes = Outcomes()
    job = Job.from_func(jobfuncs.sleep, args=(0.3,))
    executor.submit(job, outcomes)
    await until(lambda: executor.worker_pids)
    pids = executor.worker_pids
    await executor.shutdown(wait=True)
    assert outcomes.outcomes[job.id] == ("slept", None)
    await until(lambda: all(pid_gone(pid) for pid in pids))
    assert executor.worker_pids == []


async def test_shutdown_without_wait_interrupts_jobs_and_kills_their_children() -> None:
    executor = ProcessPoolExecutor(max_workers=1)
    outcomes = Outcomes()
    job = Job.from_func(jobfuncs.sleep, args=(60,))
    executor.submit(job, outcomes)
    await until(lambda: executor.worker_pids)
    pids = executor.worker_pids
    started = time.monotonic()
    await executor.shutdown(wait=False)
    assert time.monotonic() - started < 10
    assert outcomes.outcomes[job.id][1] is not None
    assert outcomes.outcomes[job.id][1].type_name.endswith("JobInterruptedError")
    await until(lambda: all(pid_gone(pid) for pid in pids))


async def test_results_and_arguments_that_cannot_be_pickled_fail_clearly(
    pool: ProcessPoolExecutor,
) -> None:
    error = await fail(pool, Job.from_func(jobfuncs.unpicklable_result))
    assert error.type_name == "asyncz_queue.exceptions.SerializationError"
    assert "result of type lock cannot be sent back" in error.message
    error = await fail(pool, Job.from_func(jobfuncs.add, args=(threading.Lock(), 1)))
    assert error.type_name == "asyncz_queue.exceptions.SerializationError"
    assert "cannot be sent to a worker process" in error.message
    assert await run(pool, Job.from_func(jobfuncs.add, args=(1, 1))) == 2
    # Pickled in the child, but it cannot be unpickled here: not the job's own error.
    error = await fail(pool, Job.from_func(jobfuncs.result_that_cannot_be_rebuilt))
    assert error.type_name == "asyncz_queue.exceptions.SerializationError"
    assert "cannot be unpickled in this one: TypeError" in error.message


async def test_children_do_not_inherit_the_parents_open_connections() -> None:
    # A connected socket pair stands in for a database connection the application holds.
    held, peer = socket.socketpair()
    with held, peer:
        inodes = {f"socket:[{os.fstat(s.fileno()).st_ino}]" for s in (held, peer)}
        executor = ProcessPoolExecutor(max_workers=1)
        try:
            descriptors = await run(executor, Job.from_func(jobfuncs.open_descriptors))
        finally:
            await executor.shutdown()
    assert any(target.startswith("socket:[") for target in descriptors)  # its own connection
    assert inodes.isdisjoint(descriptors)
