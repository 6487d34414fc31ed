"""`PostgresStore`: the durable store that many processes share (psycopg 3 async + pool)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection, conninfo, errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from asyncz_queue.exceptions import (
    ConfigurationError,
    ConflictIdError,
    JobLookupError,
    StoreUnavailableError,
    TaskLookupError,
)
from asyncz_queue.jobs import WAITING_STATES, Job, JobError, JobState
from asyncz_queue.serializers import Serializer
from asyncz_queue.stores.base import Acquired, BaseStore, FireResult, Notification
from asyncz_queue.stores.postgres import migrator
from asyncz_queue.stores.postgres.channel import JOBS, TASKS, Listener, channel_name, pack_events
from asyncz_queue.stores.postgres.codec import Codec
from asyncz_queue.stores.postgres.dsn import mask_dsn, scrub
from asyncz_queue.stores.postgres.sql import Statements
from asyncz_queue.tasks import Task

logger = logging.getLogger("asyncz_queue.stores.postgres")

T = TypeVar("T")
Row = tuple[Any, ...]
Connection = AsyncConnection[Row]

#: How many expired jobs one rescue transaction handles.
RESCUE_BATCH = 500


class PostgresStore(BaseStore):
    """Tasks and jobs in PostgreSQL, shared safely by any number of processes.

    Arguments:
        dsn: a libpq connection string or URL. It is never shown with its password
            (`store.dsn` is the masked form).
        schema: the Postgres schema holding the tables (created by `migrate()`).
        min_size, max_size: bounds of the connection pool.
        serializer: `"json"` (default) or `"pickle"` (opt-in: loading a pickle runs code).
        listen: LISTEN for other processes' changes and events on one extra connection;
            False for poolers without LISTEN support (then only polling finds changes).
        poll_interval: seconds between looks at the database without a notification.
        timeout: seconds to wait for a connection before `StoreUnavailableError`.

    `start()` raises `StoreUnavailableError` (wrong DSN or password, server down) and
    `SchemaVersionError` (schema missing, older or newer than this code).
    """

    broadcasts = True

    def __init__(
        self,
        dsn: str,
        schema: str = "asyncz_queue",
        min_size: int = 1,
        max_size: int = 10,
        serializer: str | Serializer = "json",
        listen: bool = True,
        poll_interval: float = 2.0,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(serializer)
        _check_options(dsn, schema, min_size, max_size, poll_interval, timeout)
        self._dsn = dsn
        #: The DSN without its password: safe to log.
        self.dsn = mask_dsn(dsn)
        self.schema = schema
        self.min_size = min_size
        self.max_size = max_size
        self.listen = listen
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.channel = channel_name(schema)
        self.identity: str | None = None
        self._sql = Statements.for_schema(schema)
        self._codec = Codec(self.serializer)
        self._sender = secrets.token_hex(6)
        self._wake_jobs = f"j:{self._sender}"
        self._wake_tasks = f"t:{self._sender}"
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._listener: Listener | None = None
        self._outbox: list[dict[str, Any]] = []
        self._sending: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<PostgresStore {self.dsn!r} schema={self.schema!r}>"

    # ---- lifecycle -------------------------------------------------------------------

    async def connect(self) -> Connection:
        """A new autocommit connection outside the pool; `StoreUnavailableError` on failure."""
        try:
            async with asyncio.timeout(self.timeout):
                return await AsyncConnection.connect(self._dsn, autocommit=True)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            reason = scrub(str(exc), self._dsn) or type(exc).__name__
            raise StoreUnavailableError(
                f"cannot connect to PostgreSQL ({self.dsn}): {reason}"
            ) from None

    async def migrate(self) -> None:
        """Create or upgrade the schema; idempotent, and safe with several processes."""
        async with await self.connect() as conn:
            applied = await migrator.migrate(conn, self.schema)
        if applied:
            logger.info("migrated schema %r to version %d", self.schema, applied[-1])

    async def start(self, identity: str) -> None:
        self.identity = identity
        async with await self.connect() as conn:
            await migrator.check_version(conn, self.schema)
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self._dsn,
            min_size=self.min_size,
            max_size=self.max_size,
            kwargs={"autocommit": True},
            open=False,
            timeout=self.timeout,
            name=f"asyncz_queue:{self.schema}",
        )
        try:
            await pool.open(wait=True, timeout=self.timeout)
            if self.listen:
                self._listener = Listener(
                    self.connect, self.channel, self._sender, identity, self.notify,
                    health_interval=self.poll_interval,
                )  # fmt: skip
                await self._listener.start()
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, PoolTimeout):
                raise StoreUnavailableError(f"cannot open connections to {self.dsn}") from None
            raise
        self._pool = pool

    async def shutdown(self) -> None:
        if self._sending is not None:
            with contextlib.suppress(Exception):
                await self._sending
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    # ---- running statements ------------------------------------------------------------

    async def _run(self, op: Callable[[Connection], Awaitable[T]], retry: bool = True) -> T:
        """Run `op` on a pooled connection.

        A connection found dead (a restarted server) is replaced and `op` retried once
        when `retry` (every operation but the two whose retry would misreport); a
        deadlock victim is retried too. Raises `StoreUnavailableError` when the database
        cannot be reached.
        """
        pool = self._pool
        if pool is None:
            raise StoreUnavailableError(f"the store {self.dsn} is not started")
        for attempt in range(3):
            try:
                async with pool.connection() as conn:
                    return await op(conn)
            except errors.TransactionRollback:
                if attempt == 2:
                    raise
            except psycopg.OperationalError as exc:
                if not retry or attempt > 0:
                    raise StoreUnavailableError(
                        f"lost the connection to {self.dsn}: {scrub(str(exc), self._dsn)}"
                    ) from exc
            except PoolTimeout:
                raise StoreUnavailableError(
                    f"no connection to {self.dsn} within {self.timeout} s"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetch(self, query: bytes, params: dict[str, Any], retry: bool = True) -> list[Row]:
        async def op(conn: Connection) -> list[Row]:
            cur = await conn.execute(query, params)
            return await cur.fetchall() if cur.description is not None else []

        return await self._run(op, retry)

    def _wake(self, wake: str) -> dict[str, Any]:
        return {"channel": self.channel, "wake": wake}

    # ---- events between processes --------------------------------------------------------

    async def publish(self, payload: dict[str, Any]) -> None:
        """Queue an event for the other processes; sent in batches, oversized ones cut.

        Returns once the batch holding it is sent. Best effort: when the database is away,
        the event is dropped and a warning logged (subscribers here already got it).
        """
        self._outbox.append(payload)
        if self._sending is None or self._sending.done():
            self._sending = asyncio.get_running_loop().create_task(self._send_events())
        await asyncio.shield(self._sending)

    async def _send_events(self) -> None:
        await asyncio.sleep(0)  # let the events of the same moment join this batch
        while self._outbox:
            batch, self._outbox = self._outbox, []
            try:
                await self._notify_many(pack_events(batch))
            except Exception as exc:
                logger.warning("could not send %d event(s) to other processes: %s", len(batch), exc)

    async def _notify_many(self, messages: list[str]) -> None:
        params = {"channel": self.channel, "payloads": messages}
        await self._fetch(self._sql.NOTIFY_MANY, params)

    async def request_cancel(self, job_id: str) -> None:
        """Ask every process (this one at once, the others over NOTIFY) to stop `job_id`."""
        self.notify(Notification("cancel", {"job_id": job_id}))
        await self._notify_many([f"c:{self._sender}:{job_id}"])

    # ---- tasks -----------------------------------------------------------------------

    async def add_task(self, task: Task, replace_existing: bool = False) -> None:
        params = self._codec.task_params(task) | self._wake(self._wake_tasks)
        query = self._sql.UPSERT_TASK if replace_existing else self._sql.INSERT_TASK
        # Not retried: a retry after a commit whose reply was lost would report a conflict.
        if not await self._fetch(query, params, retry=replace_existing):
            raise ConflictIdError(task.id)
        self.notify(TASKS)

    async def update_task(self, task: Task) -> None:
        params = self._codec.task_params(task) | self._wake(self._wake_tasks)
        if not await self._fetch(self._sql.UPDATE_TASK, params):
            raise TaskLookupError(task.id)
        self.notify(TASKS)

    async def get_task(self, task_id: str) -> Task:
        rows = await self._fetch(self._sql.GET_TASK, {"id": task_id})
        if not rows:
            raise TaskLookupError(task_id)
        return self._codec.decode_task(rows[0])

    async def get_tasks(self) -> list[Task]:
        rows = await self._fetch(self._sql.GET_TASKS, {})
        return [self._codec.decode_task(row) for row in rows]

    async def delete_task(self, task_id: str) -> None:
        if not await self._fetch(self._sql.DELETE_TASK, {"id": task_id}, retry=False):
            raise TaskLookupError(task_id)

    async def remove_all_tasks(self) -> None:
        await self._fetch(self._sql.DELETE_ALL_TASKS, {})

    async def get_next_run_time(self) -> datetime | None:
        rows = await self._fetch(self._sql.NEXT_RUN_TIME, {})
        return rows[0][0] if rows else None

    async def acquire_tasks(
        self, scheduler_id: str, now: datetime, limit: int, lease_seconds: float
    ) -> list[Task]:
        params = {
            "owner": scheduler_id,
            "now": now,
            "limit": limit,
            "lease_until": now + timedelta(seconds=lease_seconds),
        }
        tasks = [
            self._codec.decode_task(row)
            for row in await self._fetch(self._sql.ACQUIRE_TASKS, params)
        ]
        tasks.sort(key=lambda t: (t.next_run_time, t.id))
        return tasks

    async def release_tasks(self, scheduler_id: str, results: Sequence[FireResult]) -> list[Job]:
        if not results:
            return []
        jobs = [job for result in results for job in result.jobs]
        params = self._codec.job_columns(jobs) | self._wake(self._wake_jobs)
        params["owner"] = scheduler_id
        params["task_ids"] = [result.task.id for result in results]
        params["next_run_times"] = [result.next_run_time for result in results]
        rows = await self._fetch(self._sql.RELEASE_TASKS, params)
        ids = set(rows[0][0]) if rows else set()
        inserted = [job for job in jobs if job.id in ids]
        if inserted:
            self.notify(JOBS)
        return inserted

    # ---- jobs ------------------------------------------------------------------------

    async def add_jobs(self, jobs: Sequence[Job]) -> list[Job]:
        if not jobs:
            return []
        stored: list[Job | None] = [None] * len(jobs)
        pending = list(range(len(jobs)))
        inserted_any = False
        # A holder that finishes between our insert and our look-up frees its key: insert
        # again. Bounded, as each round needs another job to take the key meanwhile.
        for _ in range(5):
            batch = [jobs[i] for i in pending]
            params = self._codec.job_columns(batch) | self._wake(self._wake_jobs)
            rows = await self._fetch(self._sql.ADD_JOBS, params)
            ids = set(rows[0][0]) if rows else set()
            for i in pending:
                if jobs[i].id in ids:
                    stored[i] = jobs[i]
                    inserted_any = True
            pending = [i for i in pending if stored[i] is None]
            if not pending:
                break
            await self._fill_holders(jobs, pending, stored)
            pending = [i for i in pending if stored[i] is None]
            if not pending:
                break
        if inserted_any:
            self.notify(JOBS)
        if pending:
            raise StoreUnavailableError("could not store jobs: their unique keys kept changing")
        return [job for job in stored if job is not None]

    async def _fill_holders(
        self, jobs: Sequence[Job], pending: list[int], stored: list[Job | None]
    ) -> None:
        """Put, for each job kept out, the stored job holding its id, unique key or fire."""
        missing = [jobs[i] for i in pending]
        fires = [job for job in missing if job.task_id is not None]
        params = {
            "ids": [job.id for job in missing],
            "keys": [job.unique_key for job in missing if job.unique_key is not None],
            "task_ids": [job.task_id for job in fires],
            "scheduled_ats": [job.scheduled_at for job in fires],
        }
        holders = [
            self._codec.decode_job(row) for row in await self._fetch(self._sql.FIND_HOLDERS, params)
        ]
        by_id = {job.id: job for job in holders}
        by_key = {
            job.unique_key: job
            for job in holders
            if job.unique_key is not None and not job.state.finished
        }
        by_fire = {
            (job.task_id, job.scheduled_at): job for job in holders if job.task_id is not None
        }
        for i in pending:
            job = jobs[i]
            stored[i] = (
                by_id.get(job.id)
                or (by_key.get(job.unique_key) if job.unique_key is not None else None)
                or by_fire.get((job.task_id, job.scheduled_at))
            )

    async def get_job(self, job_id: str) -> Job:
        rows = await self._fetch(self._sql.GET_JOB, {"id": job_id})
        if not rows:
            raise JobLookupError(job_id)
        return self._codec.decode_job(rows[0])

    async def get_jobs(
        self, state: JobState | None = None, task_id: str | None = None, limit: int = 100
    ) -> list[Job]:
        statements = self._sql
        if state is None:
            query = statements.GET_JOBS if task_id is None else statements.GET_JOBS_BY_TASK
        elif task_id is None:
            query = statements.GET_JOBS_BY_STATE
        else:
            query = statements.GET_JOBS_BY_STATE_AND_TASK
        params = {"state": None if state is None else JobState(state).value, "task_id": task_id}
        rows = await self._fetch(query, params | {"limit": limit})
        return [self._codec.decode_job(row) for row in rows]

    async def get_next_job_time(self, executors: Sequence[str]) -> datetime | None:
        if not executors:
            return None
        rows = await self._fetch(self._sql.NEXT_JOB_TIME, {"executors": list(executors)})
        return rows[0][0] if rows else None

    async def acquire_jobs(
        self, worker_id: str, limits: dict[str, int], now: datetime, lease_seconds: float
    ) -> Acquired:
        aliases = [alias for alias, limit in limits.items() if limit > 0]
        if not aliases:
            return Acquired()
        params = {
            "executors": aliases,
            "limits": [limits[alias] for alias in aliases],
            "now": now,
            "worker_id": worker_id,
            "lease_until": now + timedelta(seconds=lease_seconds),
        }
        rows = await self._fetch(self._sql.ACQUIRE_JOBS, params)
        order = {alias: i for i, alias in enumerate(aliases)}
        rows.sort(key=lambda row: (order[row[5]], row[6], row[16], row[27]))
        acquired = Acquired()
        for row in rows:
            job = self._codec.decode_job(row)
            (acquired.jobs if job.state is JobState.RUNNING else acquired.skipped).append(job)
        return acquired

    async def complete_jobs(self, worker_id: str, jobs: Sequence[Job]) -> list[Job]:
        if not jobs:
            return []
        written = await self._write_outcomes(None, jobs, [worker_id] * len(jobs))
        if any(job.state in WAITING_STATES for job in written):
            self.notify(JOBS)
        return written

    async def _write_outcomes(
        self, conn: Connection | None, jobs: Sequence[Job], fences: Sequence[str | None]
    ) -> list[Job]:
        params = self._codec.outcome_columns(jobs, fences) | self._wake(self._wake_jobs)
        if conn is None:
            rows = await self._fetch(self._sql.COMPLETE_JOBS, params)
        else:
            rows = await (await conn.execute(self._sql.COMPLETE_JOBS, params)).fetchall()
        ids = set(rows[0][0] or ()) if rows else set()
        return [job for job in jobs if job.id in ids]

    async def extend_leases(
        self, worker_id: str, job_ids: Sequence[str], lease_until: datetime
    ) -> list[str]:
        if not job_ids:
            return []
        params = {"ids": list(job_ids), "worker_id": worker_id, "lease_until": lease_until}
        held = {row[0] for row in await self._fetch(self._sql.EXTEND_LEASES, params)}
        return [job_id for job_id in job_ids if job_id in held]

    async def rescue_jobs(self, now: datetime) -> list[Job]:
        rescued: list[Job] = []
        while True:
            batch, more = await self._run(lambda conn: self._rescue_batch(conn, now))
            rescued += batch
            if not more:
                break
        if rescued:
            self.notify(JOBS)
        return rescued

    async def _rescue_batch(self, conn: Connection, now: datetime) -> tuple[list[Job], bool]:
        """One transaction: lock expired running jobs, write each one's next state."""
        async with conn.transaction():
            params = {"now": now, "limit": RESCUE_BATCH}
            rows = await (await conn.execute(self._sql.EXPIRED_JOBS, params)).fetchall()
            if not rows:
                return [], False
            lost = [self._codec.decode_job(row) for row in rows]
            after: list[Job] = []
            for job in lost:
                error = JobError.lost(f"the lease of worker {job.worker_id} ran out")
                changed = job.after_failure(error, now)
                if changed.state is not JobState.FAILED:
                    changed = changed.evolve(scheduled_at=now)
                after.append(changed)
            written = await self._write_outcomes(conn, after, [job.worker_id for job in lost])
        return written, len(rows) == RESCUE_BATCH

    async def cancel_job(self, job_id: str, now: datetime) -> Job:
        rows = await self._fetch(self._sql.CANCEL_JOB, {"id": job_id, "now": now})
        if not rows:
            raise JobLookupError(job_id)
        return self._codec.decode_job(rows[0])

    async def prune_jobs(self, finished_before: datetime, limit: int = 1000) -> int:
        async def op(conn: Connection) -> int:
            params = {"before": finished_before, "limit": limit}
            cur = await conn.execute(self._sql.PRUNE_JOBS, params)
            return max(cur.rowcount, 0)

        return await self._run(op)


def _check_options(
    dsn: str, schema: str, min_size: int, max_size: int, poll_interval: float, timeout: float
) -> None:
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
    if poll_interval <= 0 or timeout <= 0:
        raise ConfigurationError("options 'poll_interval' and 'timeout' must be positive")
