"""A worker keeps the lease of a finished job until its outcome is written."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest

from asyncz_queue import AsyncIOScheduler, Job, JobState
from asyncz_queue.exceptions import StoreUnavailableError
from asyncz_queue.jobs import utcnow
from asyncz_queue.stores import MemoryStore

pytestmark = pytest.mark.anyio

LEASE = 30.0


class AwayStore(MemoryStore):
    """A memory store whose outcome writes fail while `away` (a database restarting)."""

    away = True

    async def complete_jobs(self, worker_id: str, jobs: Sequence[Job]) -> list[Job]:
        if self.away:
            raise StoreUnavailableError("the store is away")
        return await super().complete_jobs(worker_id, jobs)


async def test_an_unwritten_outcome_keeps_its_lease_and_is_written_when_the_store_is_back() -> None:
    store = AwayStore()
    scheduler = AsyncIOScheduler(stores={"default": store}, lease_seconds=LEASE)
    async with scheduler:
        try:
            await _check_lease_held_then_written(scheduler, store)
        finally:
            store.away = False  # so that shutdown can write what is left


async def _check_lease_held_then_written(scheduler: AsyncIOScheduler, store: AwayStore) -> None:
    ref = await scheduler.push("tests.schedulers.funcs:add", 1, 2)
    worker = scheduler._worker
    assert worker is not None
    executor = scheduler.executors["default"]
    async with asyncio.timeout(10):  # it ran; its outcome waits for the store
        while ref.job_id in executor.running_jobs or (
            (await ref.get()).state is not JobState.RUNNING
        ):
            await asyncio.sleep(0.01)
    assert worker.running_job_ids() == {"default": [ref.job_id]}
    # Later than the lease taken at the claim: it is renewed, not rescued as lost.
    await worker.housekeeping(utcnow() + timedelta(seconds=2 * LEASE))
    job = await ref.get()
    assert job.state is JobState.RUNNING and job.lease_until is not None
    assert job.lease_until > utcnow() + timedelta(seconds=2 * LEASE)
    store.away = False
    assert (await ref.wait(timeout=10)).result == 3


async def test_one_housekeeping_round_prunes_a_backlog_larger_than_a_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from asyncz_queue.schedulers import _worker

    monkeypatch.setattr(_worker, "PRUNE_BATCH", 5)
    scheduler = AsyncIOScheduler(job_retention=3600, lease_seconds=LEASE)
    async with scheduler:
        refs = await scheduler.push_many(
            [Job.from_func("tests.schedulers.funcs:add", args=(i, 1)) for i in range(23)]
        )
        for ref in refs:
            await ref.wait(timeout=10)
        worker = scheduler._worker
        assert worker is not None
        await worker.housekeeping(utcnow() + timedelta(hours=2))
        assert await scheduler.get_jobs(limit=100) == []


async def test_a_graceful_shutdown_keeps_the_leases_of_the_jobs_it_waits_for() -> None:
    # Two schedulers on one store: while A's shutdown waits for its job, B must not rescue
    # the job as lost (A's housekeeping renews its lease), and A still counts as running.
    store = MemoryStore()
    a = AsyncIOScheduler(stores={"default": store}, lease_seconds=0.6, identity="a")
    b = AsyncIOScheduler(
        stores={"default": store}, lease_seconds=0.6, identity="b", role="scheduler"
    )
    await a.start()
    async with b:
        ref = await a.push("tests.schedulers.funcs:sleep_for", 2)
        async with asyncio.timeout(10):
            while (await ref.get()).state is not JobState.RUNNING:
                await asyncio.sleep(0.01)
        stopping = asyncio.ensure_future(a.shutdown(wait=True))
        await asyncio.sleep(0.1)
        assert a.running  # until the shutdown is done
        async with asyncio.timeout(10):
            while not stopping.done():  # rescue rounds of another process meanwhile
                assert not await store.rescue_jobs(utcnow())
                await asyncio.sleep(0.05)
        assert not a.running
        job = await ref.get()
    assert (job.state, job.attempts) == (JobState.SUCCEEDED, 1)
