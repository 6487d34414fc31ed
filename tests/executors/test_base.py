"""What `BaseExecutor` promises every executor, checked on the built-in ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from asyncz_queue.executors import AsyncIOExecutor, BaseExecutor, DebugExecutor
from asyncz_queue.executors.pool import ThreadPoolExecutor
from asyncz_queue.executors.process import ProcessPoolExecutor
from asyncz_queue.jobs import Job
from tests.executors import jobfuncs
from tests.executors.support import Outcomes, run, until

pytestmark = pytest.mark.anyio

EXECUTORS = {
    "asyncio": AsyncIOExecutor,
    "debug": DebugExecutor,
    "threadpool": ThreadPoolExecutor,
    "processpool": ProcessPoolExecutor,
}


@pytest.fixture(params=sorted(EXECUTORS))
async def executor(request: pytest.FixtureRequest) -> BaseExecutor:
    instance = EXECUTORS[request.param](max_workers=2)
    instance.name = request.param
    yield instance
    await instance.shutdown(wait=False)


async def test_coroutine_functions_are_awaited_and_see_their_job(executor: BaseExecutor) -> None:
    job = Job.from_func(jobfuncs.async_whoami)
    seen = await run(executor, job)
    assert seen["job_id"] == job.id
    assert await run(executor, Job.from_func(jobfuncs.async_add, args=(20, 22))) == 42


async def test_stop_right_after_submit_reports_the_stop_and_frees_the_slot(
    executor: BaseExecutor, tmp_path: Path
) -> None:
    outcomes = Outcomes()
    marker = str(tmp_path / "stopped")
    job = Job.from_func(jobfuncs.wait_for_stop, args=(60, marker))
    job = job.evolve(task_id="t", max_instances=1)
    executor.submit(job, outcomes)
    assert executor.stop_job(job.id)  # before it could start, or just after
    error = await outcomes.error(job)
    assert error.type_name.endswith("JobCancelledError")
    assert executor.running_jobs == []
    # A thread that started the function is busy until it returns (it sees its stop flag),
    # and holds its task's instance until then.
    await until(lambda: executor.free_slots == 2)
    assert executor.instances("t") == 0


async def test_a_coroutine_job_stopped_before_it_began_never_runs(tmp_path: Path) -> None:
    executor = AsyncIOExecutor(max_workers=2)
    marker = tmp_path / "began"
    outcomes = Outcomes()
    job = Job.from_func(jobfuncs.async_sleep, args=(60, str(marker)))
    executor.submit(job, outcomes)
    assert executor.stop_job(job.id)  # its task has not taken a step yet
    error = await outcomes.error(job)
    assert error.type_name.endswith("JobCancelledError")
    assert not marker.exists()
    assert executor.running_jobs == [] and executor.free_slots == 2
    await executor.join()


async def test_join_returns_when_a_task_was_cancelled_from_outside_before_it_began() -> None:
    executor = AsyncIOExecutor(max_workers=2)
    job = Job.from_func(jobfuncs.async_sleep, args=(60,))
    executor.submit(job, Outcomes())
    for task in asyncio.all_tasks():  # as the event loop's own shutdown would
        if task.get_name() == f"asyncz_queue job {job.id}":
            task.cancel()
    await asyncio.wait_for(executor.join(), 5)
    assert executor.running_jobs == []
