"""The scheduler end to end on the memory store: lifecycle, jobs, tasks and events."""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from asyncz_queue import AsyncIOScheduler, Job, JobState
from asyncz_queue.events import JobEvent, constants
from asyncz_queue.events import broker as broker_module
from asyncz_queue.exceptions import (
    CallableReferenceError,
    ConflictIdError,
    JobFailedError,
    SchedulerAlreadyRunningError,
    SchedulerNotRunningError,
    SerializationError,
    TaskLookupError,
    UnknownAliasError,
)
from asyncz_queue.executors import AsyncIOExecutor, DebugExecutor
from asyncz_queue.stores import MemoryStore
from asyncz_queue.triggers import IntervalTrigger
from tests.schedulers import funcs

pytestmark = pytest.mark.anyio

F = "tests.schedulers.funcs"
#: Far enough ahead that a job scheduled then never runs during a test.
LATER = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _reset_funcs() -> None:
    funcs.calls.clear()
    funcs.failures.clear()
    funcs.gate = asyncio.Event()  # an Event binds to the loop of its first wait


async def test_defaults_are_one_memory_store_and_one_asyncio_executor() -> None:
    scheduler = AsyncIOScheduler()
    assert list(scheduler.stores) == ["default"]
    assert isinstance(scheduler.stores["default"], MemoryStore)
    assert isinstance(scheduler.executors["default"], AsyncIOExecutor)


async def test_unknown_executor_alias_names_it_and_lists_known_ones() -> None:
    with pytest.raises(UnknownAliasError, match=r"'nosuch'.*'asyncio'.*'debug'"):
        AsyncIOScheduler(executors={"default": {"type": "nosuch"}})


async def test_unknown_store_alias_names_it() -> None:
    with pytest.raises(UnknownAliasError, match=r"store alias 'redis'.*'memory'"):
        AsyncIOScheduler(stores={"default": {"type": "redis"}})


async def test_plugins_from_class_path_and_instance() -> None:
    debug = DebugExecutor()
    scheduler = AsyncIOScheduler(
        executors={"default": debug, "other": {"class": "asyncz_queue.executors:DebugExecutor"}}
    )
    assert scheduler.executors["default"] is debug
    assert isinstance(scheduler.executors["other"], DebugExecutor)
    assert scheduler.executors["other"].name == "other"


async def test_push_awaits_coroutines_and_runs_functions_in_a_thread() -> None:
    async with AsyncIOScheduler() as scheduler:
        assert await (await scheduler.push(f"{F}:async_add", 2, 3)).result(timeout=5) == 5
        ref = await scheduler.push(funcs.thread_name)
        assert await ref.result(timeout=5) != "MainThread"


async def test_debug_executor_runs_inline_on_the_loop_thread() -> None:
    async with AsyncIOScheduler(executors={"default": {"type": "debug"}}) as scheduler:
        ref = await scheduler.push(funcs.thread_name)
        assert await ref.result(timeout=5) == "MainThread"


async def test_lower_priority_runs_first_then_push_order() -> None:
    scheduler = AsyncIOScheduler(executors={"default": {"type": "debug", "max_workers": 1}})
    await scheduler.start(paused=True)
    try:
        jobs = [
            Job.from_func(funcs.record, args=[name]).with_priority(priority)
            for name, priority in [("c", 5), ("a", -1), ("b1", 0), ("b2", 0)]
        ]
        refs = await scheduler.push_many(jobs)
        await scheduler.resume()
        for ref in refs:
            await ref.wait(timeout=5)
        assert funcs.calls == ["a", "b1", "b2", "c"]
    finally:
        await scheduler.shutdown()


async def test_date_task_due_now_runs_once_and_reports_events() -> None:
    events: list[JobEvent] = []
    async with AsyncIOScheduler() as scheduler:
        scheduler.add_listener(events.append, constants.TASK_SUBMITTED | constants.JOB_SUCCEEDED)
        task = await scheduler.add_task(funcs.record, args=["once"], id="once")
        job = await _wait_for_task_job(scheduler, task.id)
        assert job.state is JobState.SUCCEEDED and job.result == "once"
        with pytest.raises(TaskLookupError):
            await scheduler.get_task("once")  # a finished date trigger deletes its task
    assert [e.code for e in events] == [constants.TASK_SUBMITTED, constants.JOB_SUCCEEDED]
    assert funcs.calls == ["once"]


