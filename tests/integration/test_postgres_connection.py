"""PostgreSQL connections: clear errors without passwords, and surviving lost connections."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from datetime import UTC, datetime
from typing import Any

import anyio
import psycopg
import pytest

from asyncz_queue.exceptions import ConfigurationError, StoreUnavailableError
from asyncz_queue.jobs import Job
from asyncz_queue.stores.base import Notification
from asyncz_queue.stores.postgres import PostgresStore
from asyncz_queue.stores.postgres.dsn import mask_dsn, scrub
from tests.pg_cluster import PostgresCluster, open_postgres_store, unique_schema

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

FN = "tests.stores.contract:work"
T0 = datetime(2030, 1, 1, tzinfo=UTC)
SECRET = "s3cr3t-Pa55word"


def everything_shown(exc: BaseException, store: PostgresStore) -> str:
    """Every text a user may see of this failure."""
    return "\n".join(
        [str(exc), repr(exc), "".join(traceback.format_exception(exc)), repr(store), store.dsn]
    )


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        (f"postgresql://app:{SECRET}@db.example:5432/jobs", "password=***"),
        (f"host=db user=app password={SECRET} dbname=jobs", "password=***"),
        (f"host=db password='{SECRET} with space' dbname=jobs", "password=***"),
        (f"postgresql://app@db/jobs?password={SECRET}", "password=***"),
    ],
)
def test_a_dsn_is_shown_without_its_password(dsn: str, shown: str) -> None:
    masked = mask_dsn(dsn)
    assert SECRET not in masked and shown in masked
    assert SECRET not in scrub(f"failed: {dsn}", dsn)


def test_a_malformed_dsn_is_refused_without_its_password() -> None:
    with pytest.raises(ConfigurationError) as info:
        PostgresStore(f"host=db password={SECRET} garbage")
    assert SECRET not in str(info.value) and "dsn" in str(info.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"poll_interval": 0},
            "option 'poll_interval' must be a finite number of seconds > 0 .* got 0",
        ),
        ({"poll_interval": -1.5}, "option 'poll_interval' .* got -1.5"),
        ({"poll_interval": float("inf")}, "option 'poll_interval' .* got inf"),
        ({"timeout": "5"}, "option 'timeout' .* got '5'"),
        ({"min_size": 3, "max_size": 2}, "'min_size' \\(3\\) and 'max_size' \\(2\\)"),
    ],
)
def test_bad_store_options_are_refused_naming_the_option(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PostgresStore("host=db dbname=jobs", **options)


async def test_a_wrong_password_is_a_clear_error_without_the_password(
    postgres_cluster: PostgresCluster, caplog: pytest.LogCaptureFixture
) -> None:
    if postgres_cluster.tcp_dsn is None:
        pytest.skip("needs the throwaway cluster (password authentication over TCP)")
    caplog.set_level(logging.DEBUG)
    store = PostgresStore(f"{postgres_cluster.tcp_dsn} password={SECRET}", timeout=5)
    with pytest.raises(StoreUnavailableError) as info:
        await store.start("p1")
    shown = everything_shown(info.value, store) + caplog.text
    assert "password authentication failed" in shown
    assert SECRET not in shown


async def test_the_right_password_over_tcp_works(postgres_cluster: PostgresCluster) -> None:
    if postgres_cluster.tcp_dsn is None:
        pytest.skip("needs the throwaway cluster (password authentication over TCP)")
    dsn = f"{postgres_cluster.tcp_dsn} password={postgres_cluster.password}"
    async with open_postgres_store(dsn) as store:
        assert await store.get_jobs() == []
        assert postgres_cluster.password not in repr(store)


async def test_an_unreachable_server_is_a_clear_error(caplog: pytest.LogCaptureFixture) -> None:
    # Nothing listens on port 1 of 127.0.0.1.
    store = PostgresStore(f"postgresql://app:{SECRET}@127.0.0.1:1/db", timeout=5)
    with pytest.raises(StoreUnavailableError, match="cannot connect") as info:
        await store.migrate()
    assert SECRET not in everything_shown(info.value, store) + caplog.text


async def test_a_store_that_is_not_started_says_so() -> None:
    store = PostgresStore("dbname=x")
    with pytest.raises(StoreUnavailableError, match="not started"):
        await store.get_jobs()


async def terminate_other_backends(dsn: str) -> int:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND datname = current_database() "
            "AND backend_type = 'client backend'"
        )
        row = await cur.fetchone()
        return 0 if row is None else int(row[0])


async def wait_until(predicate: object, timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_dropped_connections_are_replaced_and_listening_resumes(postgres_dsn: str) -> None:
    schema = unique_schema()
    async with (
        open_postgres_store(postgres_dsn, schema=schema) as first,
        open_postgres_store(postgres_dsn, schema=schema) as second,
    ):
        seen: list[Notification] = []
        second.set_notification_handler(seen.append)
        await first.add_jobs([Job.from_func(FN, scheduled_at=T0)])
        assert await terminate_other_backends(postgres_dsn) >= 4
        # The next statement finds its pooled connection dead, and retries on a new one.
        assert len(await first.get_jobs()) == 1
        # The listener reconnects and wakes both loops: notifications may have been lost.
        await wait_until(lambda: {"tasks", "jobs"} <= {n.kind for n in seen})
        assert second._listener is not None
        await wait_until(second._listener.connected.is_set)
        seen.clear()
        await first.add_jobs([Job.from_func(FN, scheduled_at=T0)])
        await wait_until(lambda: [n.kind for n in seen] == ["jobs"])


async def test_a_server_restart_is_survived(postgres_cluster: PostgresCluster) -> None:
    if not postgres_cluster.throwaway:
        pytest.skip("restarts the server: needs the throwaway cluster")
    async with open_postgres_store(postgres_cluster.dsn, max_size=4) as store:
        seen: list[Notification] = []
        store.set_notification_handler(seen.append)
        await asyncio.gather(*(store.get_jobs() for _ in range(4)))  # four pooled connections
        await store.add_jobs([Job.from_func(FN, scheduled_at=T0)])
        await anyio.to_thread.run_sync(postgres_cluster.stop)
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError):
                await store.get_jobs()
            assert time.monotonic() - started < 2, "a server that is down is reported at once"
        finally:
            await anyio.to_thread.run_sync(postgres_cluster.start)
        # Every pooled connection died with the server; the next call still succeeds.
        assert len(await store.get_jobs()) == 1
        assert len(await asyncio.gather(*(store.get_jobs() for _ in range(4)))) == 4
        await wait_until(lambda: {"tasks", "jobs"} <= {n.kind for n in seen}, timeout=20)
