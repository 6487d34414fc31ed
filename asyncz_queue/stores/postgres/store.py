"""`PostgresStore`: the durable store that many processes share (psycopg 3 async + pool)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from asyncz_queue.events import SchedulerEvent
from asyncz_queue.events.constants import JOB_PUSHED
from asyncz_queue.exceptions import (
    JobLookupError,
    StoreUnavailableError,
)
from asyncz_queue.jobs import WAITING_STATES, Job, JobError, JobState, utcnow
from asyncz_queue.serializers import Serializer
from asyncz_queue.stores.base import Acquired, BaseStore, Notification
from asyncz_queue.stores.postgres import migrator
from asyncz_queue.stores.postgres.channel import (
    JOBS,
    Listener,
    Outbox,
    channel_name,
    pack_job_events,
)
from asyncz_queue.stores.postgres.codec import NEW_JOB_COPY_TYPES, NEW_JOB_NAMES, Codec
from asyncz_queue.stores.postgres.database import (
    Connection,
    Database,
    Row,
    check_options,
    rows_of,
)
from asyncz_queue.stores.postgres.dsn import mask_dsn
from asyncz_queue.stores.postgres.statements import Statements
from asyncz_queue.stores.postgres.task_methods import TaskMethods

logger = logging.getLogger("asyncz_queue.stores.postgres")

#: How many claims whose replies were lost a store remembers, to take their jobs back.
LOST_CLAIMS = 100

#: How many expired jobs one rescue transaction handles.
RESCUE_BATCH = 500
#: From this many jobs on, a push of plain jobs (no task, no unique key) outside the caller's
#: transaction is stored with COPY: about twice the rows per second of the insert, which pays
#: for its extra round trips (BEGIN, COMMIT) past a few hundred jobs.
COPY_AT = 200

Fetch = Callable[[bytes, dict[str, Any]], Awaitable[list[Row]]]


def _plain(jobs: Sequence[Job]) -> bool:
    """Whether every job is new and on its own, as `Job.from_func` builds it: no task (whose
    fire is unique) nor unique key, so it can collide with a stored job only by its id, and
    nothing of a life yet. Such jobs fill only the columns of `NEW_JOB_NAMES`."""
    return all(
        job.task_id is None
        and job.unique_key is None
        and job.max_instances is None
        and job.started_at is None
        and job.completed_at is None
        and job.worker_id is None
        and job.lease_until is None
        and job.result is None
        and job.error_type is None
        and job.error is None
        and not job.errors
        for job in jobs
    )


def _unclaimed(job: Job) -> Job:
    """A job handed over and never started, as it was pushed: waiting, leased to nobody."""
    return job.evolve(state=JobState.PENDING, worker_id=None, lease_until=None)


def _fetch_on(connection: Any) -> Fetch:
    """`Database.fetch` on the caller's own connection (inside its transaction)."""
    if not isinstance(connection, psycopg.AsyncConnection):
        raise TypeError(
            f"connection must be a psycopg AsyncConnection, got {type(connection).__name__}"
        )

    async def fetch(query: bytes, params: dict[str, Any]) -> list[Row]:
        async with connection.cursor(row_factory=tuple_row) as cur:
            await cur.execute(query, params)
            return await rows_of(cur)

    return fetch