async def test_interval_task_fires_repeatedly() -> None:
    async with AsyncIOScheduler() as scheduler:
        done = asyncio.Event()

        def on_success(event: object) -> None:
            if len(funcs.calls) >= 3:
                done.set()

        scheduler.add_listener(on_success, constants.JOB_SUCCEEDED)
        await scheduler.add_task(funcs.record, "interval", seconds=0.05, args=["tick"])
        async with asyncio.timeout(5):
            await done.wait()
    assert funcs.calls[:3] == ["tick"] * 3


async def test_async_listener_is_awaited_and_raising_listener_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen = asyncio.Event()

    async def async_listener(event: object) -> None:
        await asyncio.sleep(0)
        seen.set()

    def bad_listener(event: object) -> None:
        raise RuntimeError("listener broke")

    caplog.set_level(logging.ERROR, "asyncz_queue.events")
    async with AsyncIOScheduler() as scheduler:
        scheduler.add_listener(bad_listener, constants.JOB_SUCCEEDED)
        scheduler.add_listener(async_listener, constants.JOB_SUCCEEDED)
        assert await (await scheduler.push(funcs.add, 1, 1)).result(timeout=5) == 2
        async with asyncio.timeout(5):
            await seen.wait()
        assert await (await scheduler.push(funcs.add, 2, 2)).result(timeout=5) == 4
    assert "listener broke" in caplog.text


async def test_subscribe_yields_events_until_shutdown() -> None:
    scheduler = AsyncIOScheduler()
    await scheduler.start()
    received: list[int] = []

    async def consume() -> None:
        async for event in scheduler.subscribe(constants.JOB_PUSHED | constants.JOB_SUCCEEDED):
            received.append(event.code)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)
    await (await scheduler.push(funcs.add, 1, 2)).wait(timeout=5)
    await scheduler.shutdown()
    async with asyncio.timeout(5):
        await consumer
    assert received == [constants.JOB_PUSHED, constants.JOB_SUCCEEDED]


async def test_a_subscription_listens_from_the_call_and_stops_when_left() -> None:
    async with AsyncIOScheduler() as scheduler:
        events = scheduler.subscribe(constants.JOB_PUSHED)
        assert scheduler.wants(constants.JOB_PUSHED)
        ref = await scheduler.push(funcs.add, 1, 2)  # before the first `__anext__`
        async with asyncio.timeout(5):
            async for event in events:
                assert (event.code, event.job_id) == (constants.JOB_PUSHED, ref.job_id)
                break
        del events, event  # left: nothing queues for it any more
        assert not scheduler.wants(constants.JOB_PUSHED)


async def test_the_heartbeat_says_what_the_subscribers_listen_for_as_they_come_and_go() -> None:
    async def listens(scheduler: AsyncIOScheduler) -> int:
        [process] = await scheduler.store("default").get_processes()
        return process["listens"]

    async def becomes(scheduler: AsyncIOScheduler, mask: int) -> None:
        async with asyncio.timeout(5):
            while await listens(scheduler) != mask:
                await asyncio.sleep(0.001)

    async with AsyncIOScheduler() as scheduler:
        assert await listens(scheduler) == 0
        events = scheduler.subscribe(constants.JOB_PUSHED)
        pushed = asyncio.ensure_future(anext(events))
        await becomes(scheduler, constants.JOB_PUSHED)
        await scheduler.push(funcs.add, 1, 2)
        assert (await pushed).code == constants.JOB_PUSHED
        await events.aclose()
        await becomes(scheduler, 0)


