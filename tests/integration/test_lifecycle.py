"""Job lifecycle on both stores: retries, results, uniqueness, run-later, cancel, retention."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from asyncz_queue import AsyncIOScheduler, Job, JobState
from asyncz_queue.events import JobEvent, constants
from asyncz_queue.exceptions import JobFailedError, JobLookupError
from asyncz_queue.stores import BaseStore, MemoryStore
from tests.integration import lifecycle_funcs as funcs

pytestmark = pytest.mark.anyio

F = "tests.integration.lifecycle_funcs"


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_store(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A factory of fresh, unstarted stores of one kind (Postgres: a schema per test)."""
    if request.param == "memory":
        yield MemoryStore
        return
    from asyncz_queue.stores.postgres import PostgresStore

    dsn = request.getfixturevalue("postgres_dsn")
    schemas: list[str] = []

    def factory() -> BaseStore:
        schema = f"lifecycle_{uuid.uuid4().hex[:10]}"
        schemas.append(schema)
        return PostgresStore(dsn, schema=schema, poll_interval=0.5)

    yield factory
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
async def scheduler(make_store) -> AsyncIterator[AsyncIOScheduler]:  # type: ignore[no-untyped-def]
    funcs.attempts.clear()
    scheduler = AsyncIOScheduler(stores={"default": make_store()}, lease_seconds=5)
    await scheduler.migrate()
    await scheduler.start()
    yield scheduler
    if scheduler.running:
        await scheduler.shutdown(wait=False)


async def test_fails_twice_then_succeeds_with_bounded_backoff(
    scheduler: AsyncIOScheduler,
) -> None:
    retries: list[JobEvent] = []
    scheduler.add_listener(retries.append, constants.JOB_RETRYING)
    job = Job.from_func(
        f"{F}:fail_then_succeed",
        args=["a", 2],
        max_attempts=3,
        retry_backoff=0.05,
        retry_backoff_max=0.08,
    )
    done = await (await scheduler.push(job)).wait(timeout=10)
    assert done.state is JobState.SUCCEEDED and done.result == "done"
    assert done.attempts == 3
    assert len(done.errors) == 2
    assert "failed attempt 1" in done.errors[0] and "failed attempt 2" in done.errors[1]
    assert [e.attempt for e in retries] == [1, 2]
    for event, cap in zip(retries, (0.05, 0.08), strict=True):
        assert event.scheduled_at is not None
        delay = (event.scheduled_at - event.timestamp).total_seconds()
        assert -0.05 <= delay <= cap + 0.05  # full jitter in [0, cap]


async def test_exception_outside_retry_on_fails_after_one_attempt(
    scheduler: AsyncIOScheduler,
) -> None:
    job = Job.from_func(f"{F}:raise_key_error", args=["k"], max_attempts=5, retry_on=[ValueError])
    ref = await scheduler.push(job)
    with pytest.raises(JobFailedError) as info:
        await ref.result(timeout=10)
    assert info.value.error_type == "KeyError" and info.value.state == "failed"
    assert "raise KeyError(key)" in info.value.traceback
    assert (await ref.get()).attempts == 1


async def test_keyboard_interrupt_in_a_job_is_recorded_and_the_worker_survives(
    scheduler: AsyncIOScheduler,
) -> None:
    failed = await (await scheduler.push(f"{F}:interrupt")).wait(timeout=10)
    assert failed.state is JobState.FAILED and failed.error_type == "KeyboardInterrupt"
    assert await (await scheduler.push(f"{F}:echo", 7)).result(timeout=10) == 7


async def test_result_is_stored_and_wait_returns_it(scheduler: AsyncIOScheduler) -> None:
    value = {"rows": [1, 2, 3], "ok": True, "note": "ünïcode"}
    ref = await scheduler.push(f"{F}:echo", value)
    assert await ref.result(timeout=10) == value
    stored = await scheduler.get_job(ref.job_id)
    assert stored.result == value and stored.state is JobState.SUCCEEDED
    assert stored.started_at is not None and stored.completed_at is not None


