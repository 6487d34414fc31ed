"""Shared helpers of the bad-input and security tests: schedulers on a fresh store."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg import sql

from asyncz_queue import AsyncIOScheduler
from tests.pg_cluster import unique_schema


def deep_list(depth: int) -> list[Any]:
    """`[[[...]]]` nested `depth` levels (built without recursion)."""
    root: list[Any] = []
    current = root
    for _ in range(depth - 1):
        inner: list[Any] = []
        current.append(inner)
        current = inner
    return root


async def drop_schema(dsn: str, schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )


@contextlib.asynccontextmanager
async def running_scheduler(
    kind: str,
    dsn: str | None = None,
    schema: str | None = None,
    store_options: dict[str, Any] | None = None,
    **options: Any,
) -> AsyncIterator[AsyncIOScheduler]:
    """A started scheduler (role both, short lease) on a fresh memory or Postgres store."""
    if kind == "memory":
        stores: dict[str, Any] = {"default": {"type": "memory"}}
    else:
        assert dsn is not None
        schema = schema or unique_schema()
        config = {"type": "postgres", "dsn": dsn, "schema": schema, "max_size": 4}
        stores = {"default": {**config, **(store_options or {})}}
    options.setdefault("lease_seconds", 3)
    scheduler = AsyncIOScheduler(stores=stores, **options)
    try:
        await scheduler.migrate()
        await scheduler.start()
        try:
            yield scheduler
        finally:
            if scheduler.running:
                await scheduler.shutdown()
    finally:
        if kind != "memory" and dsn is not None and schema is not None:
            await drop_schema(dsn, schema)
