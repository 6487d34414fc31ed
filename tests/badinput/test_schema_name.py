"""A schema name with SQL in it is quoted everywhere (tables, migrations, LISTEN), never run."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from asyncz_queue.exceptions import ConfigurationError
from asyncz_queue.jobs import Job
from asyncz_queue.stores.base import Notification
from asyncz_queue.stores.postgres import PostgresStore
from tests.badinput.helpers import drop_schema, running_scheduler

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

HOSTILE = [
    'x"; DROP SCHEMA public CASCADE; --',
    "Mixed Case; SELECT 1",
    "it's $$ a {schema}",
    "100% %s %(now)s",
]


async def _tables_in(dsn: str, schema: str) -> set[str]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        )
        return {row[0] for row in await cur.fetchall()}


async def _canary(dsn: str) -> psycopg.AsyncConnection:
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    await conn.execute("CREATE TABLE IF NOT EXISTS public.soak_canary (x int)")
    return conn


@pytest.mark.parametrize("schema", HOSTILE)
async def test_hostile_schema_name_is_quoted_and_works(postgres_dsn: str, schema: str) -> None:
    canary = await _canary(postgres_dsn)
    try:
        async with running_scheduler("postgres", postgres_dsn, schema=schema) as scheduler:
            assert {"jobs", "tasks"} <= await _tables_in(postgres_dsn, schema)
            ref = await scheduler.push("tests.badinput.funcs:echo", schema)
            assert await ref.result(timeout=10) == schema
        # Nothing outside the schema was touched.
        cur = await canary.execute("SELECT to_regclass('public.soak_canary') IS NOT NULL")
        assert (await cur.fetchone()) == (True,)
    finally:
        await canary.execute("DROP TABLE IF EXISTS public.soak_canary")
        await canary.close()


async def test_hostile_schema_name_reaches_listeners(postgres_dsn: str) -> None:
    schema = 'x"; DROP SCHEMA public CASCADE; --'
    writer = PostgresStore(postgres_dsn, schema=schema, max_size=2)
    reader = PostgresStore(postgres_dsn, schema=schema, max_size=2)
    await writer.migrate()
    got: list[Notification] = []
    woken = asyncio.Event()

    def handler(notification: Notification) -> None:
        got.append(notification)
        woken.set()

    try:
        await writer.start("writer")
        await reader.start("reader")
        reader.set_notification_handler(handler)
        await writer.add_jobs([Job.from_func("tests.badinput.funcs:echo")])
        await asyncio.wait_for(woken.wait(), 5)
        assert any(n.kind == "jobs" for n in got)
    finally:
        await reader.shutdown()
        await writer.shutdown()
        await drop_schema(postgres_dsn, schema)


@pytest.mark.parametrize("schema", ["", "x" * 64, "é" * 32])
def test_schema_name_postgres_would_cut_or_refuse_is_a_configuration_error(
    postgres_dsn: str, schema: str
) -> None:
    with pytest.raises(ConfigurationError, match="schema"):
        PostgresStore(postgres_dsn, schema=schema)