class PostgresStore(TaskMethods, BaseStore):
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
        check_options(dsn, schema, min_size, max_size, poll_interval, timeout)
        self._dsn = dsn
        #: The DSN without its password: safe to log.
        self.dsn = mask_dsn(dsn)
        self.schema = schema
        self.min_size = min_size
        self.max_size = max_size
        self.listen = listen
        self.poll_interval: float = poll_interval
        self.timeout = timeout
        self.channel = channel_name(schema)
        self.identity: str | None = None
        # The lease of the jobs handed to this worker, once its claims offered free slots
        # (None until then): they are withdrawn at shutdown.
        self._offered_lease: timedelta | None = None
        # (worker id, time, lease's end) of claims whose replies were lost (see `_reclaim`).
        self._lost_claims: list[tuple[str, datetime, datetime]] = []
        self._redelivery: asyncio.Task[None] | None = None
        self._sql = Statements.for_schema(schema)
        self._copy_statement = sql.SQL("COPY {}.jobs ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(schema), sql.SQL(", ").join(map(sql.Identifier, NEW_JOB_NAMES))
        )
        self._codec = Codec(self.serializer)
        self._sender = secrets.token_hex(6)
        self._wake_jobs = f"j:{self._sender}"
        self._wake_tasks = f"t:{self._sender}"
        self._db = Database(dsn, min_size, max_size, timeout, f"asyncz_queue:{schema}")
        self._listener: Listener | None = None
        self._outbox = Outbox(self._notify_many, self._sender)

    def __repr__(self) -> str:
        return f"<PostgresStore {self.dsn!r} schema={self.schema!r}>"

    # ---- lifecycle -------------------------------------------------------------------

    async def connect(self) -> Connection:
        """A new autocommit connection outside the pool; `StoreUnavailableError` on failure."""
        return await self._db.connect()

    async def migrate(self) -> None:
        """Create or upgrade the schema; idempotent, and safe with several processes."""
        async with await self.connect() as conn:
            applied = await migrator.migrate(conn, self.schema)
        if applied:
            logger.info("migrated schema %r to version %d", self.schema, applied[-1])

    async def start(self, identity: str) -> None:
        self.identity = self._outbox.identity = identity
        async with await self.connect() as conn:
            await migrator.check_version(conn, self.schema)
        await self._db.open()
        if self.listen:
            listener = Listener(
                self.connect, self.channel, self._sender, identity, self._on_channel,
                health_interval=self.poll_interval, wants=self.wants_event,
                reconnected=self._on_reconnect,
            )  # fmt: skip
            try:
                await listener.start()
            except BaseException:
                await self._db.close()
                raise
            self._listener = listener

    async def shutdown(self) -> None:
        await self._outbox.drain()
        if self._redelivery is not None:
            self._redelivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._redelivery
        if self._offered_lease is not None:
            self._offered_lease = None
            try:
                await self._db.fetch(self._sql.WITHDRAW_OFFERS, {"worker_id": self.identity})
            except (psycopg.Error, StoreUnavailableError) as exc:  # they lapse on their own
                logger.warning("could not withdraw the offers of this worker: %s", exc)
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        await self._db.close()

    # ---- events between processes --------------------------------------------------------

    def publish(self, event: SchedulerEvent) -> None:
        """Send an event to the other processes, in a batch with the events of the same
        moment; oversized fields are cut. Returns at once: sending is best effort (while the
        database is away events are dropped with a warning; local subscribers have them)."""
        self._outbox.post(event)

    def publish_job(self, code: int, job: Job, identity: str) -> None:
        """`publish` the event `code` about `job` as it is now: sent as a short row."""
        self._outbox.post_job(code, job)

    async def _notify_many(self, messages: list[str]) -> None:
        params = {"channel": self.channel, "payloads": messages}
        await self._db.fetch(self._sql.NOTIFY_MANY, params)

    async def request_cancel(self, job_id: str) -> None:
        """Ask every process (this one at once, the others over NOTIFY) to stop `job_id`."""
        self.notify(Notification("cancel", {"job_id": job_id}))
        await self._notify_many([f"c:{self._sender}:{job_id}"])

    # ---- jobs ------------------------------------------------------------------------

    async def add_jobs(
        self, jobs: Sequence[Job], connection: Any = None, announce: bool = False
    ) -> list[Job]:
        """Store pending jobs (see `BaseStore.add_jobs`).

        With `connection` (a psycopg `AsyncConnection`), the jobs are written in the caller's
        transaction: they exist, and workers anywhere are woken and hear them announced,
        only when it commits. The announcement rides on the insert statement itself when
        every job is inserted (the usual case); otherwise that of the inserted jobs follows.
        """
        if not jobs:
            return []
        fetch: Fetch = self._db.fetch
        sender = self._sender
        if connection is not None:
            # No sender: the commit wakes this process too (the events of its own
            # scheduler it ignores: it delivered them here already).
            fetch, sender = _fetch_on(connection), ""
        wake = f"j:{sender}"
        if len(jobs) == 1 and _plain(jobs):
            # Handed over only outside the caller's transaction: inside, the offer taken
            # would stay locked (and its worker's next claim wait) until the caller commits.
            rows = await self._add_new_job(
                fetch, jobs[0], sender if announce else None, wake, connection is None
            )
            if rows:
                if connection is None and rows[0][0] is None:
                    self.notify(JOBS)
                return list(jobs)
            # Its id is taken: the insert below finds the job that holds it.
        elif connection is None and len(jobs) >= COPY_AT and _plain(jobs):
            try:
                await self._copy_jobs(jobs, announce)
            except psycopg.errors.UniqueViolation:
                pass  # an id is taken already: the insert below sorts out which
            else:
                self.notify(JOBS)
                return list(jobs)
        messages = self._pushed(jobs, sender) if announce else []
        stored: list[Job | None] = [None] * len(jobs)
        pending = list(range(len(jobs)))
        inserted_any = False
        announced = not announce
        # A holder that finishes between our insert and our look-up frees its key: insert
        # again. Bounded, as each round needs another job to take the key meanwhile.
        for attempt in range(5):
            params = self._codec.job_columns([jobs[i] for i in pending]) | self._wake(wake)
            # The announcement goes out with the first insert if it stores every job.
            params["announce"] = [] if attempt else messages
            params["expected"] = len(jobs)
            rows = await fetch(self._sql.ADD_JOBS, params)
            ids = set(rows[0][0]) if rows else set()
            announced = announced or (attempt == 0 and len(ids) == len(jobs))
            for i in pending:
                if jobs[i].id in ids:  # the first job with that id: a later one found it
                    ids.discard(jobs[i].id)
                    stored[i] = jobs[i]
                    inserted_any = True
            pending = [i for i in pending if stored[i] is None]
            if pending:
                await self._fill_holders(fetch, jobs, pending, stored)
                pending = [i for i in pending if stored[i] is None]
            if not pending:
                break
        if inserted_any and connection is None:
            self.notify(JOBS)
        if pending:
            raise StoreUnavailableError("could not store jobs: their unique keys kept changing")
        if not announced:
            own = [job for job, kept in zip(jobs, stored, strict=True) if kept is job]
            if own:
                params = {"channel": self.channel, "payloads": self._pushed(own, sender)}
                await fetch(self._sql.NOTIFY_MANY, params)
        return [job for job in stored if job is not None]

    async def _add_new_job(
        self, fetch: Fetch, job: Job, announce_as: str | None, wake: str, hand_over: bool
    ) -> list[Row]:
        """Insert one plain job with `ADD_NEW_JOB` (the usual push): no rows when its id is
        taken, else one holding the worker it was handed to (None: it waits to be claimed).
        Inserted, it is announced as pushed by `announce_as`; not handed over nor announced,
        `wake` is sent. With `hand_over`, the job may go to an idle worker's offer when it
        is due now."""
        row = self._codec.new_job_row(job)
        params = dict(zip(NEW_JOB_NAMES, row, strict=True))
        params["channel"] = self.channel
        if announce_as is None:
            params["payloads"], params["wake"] = [], wake
        else:
            params["payloads"], params["wake"] = self._pushed([job], announce_as), None
        due = hand_over and job.scheduled_at <= utcnow()
        params["handoff"] = self._codec.handoff(row) if due else None
        return await fetch(self._sql.ADD_NEW_JOB, params)

    async def _copy_jobs(self, jobs: Sequence[Job], announce: bool) -> None:
        """Store `jobs` with COPY and wake the workers (announcing the jobs, or not), in one
        transaction: all of them, or none and `UniqueViolation` when an id is taken.

        The jobs are announced one by one only when a live process other than this one
        listens for `JOB_PUSHED` (by its heartbeat): a push of 10,000 would send a megabyte
        of notifications for nobody, and cost a third of the push. A process that starts
        listening while the push runs may miss it. The rows are encoded as they are sent,
        and the announcement built while the server takes the last of them: the two sides
        work at once. A value that cannot be stored raises `SerializationError` midway, and
        the transaction stores nothing.
        """
        encode = self._codec.new_job_row

        async def op(conn: Connection) -> None:
            async with conn.transaction(), conn.cursor() as cur:
                heard = announce and await self._listened(cur, JOB_PUSHED)
                async with cur.copy(self._copy_statement) as copy:
                    copy.set_types(NEW_JOB_COPY_TYPES)
                    for job in jobs:
                        await copy.write_row(encode(job))
                    payloads = self._pushed(jobs, self._sender) if heard else [self._wake_jobs]
                params = {"channel": self.channel, "payloads": payloads}
                await cur.execute(self._sql.NOTIFY_MANY, params)

        await self._db.run(op)

    async def _listened(self, cursor: psycopg.AsyncCursor[Row], codes: int) -> bool:
        """Whether a live process other than this one listens for any of `codes`."""
        params = {"identity": self.identity or "", "now": utcnow(), "codes": codes}
        await cursor.execute(self._sql.LISTENED, params)
        row = await cursor.fetchone()
        return bool(row and row[0])

    def _pushed(self, jobs: Sequence[Job], sender: str) -> list[str]:
        return pack_job_events(JOB_PUSHED, jobs, self.identity or "", sender)

    async def _fill_holders(
        self, fetch: Fetch, jobs: Sequence[Job], pending: list[int], stored: list[Job | None]
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
            self._codec.decode_job(row) for row in await fetch(self._sql.FIND_HOLDERS, params)
        ]
        by_id = {job.id: job for job in holders}
        by_key = {
            job.unique_key: job
            for job in holders
            if job.unique_key is not None and not job.state.finished
        }
        by_fire: dict[tuple[str | None, datetime], Job] = {
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
        rows = await self._db.fetch(self._sql.GET_JOB, {"id": job_id})
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
        rows = await self._db.fetch(query, params | {"limit": limit})
        return [self._codec.decode_job(row) for row in rows]

    async def get_next_job_time(self, executors: Sequence[str]) -> datetime | None:
        if not executors:
            return None
        rows = await self._db.fetch(self._sql.NEXT_JOB_TIME, {"executors": list(executors)})
        return rows[0][0] if rows else None

    async def acquire_jobs(
        self, worker_id: str, limits: dict[str, int], now: datetime, lease_seconds: float
    ) -> Acquired:
        aliases = [alias for alias, limit in limits.items() if limit > 0]
        if not aliases:
            return Acquired()
        lease = timedelta(seconds=lease_seconds)
        params = {
            "executors": aliases,
            "limits": [limits[alias] for alias in aliases],
            "now": now,
            "worker_id": worker_id,
            "lease_until": now + lease,
            "lease": lease,
            "offer_for": self._offer_for(worker_id, lease),
        }
        # Not retried: the claim may have committed before its reply was lost, and a retry
        # would not see what it took. The next claim takes that back first.
        rows = await self._reclaim(worker_id)
        try:
            rows += await self._db.fetch(self._sql.ACQUIRE_JOBS, params, retry=False)
        except StoreUnavailableError:
            # The last ones only: while the server is away every round adds one, and a
            # claim older than a lease is rescued anyway.
            self._lost_claims = [*self._lost_claims[-LOST_CLAIMS:], (worker_id, now, now + lease)]
            raise
        order = {alias: i for i, alias in enumerate(aliases)}
        rows.sort(key=lambda row: (order[row[5]], row[6], row[16], row[27]))
        acquired = Acquired()
        broken: list[Job] = []
        for row in rows:
            job = self._load(row, now, broken)
            if job is not None:
                (acquired.jobs if job.state is JobState.RUNNING else acquired.skipped).append(job)
        if broken:  # they never reach the worker: fail them now, under its lease
            await self._write_outcomes(None, broken, [worker_id] * len(broken))
        return acquired

    async def _reclaim(self, worker_id: str) -> list[Row]:
        """The jobs of this worker's claims whose replies were lost, still running under it
        and never started: it starts them now (the lease it took runs on)."""
        lost = [claim for claim in self._lost_claims if claim[0] == worker_id]
        if not lost:
            return []
        params = {
            "worker_id": worker_id,
            "started": [claim[1] for claim in lost],
            "leases": [claim[2] for claim in lost],
        }
        rows = await self._db.fetch(self._sql.CLAIMED_JOBS, params)
        self._lost_claims = [claim for claim in self._lost_claims if claim[0] != worker_id]
        if rows:
            logger.warning(
                "took back %d job(s) of a claim whose reply was lost: %s",
                len(rows), ", ".join(sorted(row[0] for row in rows)),
            )  # fmt: skip
        return rows

    def _offer_for(self, worker_id: str, lease: timedelta) -> timedelta | None:
        """How long the slots a claim leaves free are offered to pushers: until two polls
        from now (an idle worker claims at every poll, and so renews its offer); None (no
        offer) while this process cannot hear a hand-over, or claims for another worker."""
        listener = self._listener
        if listener is None or not listener.connected.is_set() or worker_id != self.identity:
            return None
        self._offered_lease = lease
        return timedelta(seconds=2 * self.poll_interval)

    def _on_reconnect(self) -> None:
        """The listener is back: hand-overs sent while it was away never arrived. Deliver
        them again, from the jobs still waiting unconfirmed under this worker's lease."""
        if self._offered_lease is not None and self._redelivery is None:
            self._redelivery = asyncio.get_running_loop().create_task(self._redeliver())

    async def _redeliver(self) -> None:
        params = {"worker_id": self.identity, "lease": self._offered_lease}
        try:
            rows = await self._db.fetch(self._sql.REDELIVER_HANDOFFS, params)
        except (psycopg.Error, StoreUnavailableError) as exc:  # their leases run out
            logger.warning("could not look for hand-overs missed while not listening: %s", exc)
            rows = []
        finally:
            self._redelivery = None
        for row in rows:
            try:
                job = self._codec.decode_job(row)
            except Exception as exc:
                logger.error("ignored a hand-over that cannot be read: %s", exc)
                continue
            self.notify(Notification("handoff", {"job": _unclaimed(job)}))

    def _on_channel(self, notification: Notification) -> None:
        """Deliver a channel notification, decoding the job of a hand-over."""
        if notification.kind == "handoff" and notification.payload is not None:
            try:
                job = self._codec.decode_handoff(notification.payload["job"])
            except Exception as exc:  # the lease runs out, and the job waits again
                logger.error("ignored a hand-over that cannot be read: %s", exc)
                return
            notification = Notification("handoff", {"job": job})
        self.notify(notification)

    def _load(self, row: Row, now: datetime, broken: list[Job]) -> Job | None:
        """The job of a claimed row; None for one that cannot be loaded (its failed outcome
        goes to `broken` when it was claimed to run), so that it never blocks the others."""
        try:
            return self._codec.decode_job(row)
        except Exception as exc:
            job = self._codec.stand_in(row)
            logger.error("job %s (%s) cannot be loaded and fails: %s", job.id, job.fn, exc)
            if job.state is JobState.RUNNING:
                message = f"the job cannot be loaded: {exc}"
                broken.append(
                    job.evolve(
                        state=JobState.FAILED,
                        completed_at=now,
                        lease_until=None,
                        error_type="SerializationError",
                        error=message,
                        errors=(*job.errors, f"SerializationError: {message}"),
                    )
                )
            return None

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
            rows = await self._db.fetch(self._sql.COMPLETE_JOBS, params)
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
        held = {row[0] for row in await self._db.fetch(self._sql.EXTEND_LEASES, params)}
        return [job_id for job_id in job_ids if job_id in held]

    async def rescue_jobs(self, now: datetime) -> list[Job]:
        rescued: list[Job] = []
        while True:
            batch, more = await self._db.run(lambda conn: self._rescue_batch(conn, now))
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
            after: list[Job] = []
            for row in rows:
                job = self._load(row, now, after)
                if job is None:
                    continue
                if job.started_at is None:  # handed over, never started: not an attempt
                    after.append(_unclaimed(job))
                    continue
                error = JobError.lost(f"the lease of worker {job.worker_id} ran out")
                changed = job.after_failure(error, now)
                if changed.state is not JobState.FAILED:
                    changed = changed.evolve(scheduled_at=now)
                after.append(changed)
            # Fenced on the lost worker: after_failure clears worker_id of a retry.
            lost = {row[0]: row[20] for row in rows}
            fences = [lost[job.id] for job in after]
            written = await self._write_outcomes(conn, after, fences)
        return written, len(rows) == RESCUE_BATCH

    async def cancel_job(self, job_id: str, now: datetime) -> Job:
        rows = await self._db.fetch(self._sql.CANCEL_JOB, {"id": job_id, "now": now})
        if not rows:
            raise JobLookupError(job_id)
        return self._codec.decode_job(rows[0])

    async def prune_jobs(self, finished_before: datetime, limit: int = 1000) -> int:
        params = {"before": finished_before, "limit": limit}
        [(pruned,)] = await self._db.fetch(self._sql.PRUNE_JOBS, params)
        return int(pruned)
