"""PostgreSQL hand-over: a push takes an idle worker's offer and the job skips the claim.

`worker` and `pusher` are two stores on one schema, like two processes; `worker` claims
under its own identity, so its claims offer the slots they leave free.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import anyio
import psycopg
import pytest
from psycopg import sql

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.events.constants import JOB_STARTED, JOB_SUCCEEDED
from asyncz_queue.jobs import Job, JobState, utcnow
from asyncz_queue.stores.base import Notification
from asyncz_queue.stores.postgres import PostgresStore
from asyncz_queue.stores.postgres.codec import HANDOFF_ROOM
from tests.pg_cluster import open_postgres_store, unique_schema

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

FN = "tests.stores.contract:work"
LEASE = 30.0


async def triple(x: int) -> int:
    return 3 * x


@pytest.fixture
def stores(
    postgres_store_pair: tuple[PostgresStore, PostgresStore],
) -> tuple[PostgresStore, PostgresStore]:
    return postgres_store_pair


def handed(store: PostgresStore) -> list[Job]:
    """The jobs handed over to `store`'s worker, as they arrive."""
    jobs: list[Job] = []

    def handler(notification: Notification) -> None:
        if notification.kind == "handoff" and notification.payload is not None:
            jobs.append(notification.payload["job"])

    store.set_notification_handler(handler)
    return jobs


