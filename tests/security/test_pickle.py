"""Pickle is off unless asked for; a JSON store never loads bytes someone else wrote."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from asyncz_queue import AsyncIOScheduler, Job, JobState
from asyncz_queue.exceptions import SerializationError
from asyncz_queue.stores import MemoryStore
from asyncz_queue.stores.postgres import PostgresStore
from tests.badinput.helpers import running_scheduler
from tests.pg_cluster import unique_schema
from tests.security.payloads import payload

pytestmark = pytest.mark.anyio

FN = "tests.badinput.funcs:echo"
T0 = datetime(2030, 1, 1, tzinfo=UTC)


class NotJson:
    pass


def test_stores_serialize_with_json_unless_asked() -> None:
    assert MemoryStore().serializer.alias == "json"
    assert PostgresStore("host=/nowhere dbname=x").serializer.alias == "json"
    assert AsyncIOScheduler().stores["default"].serializer.alias == "json"
    assert PostgresStore("host=/nowhere dbname=x", serializer="pickle").serializer.alias == "pickle"


async def test_non_json_argument_is_refused_at_push_with_the_way_out(store) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SerializationError, match=r"NotJson.*serializer='pickle'"):
        await store.add_jobs([Job.from_func(FN, args=(NotJson(),))])
    assert await store.get_jobs() == []


async def _insert_row(dsn: str, schema: str, table: str, job_id: str, data: bytes) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        if table == "jobs":
            query = sql.SQL(
                "INSERT INTO {}.jobs (id, fn, arguments_bytes, executor, priority, state, "
                "attempts, max_attempts, retry_on, retry_backoff, retry_backoff_max, "
                "scheduled_at, created_at, errors) VALUES (%s, %s, %s, 'default', 0, "
                "'pending', 0, 1, '[]', 1, 300, %s, %s, '[]')"
            ).format(sql.Identifier(schema))
            past = datetime(2020, 1, 1, tzinfo=UTC)  # due at once
            await conn.execute(query, (job_id, FN, data, past, past))
        else:
            query = sql.SQL("UPDATE {}.tasks SET arguments = NULL, arguments_bytes = %s").format(
                sql.Identifier(schema)
            )
            await conn.execute(query, (data,))


@pytest.mark.postgres
async def test_json_store_never_loads_a_pickle_written_into_its_table(
    postgres_dsn: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    schema = unique_schema()
    json_store = PostgresStore(postgres_dsn, schema=schema, max_size=2)
    pickle_store = PostgresStore(postgres_dsn, schema=schema, max_size=2, serializer="pickle")
    await json_store.migrate()
    await json_store.start("json")
    await pickle_store.start("pickle")
    try:
        await _insert_row(postgres_dsn, schema, "jobs", "evil", payload(str(marker)))
        with pytest.raises(SerializationError, match="another serializer"):
            await json_store.get_job("evil")
        with pytest.raises(SerializationError):
            await json_store.get_jobs()
        assert not marker.exists()
        # The same row through a store that opted in to pickle does run the payload: the
        # check above is about the serializer, not about a broken payload.
        await pickle_store.get_job("evil")
        assert marker.is_dir()
        marker.rmdir()
        # A task row: the same.
        from asyncz_queue.tasks import Task
        from asyncz_queue.triggers import IntervalTrigger

        task = Task(
            id="t", fn=FN, trigger=IntervalTrigger(seconds=5, start_at=T0), next_run_time=T0
        )
        await json_store.add_task(task)
        await _insert_row(postgres_dsn, schema, "tasks", "t", payload(str(marker)))
        with pytest.raises(SerializationError):
            await json_store.get_task("t")
        # The fire loop does not load it either: the task is left out of the batch.
        assert [t.id for t in await json_store.acquire_tasks("s", T0, 10, 30)] == []
        assert not marker.exists()
    finally:
        await pickle_store.shutdown()
        await json_store.shutdown()
        async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as conn:
            await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.mark.postgres
async def test_an_undecodable_row_does_not_block_the_queue(
    postgres_dsn: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    schema = unique_schema()
    async with running_scheduler("postgres", postgres_dsn, schema=schema, lease_seconds=1) as s:
        await s.pause()
        await _insert_row(postgres_dsn, schema, "jobs", "evil", payload(str(marker)))
        good = await s.push(FN, "fine")
        await s.resume()
        try:
            assert await good.result(timeout=6) == "fine"
        finally:
            assert not marker.exists()
        # The undecodable job ends without running (failed); it never blocked the queue.
        await asyncio.sleep(1)
        async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as conn:
            query = sql.SQL("SELECT state FROM {}.jobs WHERE id = 'evil'")
            cur = await conn.execute(query.format(sql.Identifier(schema)))
            assert (await cur.fetchone()) == (JobState.FAILED.value,)
