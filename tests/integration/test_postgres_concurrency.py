"""PostgreSQL under concurrency: several stores (connections) racing on one schema.

Every claim is decided by the database, so racing stores in one process exercise the same
locking as racing processes (those are in `test_postgres_processes.py`).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from asyncz_queue.jobs import Job, JobState
from asyncz_queue.stores.postgres import PostgresStore
from asyncz_queue.tasks import Task
from asyncz_queue.triggers import IntervalTrigger
from tests.pg_cluster import open_postgres_store, unique_schema

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

FN = "tests.stores.contract:work"
T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
async def stores(postgres_dsn: str) -> AsyncIterator[list[PostgresStore]]:
    """Four started stores on one schema."""
    schema = unique_schema()
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(open_postgres_store(postgres_dsn, schema=schema))
            for _ in range(4)
        ]


async def drain(store: PostgresStore, worker: str, seen: Counter[str]) -> None:
    rng = random.Random(worker)
    while True:
        acquired = await store.acquire_jobs(worker, {"default": rng.randint(1, 40)}, T0, 30)
        if not acquired.jobs:
            return
        seen.update(job.id for job in acquired.jobs)
        done = [job.after_success(None, T0) for job in acquired.jobs]
        assert len(await store.complete_jobs(worker, done)) == len(done)


async def test_racing_workers_acquire_each_job_exactly_once(stores: list[PostgresStore]) -> None:
    jobs = [Job.from_func(FN, args=(i,), scheduled_at=T0) for i in range(2000)]
    await stores[0].add_jobs(jobs)
    seen: Counter[str] = Counter()
    await asyncio.gather(*(drain(store, f"w{i}", seen) for i, store in enumerate(stores)))
    assert seen.keys() == {job.id for job in jobs}
    assert set(seen.values()) == {1}
    assert len(await stores[0].get_jobs(state=JobState.SUCCEEDED, limit=5000)) == 2000


async def count_running(store: PostgresStore, task_id: str) -> int:
    async with await store.connect() as conn:
        query = sql.SQL("SELECT count(*) FROM {}.jobs WHERE task_id = %s AND state = 'running'")
        cur = await conn.execute(query.format(sql.Identifier(store.schema)), [task_id])
        row = await cur.fetchone()
        return 0 if row is None else int(row[0])


async def churn(store: PostgresStore, worker: str, rounds: int) -> None:
    """Acquire and complete jobs of the busy task at random."""
    rng = random.Random(worker)
    running: list[Job] = []
    for _ in range(rounds):
        running += (await store.acquire_jobs(worker, {"default": 3}, T0, 30)).jobs
        if running and rng.random() < 0.6:
            done = running.pop(rng.randrange(len(running)))
            await store.complete_jobs(worker, [done.after_success(None, T0)])
    await store.complete_jobs(worker, [job.after_success(None, T0) for job in running])


async def test_max_instances_holds_across_racing_workers(stores: list[PostgresStore]) -> None:
    jobs = [
        Job.from_func(FN, scheduled_at=T0 - timedelta(seconds=i)).evolve(
            task_id="busy", max_instances=2
        )
        for i in range(300)
    ]
    await stores[0].add_jobs(jobs)
    samples: list[int] = []

    async def watch() -> None:
        while True:
            samples.append(await count_running(stores[0], "busy"))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.gather(*(churn(store, f"w{i}", 60) for i, store in enumerate(stores)))
    finally:
        watcher.cancel()
    assert samples and max(samples) <= 2
    assert await count_running(stores[0], "busy") == 0
    # Every job either ran or was skipped at the limit; the counter is back to zero.
    states = Counter(job.state for job in await stores[0].get_jobs(limit=1000))
    assert states[JobState.SUCCEEDED] >= 2 and states[JobState.RUNNING] == 0
    async with await stores[0].connect() as conn:
        query = sql.SQL("SELECT running FROM {}.task_instances WHERE task_id = 'busy'")
        cur = await conn.execute(query.format(sql.Identifier(stores[0].schema)))
        assert await cur.fetchone() == (0,)


async def test_concurrent_pushes_of_one_unique_key_store_one_job(
    stores: list[PostgresStore],
) -> None:
    pushes = [
        store.add_jobs([Job.from_func(FN, unique_key="nightly-report")]) for store in stores * 5
    ]
    results = await asyncio.gather(*pushes)
    assert len({stored.id for [stored] in results}) == 1
    assert len(await stores[0].get_jobs()) == 1


async def test_racing_schedulers_fire_a_due_task_once(stores: list[PostgresStore]) -> None:
    await stores[0].add_task(
        Task(id="t", fn=FN, trigger=IntervalTrigger(seconds=10, start_at=T0), next_run_time=T0)
    )
    acquired = await asyncio.gather(
        *(store.acquire_tasks(f"s{i}", T0, 10, 30) for i, store in enumerate(stores))
    )
    assert sorted(len(tasks) for tasks in acquired) == [0, 0, 0, 1]


async def test_a_migration_while_workers_run_changes_nothing(
    stores: list[PostgresStore], postgres_dsn: str
) -> None:
    await stores[0].add_jobs([Job.from_func(FN, scheduled_at=T0) for _ in range(50)])
    seen: Counter[str] = Counter()
    await asyncio.gather(
        drain(stores[1], "w1", seen), stores[2].migrate(), drain(stores[3], "w3", seen)
    )
    assert len(seen) == 50 and set(seen.values()) == {1}
    async with await psycopg.AsyncConnection.connect(postgres_dsn) as conn:
        query = sql.SQL("SELECT count(*) FROM {}.schema_version")
        cur = await conn.execute(query.format(sql.Identifier(stores[0].schema)))
        assert (await cur.fetchone() or (0,))[0] >= 1