async def wait_for(items: list[Any], count: int = 1, timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while len(items) < count:
            await asyncio.sleep(0.001)


async def offer(worker: PostgresStore, free: int = 1) -> None:
    """An idle claim of `worker` (nothing due): it offers `free` slots."""
    assert worker.identity is not None
    acquired = await worker.acquire_jobs(worker.identity, {"default": free}, utcnow(), LEASE)
    assert acquired.jobs == []


async def hand_over(
    worker: PostgresStore, pusher: PostgresStore, job: Job, announce: bool = False
) -> Job:
    """Push `job` while `worker` is idle: the job as handed over to it."""
    jobs = handed(worker)
    await offer(worker)
    await pusher.add_jobs([job], announce=announce)
    await wait_for(jobs)
    return jobs[0]


async def query(dsn: str, store: PostgresStore | None, statement: str, *params: Any) -> list[Any]:
    """Run `statement` ({schema}: the schema of `store`) on a connection of its own."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        schema = sql.Identifier(store.schema) if store is not None else sql.SQL("")
        text = sql.SQL(statement).format(schema=schema)  # type: ignore[arg-type]
        cur = await conn.execute(text, params)
        return await cur.fetchall() if cur.description else []


async def stored(dsn: str, store: PostgresStore, job_id: str) -> tuple[Any, ...]:
    [row] = await query(
        dsn,
        store,
        "SELECT state, attempts, worker_id, started_at FROM {schema}.jobs WHERE id = %s",
        job_id,
    )
    return tuple(row)


async def free_slots(dsn: str, store: PostgresStore) -> list[tuple[str, int]]:
    rows = await query(dsn, store, "SELECT worker_id, free FROM {schema}.offers")
    return [tuple(row) for row in rows]


async def test_a_push_takes_an_idle_workers_offer_and_hands_the_job_over(
    postgres_dsn: str, stores: tuple[PostgresStore, PostgresStore]
) -> None:
    worker, pusher = stores
    jobs = handed(worker)
    await offer(worker, free=2)
    assert await free_slots(postgres_dsn, worker) == [(worker.identity, 2)]
    job = Job.from_func(FN, args=(1, "two"), kwargs={"k": [3.5]}, priority=4, max_attempts=3)
    await pusher.add_jobs([job], announce=True)
    await wait_for(jobs)
    assert jobs == [job]  # every field as pushed: pending, attempts 0
    # Stored running under the worker's lease, not yet started, one slot of the offer used.
    assert await stored(postgres_dsn, worker, job.id) == ("running", 0, worker.identity, None)
    assert await free_slots(postgres_dsn, worker) == [(worker.identity, 1)]
    # Another worker's claim passes it over: it is taken.
    assert (await pusher.acquire_jobs("other", {"default": 5}, utcnow(), LEASE)).jobs == []


async def test_the_worker_confirms_the_start_and_then_the_attempt_counts(
    postgres_dsn: str, stores: tuple[PostgresStore, PostgresStore]
) -> None:
    worker, pusher = stores
    given = await hand_over(worker, pusher, Job.from_func(FN))
    now = utcnow()
    started = given.claimed(worker.identity or "", now, now + timedelta(seconds=LEASE))
    assert await worker.extend_leases(worker.identity or "", [started.id], started.lease_until)
    state, attempts, worker_id, started_at = await stored(postgres_dsn, worker, started.id)
    assert (state, attempts, worker_id) == ("running", 1, worker.identity)
    assert started_at is not None
    [done] = await worker.complete_jobs(worker.identity or "", [started.after_success(7, now)])
    assert (await worker.get_job(done.id)).state is JobState.SUCCEEDED


async def test_an_outcome_written_before_the_confirmation_confirms_the_start(
    postgres_dsn: str, stores: tuple[PostgresStore, PostgresStore]
) -> None:
    worker, pusher = stores
    given = await hand_over(worker, pusher, Job.from_func(FN))
    now = utcnow()
    lease_until = now + timedelta(seconds=LEASE)
    # Another worker cannot write it: the fence holds for a handed job not yet confirmed.
    stranger = given.claimed("other", now, lease_until)
    assert await pusher.complete_jobs("other", [stranger.after_success(8, now)]) == []
    assert await stored(postgres_dsn, worker, stranger.id) == ("running", 0, worker.identity, None)
    started = given.claimed(worker.identity or "", now, lease_until)
    written = await worker.complete_jobs(worker.identity or "", [started.after_success(7, now)])
    assert [job.id for job in written] == [started.id]
    final = await worker.get_job(started.id)
    assert (final.state, final.attempts, final.result) == (JobState.SUCCEEDED, 1, 7)


async def test_a_job_given_back_unstarted_waits_again_without_an_attempt(
    postgres_dsn: str, stores: tuple[PostgresStore, PostgresStore]
) -> None:
    worker, pusher = stores
    given = await hand_over(worker, pusher, Job.from_func(FN, max_attempts=1))
    assert await worker.complete_jobs(worker.identity or "", [given]) == [given]
    assert await stored(postgres_dsn, worker, given.id) == ("pending", 0, None, None)
    [claimed] = (await pusher.acquire_jobs("other", {"default": 1}, utcnow(), LEASE)).jobs
    assert (claimed.id, claimed.attempts) == (given.id, 1)


async def test_a_handed_job_never_started_goes_back_when_the_lease_runs_out(
    postgres_dsn: str, stores: tuple[PostgresStore, PostgresStore]
) -> None:
    worker, pusher = stores
    given = await hand_over(worker, pusher, Job.from_func(FN, max_attempts=1))
    # The worker dies before it confirms the start.
    [rescued] = await pusher.rescue_jobs(utcnow() + timedelta(seconds=LEASE + 1))
    # Not a failed attempt (with max_attempts=1 that would fail a job that never ran).
    assert (rescued.id, rescued.state, rescued.attempts) == (given.id, JobState.PENDING, 0)
    assert await stored(postgres_dsn, worker, given.id) == ("pending", 0, None, None)


async def test_a_confirmed_job_whose_lease_runs_out_counts_as_a_lost_attempt(
    postgres_dsn: str, stores: tuple[PostgresStore, PostgresStore]
) -> None:
    worker, pusher = stores
    given = await hand_over(worker, pusher, Job.from_func(FN, max_attempts=1))
    now = utcnow()
    await worker.extend_leases(worker.identity or "", [given.id], now)
    [rescued] = await pusher.rescue_jobs(now + timedelta(seconds=1))
    assert (rescued.state, rescued.attempts) == (JobState.FAILED, 1)


async def test_a_job_with_something_due_ahead_of_it_waits_its_turn(
    postgres_dsn: str, stores: tuple[PostgresStore, PostgresStore]
) -> None:
    worker, pusher = stores
    jobs = handed(worker)
    waiting = Job.from_func(FN, priority=5)
    await pusher.add_jobs([waiting])
    await query(postgres_dsn, worker, "DELETE FROM {schema}.offers")
    # An offer as if the worker had claimed just before `waiting` came.
    await offer_row(postgres_dsn, worker, free=3)
    same = Job.from_func(FN, priority=5)
    await pusher.add_jobs([same])  # equal priority: `waiting` is first
    assert await stored(postgres_dsn, worker, same.id) == ("pending", 0, None, None)
    # Scheduled before `waiting` but of a worse priority: `waiting` is still first.
    earlier = Job.from_func(FN, priority=6, scheduled_at=utcnow() - timedelta(minutes=1))
    await pusher.add_jobs([earlier])
    assert await stored(postgres_dsn, worker, earlier.id) == ("pending", 0, None, None)
    urgent = Job.from_func(FN, priority=4)
    await pusher.add_jobs([urgent])  # ahead of everything waiting: straight to the worker
    await wait_for(jobs)
    assert [job.id for job in jobs] == [urgent.id]


async def offer_row(dsn: str, worker: PostgresStore, free: int, until: str = "1 hour") -> None:
    await query(
        dsn,
        worker,
        "INSERT INTO {schema}.offers VALUES "
        "(%s, 'default', %s, '30 seconds', now() + %s::interval)",
        worker.identity,
        free,
        until,
    )


async def test_no_hand_over_to_a_lapsed_offer_a_full_worker_or_a_job_not_yet_due(
    postgres_dsn: str, stores: tuple[PostgresStore, PostgresStore]
) -> None:
    worker, pusher = stores
    await offer_row(postgres_dsn, worker, free=1, until="-1 second")
    lapsed = Job.from_func(FN)
    await pusher.add_jobs([lapsed])
    assert (await stored(postgres_dsn, worker, lapsed.id))[0] == "pending"
    # A claim that fills the worker's slots leaves it nothing to offer.
    [claimed] = (
        await worker.acquire_jobs(worker.identity or "", {"default": 1}, utcnow(), LEASE)
    ).jobs
    assert claimed.id == lapsed.id
    assert await free_slots(postgres_dsn, worker) == [(worker.identity, 0)]
    full = Job.from_func(FN)
    await pusher.add_jobs([full])
    assert (await stored(postgres_dsn, worker, full.id))[0] == "pending"
    await query(postgres_dsn, worker, "UPDATE {schema}.offers SET free = 5")
    await query(postgres_dsn, worker, "DELETE FROM {schema}.jobs WHERE id = %s", full.id)
    later = Job.from_func(FN, scheduled_at=utcnow() + timedelta(hours=1))
    await pusher.add_jobs([later])
    assert (await stored(postgres_dsn, worker, later.id))[0] == "pending"


async def test_no_hand_over_inside_the_callers_transaction_or_for_arguments_too_big(
    postgres_dsn: str, stores: tuple[PostgresStore, PostgresStore]
) -> None:
    worker, pusher = stores
    await offer(worker, free=5)
    async with await pusher.connect() as conn, conn.transaction():
        inside = Job.from_func(FN)
        await pusher.add_jobs([inside], connection=conn)
    assert (await stored(postgres_dsn, worker, inside.id))[0] == "pending"
    await query(postgres_dsn, worker, "DELETE FROM {schema}.jobs")
    big = Job.from_func(FN, args=("x" * HANDOFF_ROOM,))
    await pusher.add_jobs([big])
    assert (await stored(postgres_dsn, worker, big.id))[0] == "pending"
    assert await worker.get_job(big.id) == big


async def test_a_pickle_store_never_hands_over(postgres_dsn: str) -> None:
    schema = unique_schema()
    async with (
        open_postgres_store(postgres_dsn, schema=schema, serializer="pickle") as worker,
        open_postgres_store(postgres_dsn, schema=schema, serializer="pickle") as pusher,
    ):
        await offer(worker)
        job = Job.from_func(FN, args=(b"bytes",))
        await pusher.add_jobs([job])
        assert (await stored(postgres_dsn, worker, job.id))[0] == "pending"


async def test_offers_only_for_its_own_identity_while_listening_and_withdrawn_at_shutdown(
    postgres_dsn: str,
) -> None:
    schema = unique_schema()
    async with open_postgres_store(postgres_dsn, schema=schema, listen=False) as deaf:
        await offer(deaf)
        assert await free_slots(postgres_dsn, deaf) == []  # it would never hear a hand-over
    async with open_postgres_store(postgres_dsn, schema=schema) as worker:
        await worker.acquire_jobs("someone else", {"default": 1}, utcnow(), LEASE)
        assert await free_slots(postgres_dsn, worker) == []
        await offer(worker)
        assert await free_slots(postgres_dsn, worker) == [(worker.identity, 1)]
        await worker.shutdown()
        assert await free_slots(postgres_dsn, worker) == []
        await worker.start(worker.identity or "")  # for the fixture's own shutdown


class HandOffSpy(PostgresStore):
    """A `PostgresStore` that counts the jobs handed over to its worker."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handed: list[Job] = []

    def notify(self, notification: Notification) -> None:
        if notification.kind == "handoff" and notification.payload is not None:
            self.handed.append(notification.payload["job"])
        super().notify(notification)


async def idle(dsn: str, store: PostgresStore) -> None:
    """Wait until the worker on `store` offers its slots."""
    with anyio.fail_after(10):
        while not await query(dsn, store, "SELECT 1 FROM {schema}.offers WHERE free > 0"):
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def worker_and_pusher(
    dsn: str,
) -> AsyncIterator[tuple[HandOffSpy, AsyncIOScheduler, AsyncIOScheduler]]:
    """A worker scheduler (on a `HandOffSpy`) and a pushing one on a fresh schema, started,
    the worker idle (offering); the schema is dropped afterwards."""
    schema = unique_schema()
    spy = HandOffSpy(dsn, schema=schema)
    await spy.migrate()
    pusher = AsyncIOScheduler(
        stores={"default": PostgresStore(dsn, schema=schema)}, role="scheduler"
    )
    worker = AsyncIOScheduler(stores={"default": spy}, role="worker")
    try:
        async with worker, pusher:
            await idle(dsn, spy)
            yield spy, worker, pusher
    finally:
        await query(dsn, spy, "DROP SCHEMA {schema} CASCADE")


async def test_a_worker_process_runs_a_job_handed_over_and_reports_it(
    postgres_dsn: str,
) -> None:
    events: list[tuple[int, str | None]] = []
    async with worker_and_pusher(postgres_dsn) as (spy, worker, pusher):
        pusher.add_listener(
            lambda e: events.append((e.code, e.job_id)), JOB_STARTED | JOB_SUCCEEDED
        )
        ref = await pusher.push(triple, 14)
        assert (await ref.wait(timeout=10)).result == 42
        job = await pusher.get_job(ref.job_id)
        assert (job.state, job.attempts, job.worker_id) == (
            JobState.SUCCEEDED, 1, worker.identity
        )  # fmt: skip
        assert job.started_at is not None
        with anyio.fail_after(5):
            while len(events) < 2:
                await asyncio.sleep(0.01)
        assert events == [(JOB_STARTED, ref.job_id), (JOB_SUCCEEDED, ref.job_id)]
        assert [job.id for job in spy.handed] == [ref.job_id]


async def test_a_job_handed_over_again_after_it_ran_does_not_run_twice(
    postgres_dsn: str,
) -> None:
    started: list[str | None] = []
    async with worker_and_pusher(postgres_dsn) as (spy, worker, pusher):
        worker.add_listener(lambda event: started.append(event.job_id), JOB_STARTED)
        first = await pusher.push(triple, 1)
        await first.wait(timeout=10)
        [again] = spy.handed
        spy.notify(Notification("handoff", {"job": again}))  # as a store's re-delivery does
        second = await pusher.push(triple, 2)
        await second.wait(timeout=10)
        with anyio.fail_after(5):
            while len(started) < 2:
                await asyncio.sleep(0.01)
        assert started == [first.job_id, second.job_id]
        assert (await pusher.get_job(first.job_id)).attempts == 1


async def test_a_paused_worker_gives_a_handed_job_back_and_runs_it_after_resume(
    postgres_dsn: str,
) -> None:
    async with worker_and_pusher(postgres_dsn) as (spy, worker, pusher):
        await worker.pause()
        ref = await pusher.push(triple, 2)
        await wait_for(spy.handed)
        with anyio.fail_after(5):
            while (await pusher.get_job(ref.job_id)).state is not JobState.PENDING:
                await asyncio.sleep(0.01)
        assert (await pusher.get_job(ref.job_id)).attempts == 0
        await worker.resume()
        assert (await ref.wait(timeout=10)).result == 6
        assert (await pusher.get_job(ref.job_id)).attempts == 1


async def test_a_job_handed_over_once_the_worker_stopped_is_given_back_at_once(
    postgres_dsn: str,
) -> None:
    async with worker_and_pusher(postgres_dsn) as (spy, worker, pusher):
        # The moment of a shutdown after the worker stopped and before the store withdraws
        # its offers (the store still listens): the job must not wait out its lease.
        stopped, worker._worker = worker._worker, None
        try:
            ref = await pusher.push(triple, 2)
            await wait_for(spy.handed)
            with anyio.fail_after(5):
                while (await pusher.get_job(ref.job_id)).state is not JobState.PENDING:
                    await asyncio.sleep(0.01)
            job = await pusher.get_job(ref.job_id)
            assert (job.attempts, job.worker_id) == (0, None)
        finally:
            worker._worker = stopped


@contextlib.asynccontextmanager
async def own_role(dsn: str) -> AsyncIterator[str]:
    """A superuser role of its own (`dsn` as that role), so that a test can refuse its
    logins (`ALTER ROLE ... NOLOGIN`) while other connections go on; dropped afterwards."""
    role = f"handoff_{unique_schema()}"
    await query(dsn, None, f'CREATE ROLE "{role}" SUPERUSER LOGIN')
    try:
        yield f"{dsn} user={role}"
    finally:
        await query(dsn, None, f'DROP ROLE "{role}"')


async def test_a_hand_over_sent_while_the_worker_was_not_listening_arrives_once_it_is_back(
    postgres_dsn: str,
) -> None:
    schema = unique_schema()
    async with (
        own_role(postgres_dsn) as worker_dsn,
        open_postgres_store(postgres_dsn, schema=schema) as pusher,
        open_postgres_store(worker_dsn, schema=schema) as worker,
    ):
        jobs = handed(worker)
        await offer(worker)
        await query(postgres_dsn, worker, "UPDATE {schema}.offers SET until = now() + '1 hour'")
        role = worker_dsn.rsplit("user=", 1)[1]
        # The worker's connections are cut and cannot come back: its listener is away.
        await query(postgres_dsn, None, f'ALTER ROLE "{role}" NOLOGIN')
        await query(
            postgres_dsn,
            None,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
            role,
        )
        assert worker._listener is not None
        with anyio.fail_after(10):
            while worker._listener.connected.is_set():
                await asyncio.sleep(0.01)
        job = Job.from_func(FN)
        await pusher.add_jobs([job])  # handed over, but nobody hears it
        assert await stored(postgres_dsn, worker, job.id) == ("running", 0, worker.identity, None)
        assert jobs == []
        await query(postgres_dsn, None, f'ALTER ROLE "{role}" LOGIN')
        await wait_for(jobs, timeout=15)  # the listener's backoff is at most 5 s
        assert jobs == [job]  # as pushed, to start as if it had just been heard
        [row] = await query(
            postgres_dsn,
            worker,
            "SELECT lease_until > now() + '20 seconds' FROM {schema}.jobs WHERE id = %s",
            job.id,
        )
        assert row == (True,)  # leased anew: it is not rescued while the worker starts it


async def test_a_job_handed_over_is_announced_to_every_process_but_wakes_no_other_worker(
    postgres_dsn: str, stores: tuple[PostgresStore, PostgresStore]
) -> None:
    worker, pusher = stores
    async with open_postgres_store(postgres_dsn, schema=worker.schema) as bystander:
        heard: list[Notification] = []
        bystander.set_notification_handler(heard.append, lambda codes: True)
        handed_over = await hand_over(worker, pusher, Job.from_func(FN), announce=True)
        waiting = Job.from_func(FN, scheduled_at=utcnow() + timedelta(hours=1))
        await pusher.add_jobs([waiting], announce=True)  # not due: not handed over
        with anyio.fail_after(5):
            while len([n for n in heard if n.kind == "event"]) < 2:
                await asyncio.sleep(0.001)
        assert [(n.kind, n.payload and n.payload["job_id"]) for n in heard] == [
            ("event", handed_over.id),
            ("jobs", None),
            ("event", waiting.id),
        ]


async def test_a_hand_over_heard_too_late_to_be_safe_is_given_back_not_run(
    postgres_dsn: str,
) -> None:
    started: list[str | None] = []
    async with worker_and_pusher(postgres_dsn) as (spy, worker, pusher):
        worker.add_listener(lambda event: started.append(event.job_id), JOB_STARTED)
        await worker.pause()  # the first hand-over is given back and waits
        ref = await pusher.push(triple, 3)
        await wait_for(spy.handed)
        [handed] = spy.handed
        await worker.resume()
        # The same hand-over heard again long after it was sent (the process was stopped):
        # by then the store may have rescued the job for another worker, so it is not run.
        stale = handed.evolve(id=handed.id + "-late", lease_until=utcnow())
        worker._worker.take("default", stale)  # type: ignore[union-attr]
        assert (await ref.wait(timeout=10)).result == 9  # the real one runs, claimed
        assert stale.id not in started and started == [ref.job_id]
