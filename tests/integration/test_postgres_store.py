"""PostgresStore behaviour beyond the shared store contract."""

from __future__ import annotations

import os
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from asyncz_queue.exceptions import SerializationError
from asyncz_queue.jobs import Job, JobError, JobState
from asyncz_queue.stores.base import Notification
from asyncz_queue.stores.postgres import PostgresStore
from asyncz_queue.stores.postgres.store import COPY_AT
from asyncz_queue.tasks import Task
from asyncz_queue.triggers import DateTrigger
from tests.executors.support import until
from tests.pg_cluster import open_postgres_store, unique_schema

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

FN = "tests.stores.contract:work"
T0 = datetime(2030, 1, 1, tzinfo=UTC)
LEASE = 30.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def task_job(task_id: str, scheduled_at: datetime) -> Job:
    return Job.from_func(FN, scheduled_at=scheduled_at).evolve(task_id=task_id, max_instances=1)


async def test_writing_the_same_outcome_again_reports_it_written_and_changes_nothing(
    postgres_store: PostgresStore,
) -> None:
    store = postgres_store
    await store.add_jobs([Job.from_func(FN, scheduled_at=T0, max_attempts=2), task_job("t", T0)])
    one, two = (await store.acquire_jobs("w1", {"default": 2}, T0, LEASE)).jobs
    outcomes = [
        one.after_failure(JobError.lost("x"), at(1)),
        two.after_success({"n": 1}, at(1)),
    ]
    assert len(await store.complete_jobs("w1", outcomes)) == 2
    # The caller did not hear back (cancelled, connection lost) and writes them again.
    assert len(await store.complete_jobs("w1", outcomes)) == 2
    assert (await store.get_job(two.id)).result == {"n": 1}
    # The task's instance slot was freed once: one job of it runs, the next is skipped.
    await store.add_jobs([task_job("t", at(2)), task_job("t", at(3))])
    acquired = await store.acquire_jobs("w1", {"default": 5}, at(3), LEASE)
    assert len([j for j in acquired.jobs if j.task_id == "t"]) == 1
    assert len(acquired.skipped) == 1
    # Once another worker holds the next attempt, the old outcome is no longer "already".
    [again] = [j for j in acquired.jobs if j.id == one.id]
    assert again.attempts == 2
    assert await store.complete_jobs("w1", outcomes[:1]) == []