async def test_an_async_listener_that_never_returns_cannot_hold_up_shutdown(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(broker_module, "LISTENER_GRACE", 0.2)
    finished: list[int] = []

    async def stuck(event: object) -> None:
        await asyncio.Event().wait()

    async def quick(event: object) -> None:
        await asyncio.sleep(0.05)
        finished.append(event.code)  # type: ignore[attr-defined]

    scheduler = AsyncIOScheduler()
    scheduler.add_listener(stuck, constants.JOB_SUCCEEDED)
    scheduler.add_listener(quick, constants.SCHEDULER_SHUTDOWN)
    await scheduler.start()
    await (await scheduler.push(funcs.add, 1, 2)).wait(timeout=5)
    async with asyncio.timeout(5):
        await scheduler.shutdown()
    assert finished == [constants.SCHEDULER_SHUTDOWN]  # waited for, not cancelled
    assert "cancelled 1 event listener call(s) still running" in caplog.text
    assert "stuck" in caplog.text


async def test_a_listener_may_shut_the_scheduler_down() -> None:
    scheduler = AsyncIOScheduler()

    async def stop_on_success(event: object) -> None:
        await scheduler.shutdown()

    scheduler.add_listener(stop_on_success, constants.JOB_SUCCEEDED)
    await scheduler.start()
    await scheduler.push(funcs.add, 1, 2)
    async with asyncio.timeout(3):  # not the listeners' grace: it does not wait for itself
        await scheduler.run_until_stopped()
    assert not scheduler.running


async def test_a_job_cannot_shut_down_its_scheduler_from_inside_but_may_schedule_it() -> None:
    # From inside, the shutdown would wait for the job that waits for it.
    async with AsyncIOScheduler() as scheduler:
        funcs.scheduler = scheduler
        inside = await (await scheduler.push(funcs.shut_down_inside)).wait(timeout=5)
        assert inside.state is JobState.FAILED and inside.error_type == "RuntimeError"
        assert "cannot shut down the scheduler it runs on" in (inside.error or "")
        assert scheduler.running
        after = await scheduler.push(funcs.shut_down_after)
        async with asyncio.timeout(5):
            await scheduler.run_until_stopped()
    assert not scheduler.running
    finished = await scheduler.store("default").get_job(after.job_id)  # waited for, recorded
    assert (finished.state, finished.result) == (JobState.SUCCEEDED, "scheduled")


async def test_retries_until_success_keep_every_traceback() -> None:
    async with AsyncIOScheduler() as scheduler:
        job = Job.from_func(funcs.flaky, args=["k", 2], max_attempts=3, retry_backoff=0.01)
        finished = await (await scheduler.push(job)).wait(timeout=5)
    assert finished.state is JobState.SUCCEEDED
    assert finished.attempts == 3
    assert len(finished.errors) == 2
    assert "attempt 2 failed" in finished.errors[1]


async def test_last_failure_is_failed_and_result_raises_job_failed_error() -> None:
    async with AsyncIOScheduler() as scheduler:
        ref = await scheduler.push(
            Job.from_func(funcs.boom, args=["bad"], max_attempts=2, retry_backoff=0.01)
        )
        with pytest.raises(JobFailedError) as info:
            await ref.result(timeout=5)
    assert info.value.error_type == "RuntimeError"
    assert info.value.message == "bad"
    assert "raise RuntimeError(message)" in info.value.traceback
    assert (await ref.get()).attempts == 2


async def test_system_exit_in_a_job_is_recorded_and_the_scheduler_survives() -> None:
    async with AsyncIOScheduler() as scheduler:
        failed = await (await scheduler.push(funcs.exit_job)).wait(timeout=5)
        assert failed.state is JobState.FAILED and failed.error_type == "SystemExit"
        assert await (await scheduler.push(funcs.add, 1, 1)).result(timeout=5) == 2


async def test_result_that_is_not_json_fails_the_job_naming_the_type() -> None:
    async with AsyncIOScheduler() as scheduler:
        failed = await (await scheduler.push(funcs.not_json)).wait(timeout=5)
    assert failed.state is JobState.FAILED
    assert "result of type object cannot be stored" in (failed.error or "")


async def test_job_reads_its_own_context() -> None:
    async with AsyncIOScheduler() as scheduler:
        ref = await scheduler.push(funcs.whoami)
        assert await ref.result(timeout=5) == {"id": ref.job_id, "attempt": 1, "task_id": None}


async def test_max_instances_skips_the_fire_over_the_limit() -> None:
    events: list[int] = []
    async with AsyncIOScheduler() as scheduler:
        scheduler.add_listener(lambda e: events.append(e.code), constants.TASK_MAX_INSTANCES)
        await scheduler.add_task(funcs.wait_for_gate, id="t", next_run_time=None, max_instances=1)
        first = await scheduler.run_task("t")
        async with asyncio.timeout(5):
            while (await first.get()).state is not JobState.RUNNING:
                await asyncio.sleep(0.01)
        second = await scheduler.run_task("t")
        skipped = await second.wait(timeout=5)
        funcs.gate.set()
        assert (await first.wait(timeout=5)).state is JobState.SUCCEEDED
    assert skipped.state is JobState.SKIPPED
    assert events == [constants.TASK_MAX_INSTANCES]


async def test_unique_key_returns_the_unfinished_job() -> None:
    scheduler = AsyncIOScheduler()
    await scheduler.start(paused=True)
    try:
        job = Job.from_func(funcs.add, args=[1, 2], unique_key="sum")
        first = await scheduler.push(job)
        second = await scheduler.push(Job.from_func(funcs.add, args=[3, 4], unique_key="sum"))
        assert first == second
        await scheduler.resume()
        assert await second.result(timeout=5) == 3
        third = await scheduler.push(Job.from_func(funcs.add, args=[3, 4], unique_key="sum"))
        assert third != first  # the key is free again once the job finished
    finally:
        await scheduler.shutdown()


async def test_run_later_job_waits_for_its_time() -> None:
    async with AsyncIOScheduler() as scheduler:
        at = datetime.now(UTC) + timedelta(seconds=0.2)
        job = await (
            await scheduler.push(Job.from_func(funcs.add, args=[1, 1]).with_scheduled_at(at))
        ).wait(timeout=5)
    assert job.started_at is not None and job.started_at >= at


async def test_cancel_pending_and_running_jobs() -> None:
    events: list[int] = []
    scheduler = AsyncIOScheduler()
    scheduler.add_listener(lambda e: events.append(e.code), constants.JOB_CANCELLED)
    await scheduler.start(paused=True)
    try:
        pending = await scheduler.push(funcs.add, 1, 1)
        assert (await scheduler.cancel_job(pending.job_id)).state is JobState.CANCELLED
        await scheduler.resume()
        running = await scheduler.push(funcs.wait_for_gate)
        async with asyncio.timeout(5):
            while (await running.get()).state is not JobState.RUNNING:
                await asyncio.sleep(0.01)
        await scheduler.cancel_job(running.job_id)
        assert (await running.wait(timeout=5)).state is JobState.CANCELLED
    finally:
        await scheduler.shutdown()
    assert events == [constants.JOB_CANCELLED, constants.JOB_CANCELLED]


async def test_wait_times_out_with_builtin_timeout_error() -> None:
    scheduler = AsyncIOScheduler()
    await scheduler.start(paused=True)
    try:
        ref = await scheduler.push(funcs.add, 1, 1)
        with pytest.raises(TimeoutError):
            await ref.wait(timeout=0.05)
    finally:
        await scheduler.shutdown()


async def test_shutdown_wait_lets_running_jobs_finish() -> None:
    scheduler = AsyncIOScheduler()
    await scheduler.start()
    ref = await scheduler.push(funcs.sleep_for, 0.2)
    async with asyncio.timeout(5):
        while (await ref.get()).state is not JobState.RUNNING:
            await asyncio.sleep(0.01)
    await scheduler.shutdown(wait=True)
    assert (await ref.get()).state is JobState.SUCCEEDED


async def test_shutdown_without_wait_puts_running_jobs_back() -> None:
    scheduler = AsyncIOScheduler()
    await scheduler.start()
    ref = await scheduler.push(funcs.sleep_for, 30)
    async with asyncio.timeout(5):
        while (await ref.get()).state is not JobState.RUNNING:
            await asyncio.sleep(0.01)
    async with asyncio.timeout(5):
        await scheduler.shutdown(wait=False)
    job = await ref.get()
    assert job.state is JobState.PENDING and job.worker_id is None


async def test_nothing_new_fires_or_starts_once_shutdown_begins() -> None:
    scheduler = AsyncIOScheduler()
    await scheduler.start()
    heard: list[int] = []
    scheduler.add_listener(
        lambda event: heard.append(event.code), constants.TASK_SUBMITTED | constants.JOB_STARTED
    )
    # Due now, but the loops have not had a turn yet: shutdown begins first.
    await scheduler.add_task(funcs.record, "date", run_at=datetime.now(UTC), args=(1,), id="late")
    ref = await scheduler.push(funcs.record, 2)
    await scheduler.shutdown()
    assert heard == []
    assert funcs.calls == []
    assert (await ref.get()).state is JobState.PENDING
    assert [task.id for task in await scheduler.get_tasks()] == ["late"]


async def test_a_reference_waiting_when_the_scheduler_shuts_down_raises_a_clear_error() -> None:
    scheduler = AsyncIOScheduler()
    await scheduler.start()
    ref = await scheduler.push(Job.from_func(funcs.record, args=(1,), scheduled_at=LATER))
    waiting = asyncio.create_task(ref.wait())
    await asyncio.sleep(0)  # let it start waiting
    await scheduler.shutdown()
    with pytest.raises(SchedulerNotRunningError, match=f"before job {ref.job_id} finished"):
        await waiting
    assert not waiting.cancelled()


async def test_get_jobs_refuses_an_unknown_state_and_a_negative_limit() -> None:
    scheduler = AsyncIOScheduler()
    await scheduler.start()
    ref = await scheduler.push(Job.from_func(funcs.record, args=(1,), scheduled_at=LATER))
    with pytest.raises(ValueError, match="unknown job state 'bogus'; known: pending, running"):
        await scheduler.get_jobs(state="bogus")
    with pytest.raises(ValueError, match="limit must be an integer >= 0, got -1"):
        await scheduler.get_jobs(limit=-1)
    # A state's value works as well as the JobState itself.
    assert [job.id for job in await scheduler.get_jobs(state="pending")] == [ref.job_id]
    assert await scheduler.get_jobs(limit=0) == []
    await scheduler.shutdown()


@pytest.mark.parametrize(
    ("callback", "mask", "error", "message"),
    [
        (42, constants.ALL_EVENTS, TypeError, "listener must be callable, got 42"),
        (print, 0, ValueError, "event mask 0 selects no event"),
        (print, -1, ValueError, "event mask -1 selects no event"),
        (print, constants.JOB_STARTED | 1 << 40, ValueError, "bits that are no event code"),
        (print, "jobs", TypeError, "an event mask is an int .*, got str"),
        (print, True, TypeError, "got bool"),
    ],
)
async def test_a_listener_or_mask_that_could_never_work_is_refused_at_once(
    callback: Any, mask: Any, error: type[Exception], message: str
) -> None:
    scheduler = AsyncIOScheduler()
    with pytest.raises(error, match=message):
        scheduler.add_listener(callback, mask)
    if callable(callback):
        with pytest.raises(error, match=message):
            scheduler.subscribe(mask)
    assert not scheduler.wants(constants.ALL_EVENTS)  # nothing was registered


async def test_start_twice_and_shutdown_when_stopped_raise() -> None:
    scheduler = AsyncIOScheduler()
    with pytest.raises(SchedulerNotRunningError):
        await scheduler.shutdown()
    async with scheduler:
        with pytest.raises(SchedulerAlreadyRunningError):
            await scheduler.start()
    assert not scheduler.running


async def test_pause_stops_new_jobs_and_resume_runs_them() -> None:
    async with AsyncIOScheduler() as scheduler:
        await scheduler.pause()
        assert scheduler.running and scheduler.paused
        ref = await scheduler.push(funcs.add, 2, 2)
        for _ in range(20):
            await asyncio.sleep(0)
        assert (await ref.get()).state is JobState.PENDING
        await scheduler.resume()
        assert await ref.result(timeout=5) == 4


async def test_roles_split_firing_and_working() -> None:
    store = MemoryStore()
    firing = AsyncIOScheduler(stores={"default": store}, role="scheduler")
    working = AsyncIOScheduler(stores={"default": store}, role="worker")
    async with firing:
        await firing.add_task(funcs.add, args=[1, 2], id="x")
        job = await _wait_for_task_job(firing, "x", state=JobState.PENDING)
        assert job.state is JobState.PENDING  # no worker here
        async with working:
            done = await working.wait_for_job(job.id, timeout=5)
    assert done.result == 3


# ---- tasks ----------------------------------------------------------------------------


async def test_tasks_added_before_start_are_stored_at_start() -> None:
    scheduler = AsyncIOScheduler()
    await scheduler.add_task(funcs.add, "interval", seconds=60, args=[1, 2], id="early")

    decorated = scheduler.task("interval", minutes=5, id="decorated")(funcs.record)
    assert decorated is funcs.record  # the decorator returns the function unchanged

    assert {t.id for t in await scheduler.get_tasks()} == {"early", "decorated"}
    async with scheduler:
        tasks = await scheduler.get_tasks()
        assert {t.id for t in tasks} == {"early", "decorated"}
        assert all(t.next_run_time is not None for t in tasks)


async def test_tasks_added_before_start_can_be_changed_and_deleted_before_start() -> None:
    scheduler = AsyncIOScheduler(
        stores={"default": {"type": "memory"}, "other": {"type": "memory"}}
    )
    for task_id in ("a", "b", "c"):
        await scheduler.add_task(funcs.add, "interval", hours=1, args=[1, 2], id=task_id)
    await scheduler.add_task(funcs.add, "interval", hours=1, args=[1, 2], id="d", store="other")
    assert (await scheduler.update_task("a", name="renamed")).name == "renamed"
    assert (await scheduler.pause_task("b")).paused
    await scheduler.delete_task("c")
    with pytest.raises(TaskLookupError):
        await scheduler.get_task("c")
    assert (await scheduler.get_task("d", store="other")).store == "other"
    with pytest.raises(TaskLookupError):
        await scheduler.get_task("d", store="default")
    assert {t.id for t in await scheduler.get_tasks(store="default")} == {"a", "b"}
    await scheduler.remove_all_tasks(store="other")
    assert {t.id for t in await scheduler.get_tasks()} == {"a", "b"}
    async with scheduler:
        assert {t.id for t in await scheduler.get_tasks()} == {"a", "b"}
        assert (await scheduler.get_task("a")).name == "renamed"
        assert not (await scheduler.get_task("a")).paused
        assert (await scheduler.get_task("b")).paused  # stored paused, as changed


async def test_a_start_refused_for_a_taken_task_id_keeps_the_other_pending_tasks() -> None:
    scheduler = AsyncIOScheduler()
    async with scheduler:
        await scheduler.add_task(funcs.add, "interval", hours=1, args=[1, 2], id="x")
    # The memory store keeps "x" while the scheduler is stopped: only start() can tell.
    await scheduler.add_task(funcs.add, "interval", hours=2, args=[1, 2], id="x")
    await scheduler.add_task(funcs.add, "interval", hours=1, args=[1, 2], id="y")
    with pytest.raises(ConflictIdError, match="x"):
        await scheduler.start()
    assert not scheduler.running
    assert {t.id for t in await scheduler.get_tasks()} >= {"x", "y"}
    await scheduler.delete_task("x")  # the one added while stopped
    async with scheduler:
        assert {t.id for t in await scheduler.get_tasks()} == {"x", "y"}
        assert (await scheduler.get_task("x")).trigger.interval.total_seconds() == 3600


@pytest.mark.parametrize("started", [False, True])
async def test_a_naive_next_run_time_is_refused_and_stores_nothing(started: bool) -> None:
    # Stored, it could not be compared with any aware time: every fire loop round failed.
    scheduler = AsyncIOScheduler()
    if started:
        await scheduler.start()
    try:
        with pytest.raises(ValueError, match="has no timezone"):
            await scheduler.add_task(
                funcs.add,
                "interval",
                hours=1,
                args=[1, 2],
                id="n",
                next_run_time=datetime(2030, 1, 1),
            )
        assert await scheduler.get_tasks() == []
        await scheduler.add_task(funcs.add, "interval", hours=1, args=[1, 2], id="ok")
        with pytest.raises(ValueError, match="has no timezone"):
            await scheduler.update_task("ok", next_run_time=datetime(2030, 1, 1))
        assert (await scheduler.get_task("ok")).next_run_time != datetime(2030, 1, 1)
    finally:
        if started:
            await scheduler.shutdown()


async def test_task_api_changes_lookups_and_errors() -> None:
    async with AsyncIOScheduler() as scheduler:
        task = await scheduler.add_task(funcs.add, "interval", hours=1, args=[1, 2], id="t1")
        with pytest.raises(ConflictIdError, match="t1"):
            await scheduler.add_task(funcs.add, "interval", hours=1, args=[1, 2], id="t1")
        replaced = await scheduler.add_task(
            funcs.add, "interval", hours=2, args=[3, 4], id="t1", replace_existing=True
        )
        assert replaced.args == (3, 4)
        updated = await scheduler.update_task("t1", name="renamed", priority=3)
        assert (updated.name, updated.priority) == ("renamed", 3)
        paused = await scheduler.pause_task("t1")
        assert paused.paused
        resumed = await scheduler.resume_task("t1")
        assert resumed is not None and resumed.next_run_time is not None
        rescheduled = await scheduler.reschedule_task("t1", "interval", minutes=1)
        assert rescheduled.next_run_time is not None
        assert rescheduled.next_run_time - datetime.now(UTC) <= timedelta(minutes=1)
        preview = await scheduler.preview_task_runs("t1", 3)
        assert [b - a for a, b in itertools.pairwise(preview)] == [timedelta(minutes=1)] * 2
        await scheduler.delete_task("t1")
        for method in (
            scheduler.get_task,
            scheduler.delete_task,
            scheduler.pause_task,
            scheduler.resume_task,
            scheduler.run_task,
        ):
            with pytest.raises(TaskLookupError, match="t1"):
                await method("t1")
        assert task.id == "t1"
        await scheduler.add_task(funcs.add, "interval", hours=1, args=[1, 2])
        await scheduler.remove_all_tasks()
        assert await scheduler.get_tasks() == []


async def test_bad_task_input_is_refused_with_a_precise_error() -> None:
    scheduler = AsyncIOScheduler()
    with pytest.raises(CallableReferenceError, match="lambda"):
        await scheduler.add_task(lambda: None)
    with pytest.raises(CallableReferenceError, match="nosuch_module"):
        await scheduler.add_task("nosuch_module:fn")
    with pytest.raises(CallableReferenceError, match="no attribute 'missing'"):
        await scheduler.add_task(f"{F}:missing")
    with pytest.raises(SerializationError, match="object"):
        await scheduler.add_task(funcs.add, args=[object(), 1])
    with pytest.raises(ValueError, match="-5"):
        await scheduler.add_task(funcs.add, "interval", seconds=-5)
    with pytest.raises(UnknownAliasError, match="'gpu'"):
        await scheduler.add_task(funcs.add, executor="gpu")
    with pytest.raises(UnknownAliasError, match="'elsewhere'"):
        await scheduler.add_task(funcs.add, store="elsewhere")
    async with scheduler:
        with pytest.raises(SerializationError, match="object"):
            await scheduler.push(funcs.add, object(), 1)
        with pytest.raises(UnknownAliasError, match="'gpu'"):
            await scheduler.push(Job.from_func(funcs.add, args=[1, 1], executor="gpu"))
        assert await scheduler.get_jobs() == []  # nothing half-stored


async def _wait_for_task_job(
    scheduler: AsyncIOScheduler, task_id: str, state: JobState | None = None
) -> Job:
    async with asyncio.timeout(5):
        while True:
            jobs = await scheduler.get_jobs(task_id=task_id)
            if jobs and (state is not None or jobs[0].state.finished):
                return jobs[0]
            await asyncio.sleep(0.01)


class _Broken(IntervalTrigger):
    """An interval trigger whose maths fails once the task is due (a buggy plugin)."""

    __slots__ = ()

    def get_next_trigger_time(self, timezone: Any, previous: Any, now: Any = None) -> Any:
        if previous is not None:
            raise ArithmeticError("the plugin's maths failed")
        return super().get_next_trigger_time(timezone, previous, now)


@pytest.mark.parametrize("timeout", [float("nan"), "5", True])
async def test_waiting_with_a_timeout_that_is_no_number_of_seconds_is_refused(
    timeout: object,
) -> None:
    async with AsyncIOScheduler() as scheduler:
        ref = await scheduler.push(funcs.add, 1, 2)
        with pytest.raises(ValueError, match=r"timeout must be a number of seconds or None"):
            await ref.wait(timeout=timeout)  # type: ignore[arg-type]
        assert (await ref.wait(timeout=5)).result == 3  # the loop's timers still work


async def test_a_task_whose_trigger_fails_is_paused_and_the_others_still_fire(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with AsyncIOScheduler() as scheduler:
        await scheduler.pause()
        due = datetime.now(UTC)
        for task_id, trigger in [
            ("broken", _Broken(minutes=1)),
            ("fine", IntervalTrigger(minutes=1)),
        ]:
            await scheduler.add_task(funcs.add, trigger, args=(1, 2), id=task_id, next_run_time=due)
        await scheduler._firer.fire_due(due)
        assert (await scheduler.get_task("broken")).paused
        fine = await scheduler.get_task("fine")
        assert fine.next_run_time is not None and fine.next_run_time > due
        assert [job.task_id for job in await scheduler.get_jobs()] == ["fine"]
    assert "task 'broken' cannot fire and is paused" in caplog.text
    assert "the plugin's maths failed" in caplog.text


async def test_fire_later_than_the_grace_time_is_missed_not_run() -> None:
    missed = asyncio.Event()
    events: list[int] = []

    def on_event(event: object) -> None:
        events.append(event.code)  # type: ignore[attr-defined]
        if event.code == constants.TASK_MISSED:  # type: ignore[attr-defined]
            missed.set()

    async with AsyncIOScheduler() as scheduler:
        scheduler.add_listener(on_event, constants.TASK_MISSED | constants.TASK_SUBMITTED)
        late = datetime.now(UTC) - timedelta(seconds=10)
        await scheduler.add_task(
            funcs.record,
            "interval",
            minutes=1,
            args=["late"],
            next_run_time=late,
            mistrigger_grace_time=1,
            id="late",
        )
        async with asyncio.timeout(5):
            await missed.wait()
        task = await scheduler.get_task("late")
    assert events == [constants.TASK_MISSED]
    assert funcs.calls == []
    assert task.next_run_time is not None and task.next_run_time > datetime.now(UTC)


async def test_each_scheduler_reports_a_heartbeat_to_its_stores() -> None:
    store = MemoryStore()
    web = AsyncIOScheduler(stores={"default": store}, identity="web-1", role="scheduler")
    worker = AsyncIOScheduler(stores={"default": store}, identity="worker-1")
    async with web, worker:
        processes = {entry["identity"]: entry for entry in await store.get_processes()}
    assert processes["web-1"]["role"] == "scheduler" and processes["web-1"]["executors"] == {}
    assert processes["worker-1"]["role"] == "both"
    assert processes["worker-1"]["executors"]["default"]["max_workers"] == 1000


class FlakyStore(MemoryStore):
    """A memory store whose job acquisition fails a few times (a database outage)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def acquire_jobs(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("database is away")
        return await super().acquire_jobs(*args, **kwargs)


async def test_store_outage_is_reported_once_then_the_loop_recovers() -> None:
    errors: list[str | None] = []
    scheduler = AsyncIOScheduler(stores={"default": FlakyStore(failures=3)})
    scheduler.add_listener(lambda e: errors.append(e.exception), constants.STORE_ERROR)
    async with scheduler:
        assert await (await scheduler.push(funcs.add, 2, 3)).result(timeout=10) == 5
    assert errors == ["ConnectionError: database is away"]


async def test_decorator_on_a_module_level_function_adds_the_task_at_start() -> None:
    from tests.schedulers import decorated_app

    async with decorated_app.scheduler as scheduler:
        task = await scheduler.get_task("nightly")
        assert task.fn == "tests.schedulers.decorated_app:nightly"
        async with asyncio.timeout(5):
            while not decorated_app.runs:
                await asyncio.sleep(0.01)
    assert decorated_app.nightly() == "ran"  # the function itself is unchanged


async def test_the_decorator_on_a_running_scheduler_adds_the_task_and_logs_a_refusal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, "asyncz_queue.scheduler")
    async with AsyncIOScheduler() as scheduler:
        await scheduler.add_task(funcs.add, "interval", hours=1, args=[1, 2], id="taken")
        scheduler.task("interval", hours=2, id="new")(funcs.record)
        scheduler.task("interval", hours=2, id="taken")(funcs.record)
        async with asyncio.timeout(5):
            while "taken" not in caplog.text or "new" not in {
                t.id for t in await scheduler.get_tasks()
            }:
                await asyncio.sleep(0.001)
        assert (await scheduler.get_task("taken")).fn.endswith(":add")  # kept
    [record] = [r for r in caplog.records if "decorator" in r.getMessage()]
    assert "could not add the task 'taken'" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is ConflictIdError