async def test_concurrent_duplicate_pushes_yield_one_job(scheduler: AsyncIOScheduler) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    jobs = [
        Job.from_func(f"{F}:echo", args=[i], unique_key="report-42", scheduled_at=later)
        for i in range(20)
    ]
    refs = await asyncio.gather(*(scheduler.push(job) for job in jobs))
    assert len({ref.job_id for ref in refs}) == 1
    assert len(await scheduler.get_jobs(state=JobState.PENDING)) == 1


async def test_job_never_starts_before_its_scheduled_time(scheduler: AsyncIOScheduler) -> None:
    at = datetime.now(UTC) + timedelta(seconds=0.3)
    job = Job.from_func(f"{F}:echo", args=[1], scheduled_at=at)
    done = await (await scheduler.push(job)).wait(timeout=10)
    assert done.started_at is not None and done.started_at >= at


async def test_cancel_pending_and_running_asyncio_job(scheduler: AsyncIOScheduler) -> None:
    cancelled: list[str | None] = []
    scheduler.add_listener(lambda e: cancelled.append(e.job_id), constants.JOB_CANCELLED)
    later = datetime.now(UTC) + timedelta(hours=1)
    pending = await scheduler.push(Job.from_func(f"{F}:echo", args=[1], scheduled_at=later))
    assert (await scheduler.cancel_job(pending.job_id)).state is JobState.CANCELLED
    running = await scheduler.push(f"{F}:block_forever")
    async with asyncio.timeout(10):
        while (await running.get()).state is not JobState.RUNNING:
            await asyncio.sleep(0.01)
    await scheduler.cancel_job(running.job_id)
    assert (await running.wait(timeout=10)).state is JobState.CANCELLED
    assert cancelled == [pending.job_id, running.job_id]


async def test_finished_jobs_are_pruned_after_the_retention_time(make_store) -> None:  # type: ignore[no-untyped-def]
    scheduler = AsyncIOScheduler(
        stores={"default": make_store()}, lease_seconds=0.3, job_retention=0
    )
    await scheduler.migrate()
    async with scheduler:
        ref = await scheduler.push(f"{F}:echo", 1)
        await ref.wait(timeout=10)
        async with asyncio.timeout(10):
            while True:
                try:
                    await ref.get()
                except JobLookupError:
                    break
                await asyncio.sleep(0.05)


async def test_transactional_push_exists_only_if_the_transaction_commits(
    make_store,  # type: ignore[no-untyped-def]
    request: pytest.FixtureRequest,
) -> None:
    store = make_store()
    scheduler = AsyncIOScheduler(stores={"default": store})
    await scheduler.migrate()
    async with scheduler:
        job = Job.from_func(f"{F}:echo", args=["committed"])
        if isinstance(store, MemoryStore):
            with pytest.raises(ValueError, match="no transactions"):
                await scheduler.push(job, connection=object())
            return
        import psycopg

        dsn = request.getfixturevalue("postgres_dsn")
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            async with conn.transaction(force_rollback=True):
                rolled_back = await scheduler.push(
                    Job.from_func(f"{F}:echo", args=["rolled back"]), connection=conn
                )
            async with conn.transaction():
                committed = await scheduler.push(job, connection=conn)
        assert await committed.result(timeout=10) == "committed"
        with pytest.raises(JobLookupError):
            await rolled_back.get()
        assert [j.args for j in await scheduler.get_jobs()] == [("committed",)]


async def test_a_job_interrupted_by_a_shutdown_without_wait_spends_no_attempt(
    scheduler: AsyncIOScheduler,
) -> None:
    # A deploy that does not wait is not the job's fault: it runs again, as its first try.
    ref = await scheduler.push(Job.from_func(f"{F}:block_the_first_time", args=["k"]))
    async with asyncio.timeout(10):
        while (await ref.get()).state is not JobState.RUNNING:
            await asyncio.sleep(0.01)
    await scheduler.shutdown(wait=False)
    await scheduler.start(paused=True)  # a store can be read again, nothing runs yet
    stopped = await ref.get()
    assert (stopped.state, stopped.attempts, stopped.worker_id) == (JobState.PENDING, 0, None)
    await scheduler.resume()
    done = await ref.wait(timeout=10)
    assert (done.state, done.result, done.attempts) == (JobState.SUCCEEDED, "ran", 1)
