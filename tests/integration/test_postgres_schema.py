"""PostgreSQL schema: versioned migrations, the version check at start, schema names."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql

from asyncz_queue.exceptions import ConfigurationError, SchemaVersionError
from asyncz_queue.jobs import Job
from asyncz_queue.stores.postgres import PostgresStore
from asyncz_queue.stores.postgres.migrator import available, latest_version
from tests.pg_cluster import open_postgres_store, unique_schema

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

FN = "tests.stores.contract:work"
T0 = datetime(2030, 1, 1, tzinfo=UTC)


async def versions(dsn: str, schema: str) -> list[int]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        query = sql.SQL("SELECT version FROM {}.schema_version ORDER BY version")
        cur = await conn.execute(query.format(sql.Identifier(schema)))
        return [row[0] for row in await cur.fetchall()]


async def execute(dsn: str, statement: sql.Composable) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(statement)


def drop(schema: str) -> sql.Composable:
    return sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))


def test_migrations_are_numbered_from_one_without_gaps() -> None:
    assert [m.version for m in available()] == list(range(1, latest_version() + 1))


async def test_migrate_is_idempotent_and_safe_from_several_processes_at_once(
    postgres_dsn: str,
) -> None:
    schema = unique_schema()
    stores = [PostgresStore(postgres_dsn, schema=schema) for _ in range(4)]
    try:
        # Four connections race; the advisory lock lets one create, the others find it done.
        await asyncio.gather(*(store.migrate() for store in stores))
        await stores[0].migrate()
        assert await versions(postgres_dsn, schema) == list(range(1, latest_version() + 1))
    finally:
        await execute(postgres_dsn, drop(schema))


async def test_start_refuses_a_schema_that_was_never_migrated(postgres_dsn: str) -> None:
    store = PostgresStore(postgres_dsn, schema=unique_schema())
    with pytest.raises(SchemaVersionError, match="migrate"):
        await store.start("p1")


async def test_start_refuses_an_older_schema_until_it_is_migrated(postgres_dsn: str) -> None:
    schema = unique_schema()
    store = PostgresStore(postgres_dsn, schema=schema)
    try:
        await store.migrate()
        last = sql.SQL("DELETE FROM {}.schema_version WHERE version = %s")
        async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as conn:
            await conn.execute(last.format(sql.Identifier(schema)), [latest_version()])
            # Undo the last migration (each one so far creates one table).
            await conn.execute(sql.SQL("DROP TABLE {}.offers").format(sql.Identifier(schema)))
        with pytest.raises(SchemaVersionError, match="upgrade it with"):
            await store.start("p1")
        await store.migrate()  # applies only the missing version
        await store.start("p1")
        await store.shutdown()
    finally:
        await execute(postgres_dsn, drop(schema))


async def test_a_schema_from_a_newer_version_is_refused_at_start_and_migrate(
    postgres_dsn: str,
) -> None:
    schema = unique_schema()
    store = PostgresStore(postgres_dsn, schema=schema)
    try:
        await store.migrate()
        newer = sql.SQL("INSERT INTO {}.schema_version (version, name) VALUES (999, 'future')")
        await execute(postgres_dsn, newer.format(sql.Identifier(schema)))
        with pytest.raises(SchemaVersionError, match="newer than this asyncz_queue"):
            await store.start("p1")
        with pytest.raises(SchemaVersionError, match="newer"):
            await store.migrate()
    finally:
        await execute(postgres_dsn, drop(schema))


@pytest.mark.parametrize(
    "schema", ['Odd "Name"; DROP TABLE x; --', "MixedCase", "ünïcödé", "a" * 63]
)
async def test_any_schema_name_is_quoted_never_interpolated(postgres_dsn: str, schema: str) -> None:
    await execute(postgres_dsn, drop(schema))
    async with open_postgres_store(postgres_dsn, schema=schema) as store:
        [job] = await store.add_jobs([Job.from_func(FN, args=(1,), scheduled_at=T0)])
        acquired = await store.acquire_jobs("w1", {"default": 1}, T0, 30)
        assert [j.id for j in acquired.jobs] == [job.id]
        assert await versions(postgres_dsn, schema) == list(range(1, latest_version() + 1))


@pytest.mark.parametrize("schema", ["", "a" * 64])
def test_an_impossible_schema_name_is_refused_when_configured(schema: str) -> None:
    with pytest.raises(ConfigurationError, match="schema"):
        PostgresStore("dbname=x", schema=schema)


async def test_two_schemas_in_one_database_are_independent(postgres_dsn: str) -> None:
    async with (
        open_postgres_store(postgres_dsn) as first,
        open_postgres_store(postgres_dsn) as second,
    ):
        await first.add_jobs([Job.from_func(FN, scheduled_at=T0)])
        assert len(await first.get_jobs()) == 1
        assert await second.get_jobs() == []
