"""ThreadPoolExecutor: real threads, honest timeouts, cooperative cancellation."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asyncz_queue.exceptions import MaximumInstancesError
from asyncz_queue.executors.pool import ThreadPoolExecutor, stop_requested
from asyncz_queue.jobs import Job
from tests.executors import jobfuncs
from tests.executors.support import Outcomes, fail, run, started, until

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pool() -> AsyncIterator[ThreadPoolExecutor]:
    async with started(ThreadPoolExecutor(max_workers=2), "threads") as executor:
        yield executor


async def test_functions_run_on_pool_threads_and_see_their_job(pool: ThreadPoolExecutor) -> None:
    job = Job.from_func(jobfuncs.whoami)
    seen = await run(pool, job)
    assert seen["thread"] != threading.get_ident()
    assert seen["job_id"] == job.id


async def test_coroutine_functions_run_on_their_own_loop_in_a_pool_thread(
    pool: ThreadPoolExecutor,
) -> None:
    job = Job.from_func(jobfuncs.async_whoami)
    seen = await run(pool, job)
    assert seen["thread"] != threading.get_ident()
    assert seen["job_id"] == job.id
    assert await run(pool, Job.from_func(jobfuncs.async_add, args=(2, 3))) == 5


async def test_jobs_share_at_most_max_workers_threads(pool: ThreadPoolExecutor) -> None:
    outcomes = Outcomes()
    jobs = [Job.from_func(jobfuncs.whoami) for _ in range(8)]
    for job in jobs:
        pool.submit(job, outcomes)
    threads = {(await outcomes.result(job))["thread"] for job in jobs}
    assert 1 <= len(threads) <= 2


async def test_an_error_keeps_its_type_message_and_traceback(pool: ThreadPoolExecutor) -> None:
    error = await fail(pool, Job.from_func(jobfuncs.fail, args=("boom",)))
    assert (error.type_name, error.message) == ("ValueError", "boom")
    assert "jobfuncs.py" in error.traceback and "in fail" in error.traceback


async def test_timeout_fails_the_attempt_and_says_the_thread_keeps_running(
    pool: ThreadPoolExecutor, tmp_path: Path
) -> None:
    freed: list[bool] = []
    pool.on_capacity = lambda: freed.append(True)
    marker = str(tmp_path / "outcome")
    job = Job.from_func(jobfuncs.wait_for_stop, args=(10, marker), timeout=0.3)
    error = await fail(pool, job)
    assert error.type_name == "TimeoutError"
    assert "timeout of 0.3 s" in error.message
    assert "cannot be stopped" in error.message and "keeps running" in error.message
    # The thread is still busy with the job, so it is not offered as a free slot ...
    assert pool.abandoned_threads == 1
    assert pool.free_slots == 1
    # ... until the job reads its stop flag and returns, which the scheduler is told of.
    await until(lambda: Path(marker).exists() and pool.abandoned_threads == 0)
    await until(lambda: freed)
    assert Path(marker).read_text() == "stopped"
    assert pool.free_slots == 2


async def test_a_timed_out_thread_keeps_its_tasks_instance_until_it_returns(
    pool: ThreadPoolExecutor, tmp_path: Path
) -> None:
    marker = str(tmp_path / "outcome")
    job = Job.from_func(jobfuncs.wait_for_stop, args=(10, marker), timeout=0.3)
    await fail(pool, job.evolve(task_id="t", max_instances=1))
    # The function still runs: with max_instances=1, no second instance may start beside it.
    assert pool.instances("t") == 1
    with pytest.raises(MaximumInstancesError):
        pool.submit(Job.from_func(jobfuncs.noop).evolve(task_id="t", max_instances=1), Outcomes())
    await until(lambda: Path(marker).exists() and pool.abandoned_threads == 0)
    assert pool.instances("t") == 0


async def test_a_job_raising_its_own_timeout_error_is_not_called_a_timeout(
    pool: ThreadPoolExecutor,
) -> None:
    job = Job.from_func(jobfuncs.raise_timeout, args=("mine",), timeout=30)
    error = await fail(pool, job)
    assert (error.type_name, error.message) == ("TimeoutError", "mine")


async def test_stop_job_flags_a_running_function_without_killing_its_thread(
    pool: ThreadPoolExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "outcome"
    job = Job.from_func(jobfuncs.wait_for_stop, args=(10, str(marker)))
    outcomes = Outcomes()
    pool.submit(job, outcomes)
    await until(Path(f"{marker}.started").exists)
    assert pool.stop_job(job.id)
    error = await outcomes.error(job)
    assert error.type_name.endswith("JobCancelledError")
    # The function went on running after the attempt ended, saw the flag and returned.
    await until(lambda: marker.exists() and marker.read_text() != "")  # written, not just made
    assert marker.read_text() == "stopped"
    await until(lambda: pool.abandoned_threads == 0)


async def test_stop_job_cancels_a_coroutine_running_in_a_thread(
    pool: ThreadPoolExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    job = Job.from_func(jobfuncs.async_sleep, args=(30, str(marker)))
    outcomes = Outcomes()
    pool.submit(job, outcomes)
    await until(marker.exists)
    assert pool.stop_job(job.id)
    error = await outcomes.error(job)
    assert error.type_name.endswith("JobCancelledError")
    # Its thread is released long before the 30 s sleep would end: the coroutine was cancelled.
    await until(lambda: pool.abandoned_threads == 0, timeout=5)


async def test_stop_requested_is_false_outside_a_thread_job() -> None:
    assert stop_requested() is False


async def test_shutdown_with_wait_lets_running_jobs_finish(tmp_path: Path) -> None:
    executor = ThreadPoolExecutor(max_workers=1)
    outcomes = Outcomes()
    job = Job.from_func(jobfuncs.sleep, args=(0.2,))
    executor.submit(job, outcomes)
    await executor.shutdown(wait=True)
    assert outcomes.outcomes[job.id] == ("slept", None)


async def test_shutdown_without_wait_interrupts_and_flags_running_jobs(tmp_path: Path) -> None:
    executor = ThreadPoolExecutor(max_workers=1)
    marker = tmp_path / "outcome"
    outcomes = Outcomes()
    job = Job.from_func(jobfuncs.wait_for_stop, args=(10, str(marker)))
    executor.submit(job, outcomes)
    await until(Path(f"{marker}.started").exists)
    await executor.shutdown(wait=False)
    assert outcomes.outcomes[job.id][1] is not None
    assert outcomes.outcomes[job.id][1].type_name.endswith("JobInterruptedError")
    await until(lambda: marker.exists() and marker.read_text() != "")  # written, not just made
    assert marker.read_text() == "stopped"


async def test_run_job_awaited_directly_runs_one_attempt_on_a_pool_thread(
    pool: ThreadPoolExecutor,
) -> None:
    # submit() starts jobs on a thread without an asyncio task; run_job is the awaitable
    # form of the same attempt, for subclasses and direct callers.
    job = Job.from_func(jobfuncs.whoami)
    seen = await pool.run_job(job)
    assert seen["thread"] != threading.get_ident() and seen["job_id"] == job.id
    with pytest.raises(ValueError, match="boom"):
        await pool.run_job(Job.from_func(jobfuncs.fail, args=("boom",)))
