"""Statements that took effect although their reply was lost (a link broken after the
commit): nothing is lost or run twice, and nothing waits for a lease to run out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from asyncz_queue import AsyncIOScheduler, Job, JobState
from asyncz_queue.events import SchedulerEvent, constants
from asyncz_queue.exceptions import ConflictIdError
from asyncz_queue.jobs import utcnow
from asyncz_queue.stores.postgres import PostgresStore
from asyncz_queue.triggers import DateTrigger
from tests.badinput.helpers import drop_schema
from tests.integration import lifecycle_funcs as funcs
from tests.integration.reply_loss import ReplyLoss
from tests.pg_cluster import unique_schema

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

F = "tests.integration.lifecycle_funcs"


@pytest.fixture
async def relay(postgres_dsn: str) -> AsyncIterator[ReplyLoss]:
    if "host=/" not in postgres_dsn:
        pytest.skip("the relay needs the server's unix socket")
    async with ReplyLoss(postgres_dsn) as relay:
        yield relay


@pytest.fixture
async def schema(postgres_dsn: str) -> AsyncIterator[str]:
    name = unique_schema()
    await PostgresStore(postgres_dsn, schema=name).migrate()
    yield name
    await drop_schema(postgres_dsn, name)


async def test_a_claim_whose_reply_was_lost_starts_its_jobs_after_all(
    postgres_dsn: str, relay: ReplyLoss, schema: str
) -> None:
    funcs.runs.clear()
    job = Job.from_func(f"{F}:record_run", args=["claimed"])
    pusher = PostgresStore(postgres_dsn, schema=schema)
    await pusher.start("pusher")
    try:
        await pusher.add_jobs([job])
        relay.lose_reply_to(b"d.take THEN 'running'")  # the claim (ACQUIRE_JOBS)
        store = PostgresStore(relay.dsn, schema=schema, max_size=2, poll_interval=0.3)
        # A lease far longer than the test: only the worker itself can start the job.
        async with AsyncIOScheduler(stores={"default": store}, role="worker", lease_seconds=60):
            async with asyncio.timeout(20):
                while not (stored := await pusher.get_job(job.id)).state.finished:
                    await asyncio.sleep(0.02)
    finally:
        await pusher.shutdown()
    assert relay.lost == 1
    assert (stored.state, stored.attempts, funcs.runs) == (JobState.SUCCEEDED, 1, ["claimed"])


async def test_a_task_lease_whose_reply_was_lost_fires_its_run_time(
    relay: ReplyLoss, schema: str
) -> None:
    store = PostgresStore(relay.dsn, schema=schema, max_size=2, poll_interval=10)
    missed: list[SchedulerEvent] = []
    scheduler = AsyncIOScheduler(stores={"default": store}, role="scheduler", lease_seconds=30)
    scheduler.add_listener(missed.append, constants.TASK_MISSED)
    run_at = utcnow()
    # Stored at start, due: the first lease the scheduler takes is this task's.
    await scheduler.add_task(f"{F}:echo", DateTrigger(run_at), args=[1], id="once")
    relay.lose_reply_to(b"SET lease_owner = $")  # the lease (ACQUIRE_TASKS)
    async with scheduler:
        async with asyncio.timeout(20):
            while not (jobs := await scheduler.get_jobs(task_id="once")) and not missed:
                await asyncio.sleep(0.02)
    assert relay.lost == 1
    assert missed == [] and len(jobs) == 1 and jobs[0].scheduled_at == run_at


async def test_a_task_added_whose_reply_was_lost_is_added_once_without_a_conflict(
    relay: ReplyLoss, schema: str
) -> None:
    store = PostgresStore(relay.dsn, schema=schema, max_size=2)
    async with AsyncIOScheduler(stores={"default": store}, role="scheduler") as scheduler:
        relay.lose_reply_to(b"tasks (id, next_run_time, spec")  # the insert (INSERT_TASK)
        await scheduler.add_task(f"{F}:echo", "interval", hours=1, args=[1], id="t")
        assert relay.lost == 1
        assert [t.id for t in await scheduler.get_tasks()] == ["t"]
        other = PostgresStore(relay.dsn, schema=schema, max_size=1)
        await other.start("other")
        try:  # the id is taken for anyone else: a real conflict is still one
            task = (await scheduler.get_task("t")).model_copy(update={"args": (2,)})
            with pytest.raises(ConflictIdError):
                await other.add_task(task)
        finally:
            await other.shutdown()
