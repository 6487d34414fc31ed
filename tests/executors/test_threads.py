"""ThreadRunner: real threads, outcomes back on the loop in batches, abandoned calls; and
thread jobs of the asyncio executor (no asyncio task each)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from asyncz_queue.executors import AsyncIOExecutor
from asyncz_queue.executors._threads import ThreadCall, ThreadRunner
from asyncz_queue.jobs import Job
from tests.executors import jobfuncs
from tests.executors.support import Outcomes, run, started, until

pytestmark = pytest.mark.anyio


@pytest.fixture
async def runner() -> AsyncIterator[ThreadRunner]:
    threads = ThreadRunner(2, "test-runner")
    yield threads
    threads.close()


def submit(
    runner: ThreadRunner, fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> tuple[ThreadCall, asyncio.Future[Any]]:
    """Submit a call; the future settles with its outcome."""
    future = asyncio.get_running_loop().create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    return runner.submit(settle, fn, *args, **kwargs), future


async def settled(*futures: asyncio.Future[Any]) -> list[Any]:
    return await asyncio.wait_for(asyncio.gather(*futures), 10)


def square(value: int) -> tuple[int, int]:
    return value * value, threading.get_ident()


def refuse(value: int) -> None:
    raise ValueError(f"refused {value}")


async def test_many_calls_come_back_with_their_own_results_from_at_most_size_threads(
    runner: ThreadRunner,
) -> None:
    outcomes = await settled(*(submit(runner, square, n)[1] for n in range(500)))
    assert [result for result, _ in outcomes] == [n * n for n in range(500)]
    threads = {thread for _, thread in outcomes}
    assert threading.get_ident() not in threads
    assert 1 <= len(threads) <= 2


async def test_errors_and_keyword_arguments_reach_the_loop(runner: ThreadRunner) -> None:
    with pytest.raises(ValueError, match="refused 7"):
        await settled(submit(runner, refuse, value=7)[1])


async def test_an_abandoned_queued_call_never_runs(runner: ThreadRunner) -> None:
    release = threading.Event()
    ran: list[str] = []
    blockers = [submit(runner, release.wait, 10)[1] for _ in range(2)]  # both threads busy
    queued, queued_outcome = submit(runner, ran.append, "queued")
    assert runner.abandon(queued) is False  # not started: withdrawn, no thread held
    release.set()
    await settled(*blockers)
    await settled(submit(runner, ran.append, "after")[1])
    assert ran == ["after"]
    assert not queued_outcome.done()  # an abandoned call reports nothing


async def test_an_abandoned_running_call_reports_when_its_thread_is_free_again(
    runner: ThreadRunner,
) -> None:
    started, release = threading.Event(), threading.Event()

    def hold() -> str:
        started.set()
        release.wait(10)
        return "late"

    call, outcome = submit(runner, hold)
    assert await asyncio.to_thread(started.wait, 10)
    returned = asyncio.Event()
    assert runner.abandon(call, returned.set) is True  # its thread stays busy
    release.set()
    await asyncio.wait_for(returned.wait(), 10)
    assert not outcome.done()  # its late result was discarded


async def test_abandoning_a_call_that_returned_holds_no_thread(runner: ThreadRunner) -> None:
    call, outcome = submit(runner, square, 3)
    assert (await settled(outcome))[0][0] == 9
    assert runner.abandon(call, lambda: None) is False


async def test_calls_run_side_by_side_on_idle_threads_after_a_busy_spell(
    runner: ThreadRunner,
) -> None:
    await settled(*(submit(runner, square, n)[1] for n in range(300)))
    # Both threads exist and wait now; two calls that need each other must get one each.
    meet = threading.Barrier(2, timeout=5)
    pair = [submit(runner, meet.wait)[1] for _ in range(2)]
    assert sorted(await settled(*pair)) == [0, 1]


# ---- plain functions on the asyncio executor -------------------------------------------


@pytest.fixture
async def executor() -> AsyncIterator[AsyncIOExecutor]:
    async with started(AsyncIOExecutor(max_workers=3), "loop") as instance:
        yield instance


async def test_plain_functions_run_on_threads_with_their_job(executor: AsyncIOExecutor) -> None:
    job = Job.from_func(jobfuncs.whoami)
    seen = await run(executor, job)
    assert seen["thread"] != threading.get_ident() and seen["job_id"] == job.id
    assert executor.running_jobs == [] and executor.free_slots == 3


async def test_a_timed_out_plain_function_fails_and_holds_its_slot_until_it_returns(
    executor: AsyncIOExecutor, tmp_path: Path
) -> None:
    marker = str(tmp_path / "stopped")
    outcomes = Outcomes()
    job = Job.from_func(jobfuncs.wait_for_stop, args=(10, marker), timeout=0.2)
    executor.submit(job, outcomes)
    error = await outcomes.error(job)
    assert error.type_name == "TimeoutError" and "0.2 s" in error.message
    assert executor.running_jobs == []
    # Its thread saw the stop flag and returned: the slot it held is free again.
    await until(lambda: Path(marker).exists() and executor.free_slots == 3)
    assert Path(marker).read_text() == "stopped"
    assert executor.abandoned_threads == 0


async def test_a_plain_function_that_cannot_be_imported_fails_its_attempt(
    executor: AsyncIOExecutor,
) -> None:
    outcomes = Outcomes()
    job = Job.from_func(jobfuncs.add, args=(1, 2)).evolve(fn="tests.executors.jobfuncs:gone")
    executor.submit(job, outcomes)
    error = await outcomes.error(job)
    assert "gone" in error.message
    assert executor.running_jobs == []


async def test_shutdown_with_wait_waits_for_thread_jobs(executor: AsyncIOExecutor) -> None:
    outcomes = Outcomes()
    jobs = [Job.from_func(jobfuncs.sleep, args=(0.2,)) for _ in range(3)]
    for job in jobs:
        executor.submit(job, outcomes)
    await executor.shutdown(wait=True)
    assert [outcomes.outcomes[job.id] for job in jobs] == [("slept", None)] * 3


def test_the_thread_and_process_helpers_are_exported_from_executors() -> None:
    import asyncz_queue.executors as executors
    from asyncz_queue.executors import pool, process

    assert executors.stop_requested is pool.stop_requested
    assert executors.WorkerDiedError is process.WorkerDiedError
    assert issubclass(executors.RemoteJobError, Exception)
    assert not executors.stop_requested()  # outside a thread job


async def test_a_plain_function_returning_a_coroutine_has_it_run_to_its_result(
    executor: AsyncIOExecutor,
) -> None:
    assert await run(executor, Job.from_func(jobfuncs.coroutine_of, args=(40, 2))) == 42
