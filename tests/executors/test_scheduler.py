"""The pool executors inside a running scheduler: routing, limits, adding and removing."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from asyncz_queue import AsyncIOScheduler, Job, JobState, Reference
from asyncz_queue.events import JobEvent, SchedulerEvent, constants
from asyncz_queue.exceptions import ConfigurationError
from asyncz_queue.executors.process import ProcessPoolExecutor
from tests.executors import jobfuncs
from tests.executors.support import pid_gone, until

pytestmark = pytest.mark.anyio

EXECUTORS = {
    "threads": {"type": "threadpool", "max_workers": 2},
    "cpu": {"type": "processpool", "max_workers": 1},
}


async def _running(ref: Reference) -> None:
    async with asyncio.timeout(15):
        while (await ref.get()).state is not JobState.RUNNING:
            await asyncio.sleep(0.01)


async def test_jobs_pushed_to_a_pool_run_there() -> None:
    async with AsyncIOScheduler(executors={"default": {"type": "asyncio"}, **EXECUTORS}) as s:
        in_child = await s.push(Job.from_func(jobfuncs.whoami, executor="cpu"))
        in_thread = await s.push(Job.from_func(jobfuncs.whoami, executor="threads"))
        child, thread = await in_child.result(timeout=15), await in_thread.result(timeout=15)
        assert child["pid"] != os.getpid() and child["job_id"] == in_child.job_id
        assert child["attempts"] == 1
        assert thread["pid"] == os.getpid() and thread["thread"] != threading.get_ident()


@pytest.mark.parametrize(("first", "second"), [("threads", "cpu"), ("cpu", "threads")])
async def test_max_instances_holds_across_two_executors(
    first: str, second: str, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    codes: list[int] = []
    async with AsyncIOScheduler(executors={"default": {"type": "asyncio"}, **EXECUTORS}) as s:
        s.add_listener(lambda event: codes.append(event.code), constants.TASK_MAX_INSTANCES)
        await s.add_task(
            jobfuncs.wait_for_file,
            args=[str(release), 30],
            id="t",
            next_run_time=None,
            max_instances=1,
            executor=first,
        )
        running = await s.run_task("t")
        await _running(running)
        await s.update_task("t", executor=second)
        over = await s.run_task("t")
        skipped = await over.wait(timeout=15)
        release.touch()
        done = await running.wait(timeout=15)
    assert (skipped.executor, skipped.state) == (second, JobState.SKIPPED)
    assert codes == [constants.TASK_MAX_INSTANCES]
    assert (done.state, done.result) == (JobState.SUCCEEDED, "found")


async def test_a_process_pool_timeout_fails_the_job_and_the_next_one_runs() -> None:
    async with AsyncIOScheduler(executors={"default": {"type": "asyncio"}, **EXECUTORS}) as s:
        slow = await s.push(Job.from_func(jobfuncs.sleep, args=[60], executor="cpu", timeout=0.5))
        failed = await slow.wait(timeout=15)
        after = await s.push(Job.from_func(jobfuncs.add, args=[1, 2], executor="cpu"))
        assert await after.result(timeout=15) == 3
    assert failed.state is JobState.FAILED
    assert failed.error_type == "TimeoutError" and "was killed" in (failed.error or "")


async def test_cancel_job_stops_a_running_process_pool_job(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    async with AsyncIOScheduler(executors={"default": {"type": "asyncio"}, **EXECUTORS}) as s:
        ref = await s.push(Job.from_func(jobfuncs.sleep, args=[60, str(marker)], executor="cpu"))
        await until(marker.exists)
        await s.cancel_job(ref.job_id)
        cancelled = await ref.wait(timeout=15)
    assert cancelled.state is JobState.CANCELLED


async def test_add_and_remove_a_process_pool_on_a_running_scheduler() -> None:
    events: list[SchedulerEvent] = []
    async with AsyncIOScheduler() as s:
        s.add_listener(events.append, constants.EXECUTOR_ADDED | constants.EXECUTOR_REMOVED)
        await s.add_executor("cpu", {"type": "processpool", "max_workers": 1})
        executor = s.executors["cpu"]
        assert isinstance(executor, ProcessPoolExecutor)
        # A taken name is refused: the pool there would be left running, never shut down.
        with pytest.raises(ConfigurationError, match=r"'cpu' exists already; remove_executor"):
            await s.add_executor("cpu", {"type": "threadpool"})
        assert s.executors["cpu"] is executor
        pids = executor.worker_pids  # started with the scheduler running
        assert len(pids) == 1
        ref = await s.push(Job.from_func(jobfuncs.whoami, executor="cpu"))
        assert (await ref.result(timeout=15))["pid"] == pids[0]
        await s.remove_executor("cpu")
        assert "cpu" not in s.executors
        await until(lambda: pid_gone(pids[0]))
    assert [(e.code, e.alias) for e in events] == [
        (constants.EXECUTOR_ADDED, "cpu"),
        (constants.EXECUTOR_REMOVED, "cpu"),
    ]


async def test_job_events_name_the_pool_that_ran_the_job() -> None:
    events: list[JobEvent] = []
    async with AsyncIOScheduler(executors={"default": {"type": "asyncio"}, **EXECUTORS}) as s:
        s.add_listener(events.append, constants.JOB_SUCCEEDED)  # type: ignore[arg-type]
        ref = await s.push(Job.from_func(jobfuncs.async_add, args=[1, 1], executor="cpu"))
        assert await ref.result(timeout=15) == 2
        await until(lambda: events)
    assert events[0].executor == "cpu" and events[0].job_id == ref.job_id


async def test_a_thread_freed_after_a_timeout_runs_the_waiting_job(tmp_path: Path) -> None:
    executors = {"default": {"type": "threadpool", "max_workers": 1}}
    async with AsyncIOScheduler(executors=executors) as s:
        marker = str(tmp_path / "outcome")
        slow = Job.from_func(jobfuncs.wait_for_stop, args=[10, marker], timeout=0.3)
        timed_out = await s.push(slow)
        waiting = await s.push(Job.from_func(jobfuncs.add, args=[1, 2]))
        assert (await timed_out.wait(timeout=15)).error_type == "TimeoutError"
        # The only thread returns right after its stop flag is set; the job behind it must
        # not wait for some unrelated event to be picked up.
        assert await waiting.result(timeout=5) == 3


IN_PROCESS = {
    "loop": {"type": "asyncio"},
    "threads": {"type": "threadpool", "max_workers": 2},
    "inline": {"type": "debug"},
}


@pytest.mark.parametrize("alias", list(IN_PROCESS))
@pytest.mark.parametrize("fn", [jobfuncs.raise_broken_str, jobfuncs.async_raise_broken_str])
async def test_an_exception_whose_str_fails_still_fails_its_job_and_no_other(
    alias: str, fn: object
) -> None:
    async with AsyncIOScheduler(executors=IN_PROCESS) as s:
        broken = await s.push(Job.from_func(fn, executor=alias))  # type: ignore[arg-type]
        fine = await s.push(Job.from_func(jobfuncs.add, args=(1, 2), executor=alias))
        failed = await broken.wait(timeout=10)
        assert await fine.result(timeout=10) == 3
    assert failed.state is JobState.FAILED
    assert failed.error_type == "tests.executors.jobfuncs.BrokenStr"
    assert failed.error == "<str() of the exception failed: RuntimeError: no message for you>"


@pytest.mark.parametrize("alias", ["loop", "inline"])
async def test_a_cancelled_error_of_the_jobs_own_fails_it(alias: str) -> None:
    async with AsyncIOScheduler(executors=IN_PROCESS) as s:
        ref = await s.push(Job.from_func(jobfuncs.await_a_cancelled_task, executor=alias))
        failed = await ref.wait(timeout=10)
    assert (failed.state, failed.error_type) == (
        JobState.FAILED,
        "asyncio.exceptions.CancelledError",
    )


@pytest.mark.parametrize("alias", ["loop", "inline"])
async def test_a_timeout_error_of_the_jobs_own_is_not_reported_as_its_timeout(alias: str) -> None:
    async with AsyncIOScheduler(executors=IN_PROCESS) as s:
        job = Job.from_func(jobfuncs.give_up_waiting, executor=alias, timeout=30)
        failed = await (await s.push(job)).wait(timeout=10)
    assert (failed.state, failed.error_type, failed.error) == (JobState.FAILED, "TimeoutError", "")


async def test_a_plain_functions_timeout_counts_from_when_a_thread_takes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from asyncz_queue.executors import asyncio as asyncio_executor

    monkeypatch.setattr(asyncio_executor, "THREADS", 1)  # the second job waits for the first
    async with AsyncIOScheduler(executors={"default": {"type": "asyncio"}}) as s:
        first = await s.push(Job.from_func(jobfuncs.sleep, args=(0.6,)))
        second = await s.push(Job.from_func(jobfuncs.sleep, args=(0.05,), timeout=0.4))
        assert (await second.wait(timeout=10)).state is JobState.SUCCEEDED
        assert (await first.wait(timeout=10)).state is JobState.SUCCEEDED
