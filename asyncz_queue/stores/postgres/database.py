"""The store's connections: a pool for statements, fresh connections for everything else.

Written once here so that no store method repeats retry or error-translation code.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection, conninfo, errors, pq
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from asyncz_queue._options import check_seconds
from asyncz_queue.exceptions import (
    ConfigurationError,
    SerializationError,
    StoreUnavailableError,
)
from asyncz_queue.stores.postgres.dsn import mask_dsn, scrub

T = TypeVar("T")
Row = tuple[Any, ...]
Connection = AsyncConnection[Row]


class Database:
    """Connections to one database; errors come out as `StoreUnavailableError` and never
    show the DSN's password."""

    def __init__(self, dsn: str, min_size: int, max_size: int, timeout: float, name: str) -> None:
        self._dsn = dsn
        self.masked_dsn = mask_dsn(dsn)
        self.min_size = min_size
        self.max_size = max_size
        self.timeout = timeout
        self.name = name
        self._pool: AsyncConnectionPool[Connection] | None = None

    def _unavailable(self, what: str, exc: BaseException) -> StoreUnavailableError:
        reason = scrub(str(exc), self._dsn) or type(exc).__name__
        return StoreUnavailableError(f"{what} ({self.masked_dsn}): {reason}")

    async def connect(self) -> Connection:
        """A new autocommit connection outside the pool."""
        try:
            async with asyncio.timeout(self.timeout):
                return await AsyncConnection.connect(self._dsn, autocommit=True)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            raise self._unavailable("cannot connect to PostgreSQL", exc) from None

    async def open(self) -> None:
        """Open the pool and wait for its first `min_size` connections."""
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self._dsn,
            min_size=self.min_size,
            max_size=self.max_size,
            kwargs={"autocommit": True},
            open=False,
            timeout=self.timeout,
            name=self.name,
            configure=_configure,
        )
        try:
            await pool.open(wait=True, timeout=self.timeout)
        except PoolTimeout as exc:
            await pool.close()
            raise self._unavailable("cannot open the connection pool", exc) from None
        self._pool = pool

    async def close(self) -> None:
        """Close the pool (a no-op when it is not open)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def run(self, op: Callable[[Connection], Awaitable[T]], retry: bool = True) -> T:
        """Run `op` on a pooled connection.

        A connection found dead (a restarted server) is dropped and `op` retried once on
        another when `retry`; a deadlock or serialization victim is retried up to twice.
        Raises `StoreUnavailableError` when the database cannot be reached: at once when
        the server is down (so callers can report it and back off), else after `timeout`.
        """
        pool = self._pool
        if pool is None:
            raise StoreUnavailableError(f"the store ({self.masked_dsn}) is not started")
        for attempt in range(3):
            try:
                async with pool.connection() as conn:
                    return await op(conn)
            except errors.TransactionRollback:
                if attempt == 2:
                    raise
            except (errors.CharacterNotInRepertoire, errors.UntranslatableCharacter) as exc:
                raise SerializationError(
                    "a value cannot be stored: PostgreSQL text refuses the NUL character "
                    f"(\\x00) and invalid characters ({exc})"
                ) from None
            except UnicodeEncodeError as exc:
                raise SerializationError(
                    f"a value cannot be stored: it is not valid UTF-8 text ({exc})"
                ) from None
            except errors.ProgramLimitExceeded as exc:  # a key too long to index, say
                reason = exc.diag.message_primary or str(exc)
                raise SerializationError(
                    f"a value cannot be stored: {scrub(reason, self._dsn)} (ids and unique "
                    "keys are indexed, and an index entry holds at most about 2,700 bytes)"
                ) from None
            except psycopg.OperationalError as exc:
                if not _connection_lost(exc):  # the server refused this statement
                    raise self._unavailable("PostgreSQL refused a statement", exc) from exc
                if not retry or attempt > 0:
                    raise self._unavailable("lost the connection to PostgreSQL", exc) from exc
                await self._recover(pool)
            except PoolTimeout as exc:
                raise self._unavailable("no database connection available", exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _recover(self, pool: AsyncConnectionPool[Connection]) -> None:
        """After a dead connection: raise at once if the server is away; otherwise replace
        the pool's other dead connections (after a restart, every idle one is)."""
        probe = await self.connect()
        await probe.close()
        await pool.check()

    async def fetch(self, query: bytes, params: dict[str, Any], retry: bool = True) -> list[Row]:
        """Execute one statement; its rows (none when it returns none)."""

        async def op(conn: Connection) -> list[Row]:
            return await rows_of(await conn.execute(query, params))

        return await self.run(op, retry)


#: Server errors that mean the connection is gone: connection exceptions (class 08), and the
#: server shutting down or not yet accepting connections (57P01-57P03).
_CONNECTION_GONE = ("08", "57P01", "57P02", "57P03")


def _connection_lost(exc: psycopg.OperationalError) -> bool:
    """Whether `exc` says the connection broke (retry on another) rather than that the
    server refused the statement (a retry would fail the same way)."""
    state = exc.sqlstate
    return state is None or state.startswith(_CONNECTION_GONE)


async def rows_of(cursor: psycopg.AsyncCursor[Row]) -> list[Row]:
    """The rows of the statement `cursor` just ran; none when it returns no rows.

    Asks the result's status, not `cursor.description`, which builds a `Column` for every
    column on each call: 58 µs a statement for a job's 28 columns (timeit), against 0.3 µs.
    """
    result = cursor.pgresult
    if result is None or result.status != pq.ExecStatus.TUPLES_OK:
        return []
    return await cursor.fetchall()


async def _configure(conn: Connection) -> None:
    """Prepare each new pooled connection: plan the store's statements once.

    They are prepared and run thousands of times with parameters that do not change their
    best plan, while re-planning the claim costs as much as running it.
    """
    with contextlib.suppress(psycopg.Error):  # before PostgreSQL 12: it plans as it likes
        await conn.execute("SET plan_cache_mode = force_generic_plan")


def check_options(
    dsn: str, schema: str, min_size: int, max_size: int, poll_interval: float, timeout: float
) -> None:
    """Raise `ConfigurationError` naming the first invalid option (the DSN shown masked)."""
    if not isinstance(dsn, str):
        raise ConfigurationError(f"option 'dsn' must be a string, got {type(dsn).__name__}")
    try:
        conninfo.conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        raise ConfigurationError(
            f"option 'dsn' is not a valid connection string ({mask_dsn(dsn)}): "
            f"{scrub(str(exc), dsn)}"
        ) from None
    if not isinstance(schema, str) or not schema or len(schema.encode()) > 63:
        raise ConfigurationError(
            f"option 'schema' must be a non-empty name of at most 63 bytes, got {schema!r}"
        )
    if min_size < 0 or max_size < max(min_size, 1):
        raise ConfigurationError(
            f"options 'min_size' ({min_size}) and 'max_size' ({max_size}) need "
            "0 <= min_size <= max_size and max_size >= 1"
        )
    check_seconds("poll_interval", poll_interval)
    check_seconds("timeout", timeout)