async def test_a_bulk_push_of_plain_jobs_is_copied_in_and_announced(
    postgres_store_pair: tuple[PostgresStore, PostgresStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, other = postgres_store_pair
    copied: list[int] = []
    copy_jobs = store._copy_jobs

    async def spy(jobs: Any, announce: bool) -> None:
        copied.append(len(jobs))
        await copy_jobs(jobs, announce)

    monkeypatch.setattr(store, "_copy_jobs", spy)
    heard = await listen_for_everything(other)
    plain = [Job.from_func(FN, args=(i,)) for i in range(COPY_AT)]
    assert await store.add_jobs(plain, announce=True) == plain
    keyed = [Job.from_func(FN, unique_key=f"k{i}") for i in range(COPY_AT)]
    assert await store.add_jobs(keyed) == keyed  # unique keys: the insert
    # COPY fills only the columns of a new job: one with more set goes through the insert,
    # which stores every field.
    more = Job.model_validate(
        {**Job.from_func(FN).model_dump(), "max_instances": 2, "errors": ("a traceback",)}
    )
    mixed = [more, *(Job.from_func(FN) for _ in range(COPY_AT))]
    assert await store.add_jobs(mixed) == mixed
    assert copied == [COPY_AT]
    assert await store.get_job(more.id) == more
    await until(lambda: len(pushed_ids(heard)) >= COPY_AT)
    assert set(pushed_ids(heard)) == {job.id for job in plain}
    assert Notification("jobs") in heard


async def test_a_bulk_push_sent_again_stores_and_announces_nothing_twice(
    postgres_store_pair: tuple[PostgresStore, PostgresStore],
) -> None:
    # What a retry after a lost reply does: the same jobs, the same ids, a second time.
    store, other = postgres_store_pair
    heard = await listen_for_everything(other)
    jobs = [Job.from_func(FN, args=(i,)) for i in range(COPY_AT)]
    first = await store.add_jobs(jobs, announce=True)
    again = await store.add_jobs(jobs, announce=True)
    assert [j.id for j in again] == [j.id for j in first] == [j.id for j in jobs]
    assert len(await store.get_jobs(limit=3 * COPY_AT)) == COPY_AT
    marker = Job.from_func(FN)  # announced after both: once it is heard, all were
    await store.add_jobs([marker], announce=True)
    await until(lambda: marker.id in pushed_ids(heard))
    assert sorted(pushed_ids(heard)) == sorted([*(j.id for j in jobs), marker.id])


async def listen_for_everything(store: PostgresStore) -> list[Notification]:
    """What `store` hears from now on, as a process that listens for every event (its
    heartbeat says so: a bulk push announces its jobs only then)."""
    heard: list[Notification] = []
    store.set_notification_handler(heard.append)
    await store.heartbeat(store.identity or "", {"listens": -1}, datetime.now(UTC))
    return heard


def pushed_ids(heard: list[Notification]) -> list[str]:
    """The job ids of the events among `heard`, in order."""
    return [n.payload["job_id"] for n in heard if n.kind == "event" and n.payload]


async def test_a_pickle_store_copies_a_bulk_push_in_exactly(postgres_dsn: str) -> None:
    async with open_postgres_store(postgres_dsn, serializer="pickle") as store:
        jobs = [
            Job.from_func(FN, args=({i, i + 1}, b"\x00"), kwargs={"at": T0}) for i in range(COPY_AT)
        ]
        assert await store.add_jobs(jobs) == jobs
        for job in jobs[:: COPY_AT // 10]:
            stored = await store.get_job(job.id)
            assert (stored.args, stored.kwargs) == (job.args, job.kwargs)


class Boom:
    """Loading this pickle would create a file: proof that something unpickled it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.path),))


async def test_a_pickle_store_keeps_any_picklable_value(postgres_dsn: str) -> None:
    async with open_postgres_store(postgres_dsn, serializer="pickle") as store:
        value = {"when": T0, "set": {1, 2}, "bytes": b"\x00\x01"}
        [pushed] = await store.add_jobs([Job.from_func(FN, args=(value,), kwargs={"x": T0})])
        stored = await store.get_job(pushed.id)
        assert stored.args == (value,) and stored.kwargs == {"x": T0}
        [running] = (await store.acquire_jobs("w", {"default": 1}, pushed.scheduled_at, 30)).jobs
        await store.complete_jobs("w", [running.after_success({1, 2, 3}, T0)])
        assert (await store.get_job(pushed.id)).result == {1, 2, 3}


async def test_a_json_store_never_loads_what_a_pickle_store_wrote(
    postgres_dsn: str, tmp_path: Path
) -> None:
    schema = unique_schema()
    canary = tmp_path / "unpickled"
    async with (
        open_postgres_store(postgres_dsn, schema=schema, serializer="pickle") as pickling,
        open_postgres_store(postgres_dsn, schema=schema) as json_store,
    ):
        [pushed] = await pickling.add_jobs([Job.from_func(FN, args=(Boom(str(canary)),))])
        assert not canary.exists()
        with pytest.raises(SerializationError, match="never loads it"):
            await json_store.get_job(pushed.id)
        assert not canary.exists()
        assert pickle.dumps(1)  # (pickle itself is fine; the JSON store just never calls it)


async def test_a_result_the_serializer_cannot_store_writes_nothing(
    postgres_store: PostgresStore,
) -> None:
    await postgres_store.add_jobs([Job.from_func(FN, scheduled_at=T0)])
    [running] = (await postgres_store.acquire_jobs("w", {"default": 1}, T0, 30)).jobs
    with pytest.raises(SerializationError, match="result of job"):
        await postgres_store.complete_jobs("w", [running.after_success(object(), T0)])
    assert (await postgres_store.get_job(running.id)).state is JobState.RUNNING


async def test_heartbeats_are_shared_by_every_process_of_the_schema(postgres_dsn: str) -> None:
    schema = unique_schema()
    async with (
        open_postgres_store(postgres_dsn, schema=schema) as first,
        open_postgres_store(postgres_dsn, schema=schema) as second,
    ):
        await first.heartbeat("a", {"role": "worker"}, T0)
        await second.heartbeat("b", {"role": "both", "executors": {"x": 1}}, at(5))
        await first.heartbeat("a", {"role": "worker", "paused": True}, at(10))
        processes = await second.get_processes()
        assert [(p["identity"], p["last_seen"]) for p in processes] == [("a", at(10)), ("b", at(5))]
        assert processes[0]["paused"] is True and processes[1]["executors"] == {"x": 1}
        # A process silent for a day is forgotten at the next heartbeat.
        await first.heartbeat("a", {}, at(10) + timedelta(days=1, seconds=1))
        assert [p["identity"] for p in await second.get_processes()] == ["a"]


async def test_a_task_leased_by_another_scheduler_counts_from_its_lease_end(
    postgres_dsn: str,
) -> None:
    from asyncz_queue.tasks import Task
    from asyncz_queue.triggers import IntervalTrigger

    schema = unique_schema()
    async with (
        open_postgres_store(postgres_dsn, schema=schema) as crashed,
        open_postgres_store(postgres_dsn, schema=schema) as survivor,
    ):
        trigger = IntervalTrigger(seconds=10, start_at=T0)
        await survivor.add_task(Task(id="t", fn=FN, trigger=trigger, next_run_time=T0))
        await survivor.add_task(Task(id="u", fn=FN, trigger=trigger, next_run_time=at(60)))
        assert len(await crashed.acquire_tasks("dead", T0, 1, LEASE)) == 1
        # Not T0, which the survivor could not acquire until the lease runs out: no busy loop.
        assert await survivor.get_next_run_time() == at(LEASE)
        assert await survivor.acquire_tasks("alive", at(LEASE), 10, LEASE) != []


async def test_undecodable_text_in_arguments_results_and_errors_is_stored(
    postgres_store: PostgresStore,
) -> None:
    # What undecodable bytes become with errors="surrogateescape" (file names, sockets).
    text = b"caf\xe9 \xff".decode("utf-8", errors="surrogateescape")
    [pushed] = await postgres_store.add_jobs(
        [Job.from_func(FN, args=(text,), kwargs={text: text}, scheduled_at=T0, max_attempts=2)]
    )
    assert (await postgres_store.get_job(pushed.id)).args == (text,)
    [running] = (await postgres_store.acquire_jobs("w", {"default": 1}, T0, 30)).jobs
    error = JobError.from_exception(ValueError(text))
    [written] = await postgres_store.complete_jobs("w", [running.after_failure(error, at(1))])
    stored = await postgres_store.get_job(pushed.id)
    assert stored.errors == written.errors  # tracebacks are JSON text: kept exactly
    assert stored.error is not None and stored.error.startswith("caf\\udce9")
    [again] = (await postgres_store.acquire_jobs("w", {"default": 1}, at(60), 30)).jobs
    [done] = await postgres_store.complete_jobs("w", [again.after_success([text], at(61))])
    assert (await postgres_store.get_job(done.id)).result == [text]


async def test_an_undecodable_row_fails_alone_and_never_blocks_the_others(
    postgres_dsn: str,
) -> None:
    from asyncz_queue.tasks import Task
    from asyncz_queue.triggers import IntervalTrigger

    schema = unique_schema()
    async with (
        open_postgres_store(postgres_dsn, schema=schema, serializer="pickle") as pickling,
        open_postgres_store(postgres_dsn, schema=schema) as store,
    ):
        trigger = IntervalTrigger(seconds=10, start_at=T0)
        await pickling.add_jobs([Job.from_func(FN, args=({1},), scheduled_at=T0, priority=-1)])
        await pickling.add_task(
            Task(id="bad", fn=FN, args=({1},), trigger=trigger, next_run_time=T0)
        )
        [good] = await store.add_jobs([Job.from_func(FN, scheduled_at=T0)])
        await store.add_task(Task(id="good", fn=FN, trigger=trigger, next_run_time=T0))
        acquired = await store.acquire_jobs("w", {"default": 5}, T0, 30)
        assert [j.id for j in acquired.jobs] == [good.id]
        failed = [j for j in await pickling.get_jobs() if j.id != good.id]
        assert [(j.state, j.error_type) for j in failed] == [
            (JobState.FAILED, "SerializationError")
        ]
        assert [t.id for t in await store.acquire_tasks("s", T0, 10, 30)] == ["good"]
        assert (await pickling.get_task("bad")).paused


async def test_a_value_past_its_column_type_is_refused_by_name_and_stores_nothing(
    postgres_store: PostgresStore,
) -> None:
    # A job refuses such a priority when it is made (see tests/badinput); `evolve` does
    # not validate. Shared by every job of the batch, the priority travels in the JSON of
    # constants, which orjson cannot write past 64 bits: the standard library writes it,
    # and the database names what it refuses.
    jobs = [Job.from_func(FN, scheduled_at=T0).evolve(priority=2**70) for _ in range(2)]
    with pytest.raises(Exception, match="out of range"):
        await postgres_store.add_jobs(jobs)
    assert await postgres_store.get_jobs() == []


async def test_pruning_the_last_jobs_of_a_gone_task_forgets_its_instance_counter(
    postgres_store: PostgresStore,
) -> None:
    store = postgres_store
    live = Task(id="live", fn=FN, trigger=DateTrigger(run_at=at(100)), next_run_time=at(100))
    await store.add_task(live)
    # "gone" has no task (a date task is deleted when it fires); "waits" has no task either
    # but still a job to run; "live" keeps its task.
    done = [task_job("gone", T0), task_job("live", T0), task_job("waits", T0)]
    await store.add_jobs([*done, task_job("waits", at(50))])
    assert await counters(store) == ["gone", "live", "waits"]
    running = (await store.acquire_jobs("w1", {"default": 10}, at(1), LEASE)).jobs
    assert sorted(job.task_id for job in running) == ["gone", "live", "waits"]
    finished = [job.after_success(None, at(2)) for job in running]
    assert len(await store.complete_jobs("w1", finished)) == 3
    assert await store.prune_jobs(at(3)) == 3
    assert await counters(store) == ["live", "waits"]
    # Pushed again, a job of a task whose counter is gone makes it anew.
    await store.add_jobs([task_job("gone", at(4))])
    assert await counters(store) == ["gone", "live", "waits"]


async def counters(store: PostgresStore) -> list[str]:
    """The task ids of the running-instance counters stored now."""
    async with await store.connect() as conn:
        query = sql.SQL("SELECT task_id FROM {}.task_instances ORDER BY task_id")
        cur = await conn.execute(query.format(sql.Identifier(store.schema)))
        return [task_id for (task_id,) in await cur.fetchall()]


async def test_a_key_too_long_to_index_is_refused_as_such_and_the_store_goes_on(
    postgres_store: PostgresStore,
) -> None:
    # Past the model's own limit (`evolve` does not validate): the server refuses the index
    # entry, which is a value that cannot be stored, not a lost connection.
    key = os.urandom(5000).hex()  # random: a repeated letter would compress to fit
    too_long = Job.from_func(FN, scheduled_at=T0).evolve(unique_key=key)
    for jobs in ([too_long], [too_long, *(Job.from_func(FN) for _ in range(COPY_AT))]):
        with pytest.raises(SerializationError, match="index row requires"):
            await postgres_store.add_jobs(jobs)
    assert await postgres_store.get_jobs() == []
    fine = Job.from_func(FN, scheduled_at=T0)
    assert await postgres_store.add_jobs([fine]) == [fine]


def test_only_a_broken_connection_is_taken_for_a_lost_one() -> None:
    from psycopg import OperationalError, errors

    from asyncz_queue.stores.postgres.database import _connection_lost

    lost = [OperationalError("server closed the connection"), errors.AdminShutdown()]
    lost += [errors.CannotConnectNow(), errors.ConnectionFailure()]
    refused = [errors.QueryCanceled(), errors.DiskFull(), errors.LockNotAvailable()]
    assert [_connection_lost(exc) for exc in lost] == [True] * len(lost)
    assert [_connection_lost(exc) for exc in refused] == [False] * len(refused)
